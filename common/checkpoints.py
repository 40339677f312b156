"""Reading and writing checkpoints in RTVC's wrapper format, plus our optional `hparams` entry.

RTVC files are `{"model_state": sd, "optimizer_state": ...}` (encoder also `step`); ours add `hparams`
so a small model loads with the same code. Weights may be stored in fp16 and are widened on load.
"""
import hashlib
import os
from dataclasses import asdict, fields

import torch


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """Return (state_dict, hparams). hparams is {} when the file carries none (RTVC's own files)."""
    return unpack_checkpoint(torch.load(path, map_location="cpu", weights_only=True), path)


def unpack_checkpoint(ckpt, path: str | os.PathLike = "checkpoint") -> tuple[dict, dict]:
    """(state_dict widened to fp32, hparams) from an already loaded checkpoint."""
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: not a checkpoint dict")  # noqa: TRY004 - callers catch ValueError for bad files
    state = ckpt.get("model_state", ckpt)
    state = {k: (v.float() if v.dtype == torch.float16 else v) for k, v in state.items()}
    return state, dict(ckpt.get("hparams") or {})


def config_from(cls, hparams: dict):
    """Build a hyper-parameter dataclass from a dict, ignoring keys it does not know."""
    names = {f.name for f in fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in hparams.items() if k in names}
    return cls(**kwargs)


def load_model(path: str | os.PathLike, model_cls, config_cls, hparams: dict | None = None):
    """Build `model_cls(config)` from a checkpoint and load its weights strictly, in eval mode.

    Explicit `hparams` win over the file's own; files without any (RTVC's) get the config defaults."""
    state, stored = read_checkpoint(path)
    model = model_cls(config_from(config_cls, hparams or stored))
    model.load_state_dict(state, strict=True)
    return model.eval()


def write_checkpoint(path: str | os.PathLike, model: torch.nn.Module, config, half: bool = False,
                     optimizer: torch.optim.Optimizer | None = None, **extra) -> None:
    state = model.state_dict()
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    ckpt = {"model_state": state, "hparams": asdict(config), **extra}
    if optimizer is not None:
        ckpt["optimizer_state"] = optimizer.state_dict()
    tmp = f"{path}.tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind a crash
