"""What every trainer shares: its common options and the run folder runs/<name>/ (last.pt with the
optimizer for resuming, an fp16 export for the services, log.jsonl, a progress bar, the time limit)."""
import argparse
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from common.checkpoints import config_from, unpack_checkpoint, write_checkpoint


def add_run_args(ap: argparse.ArgumentParser, run: str, lr: float, save_every: int) -> None:
    ap.add_argument("--data", nargs="+", default=["data/prep"],
                    help="preprocessed roots (training.preprocess); 'root:N' repeats a root N times per epoch")
    ap.add_argument("--run", type=Path, default=Path(run))
    ap.add_argument("--init", type=Path, help="start from these weights (the committed default, or RTVC's file)")
    add_loop_args(ap, batch=32, lr=lr, save_every=save_every)
    ap.add_argument("--keep-every", type=int, default=0,
                    help="also keep fp16 weights of every Nth step as runs/<name>/step_<N>.pt, so a fine-tune "
                         "can be judged at several points (0: off)")


def add_loop_args(ap: argparse.ArgumentParser, batch: int, lr: float, save_every: int) -> None:
    """The training loop's own options, the same in every trainer here."""
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--minutes", type=float, default=60.0, help="stop after this much wall time")
    ap.add_argument("--steps", type=int, default=10 ** 9)
    ap.add_argument("--save-every", type=int, default=save_every)
    ap.add_argument("--export", type=Path, help="also write fp16 weights here at every save")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)


class Run:
    """Builds the model from runs/<name>/last.pt, else from --init, else fresh with `small`, on CUDA when
    present; `record` logs a finished step and saves when due."""

    def __init__(self, args, model_cls, config_cls, small, desc: str):
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        args.run.mkdir(parents=True, exist_ok=True)
        self.args, self.last = args, args.run / "last.pt"
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        source = self.last if self.last.exists() else args.init
        self.fresh = source is None
        ckpt = {}
        if self.fresh:
            self.cfg = small
            self.model = model_cls(small)
        else:
            ckpt = torch.load(source, map_location="cpu", weights_only=True)  # once: weights and optimizer
            state, hparams = unpack_checkpoint(ckpt, source)
            self.cfg = config_from(config_cls, hparams) if hparams else config_cls()  # no hparams: RTVC's file
            self.model = model_cls(self.cfg)
            self.model.load_state_dict(state)
        self.model.to(self.device).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr)
        # A new Adam's first updates are ~lr on every weight whatever the gradient: warm its learning rate
        # up again when starting from weights alone (--init, or the committed snapshot), not only at step 0.
        self.optimizer_from = self.step
        if source == self.last and "optimizer_state" in ckpt:
            self.opt.load_state_dict(ckpt["optimizer_state"])  # moves its tensors to the params' device
            self.optimizer_from = 0
        self.deadline = time.time() + args.minutes * 60
        self.log = open(args.run / "log.jsonl", "a")
        self.bar = tqdm(total=min(args.steps, 10 ** 7), initial=self.step, desc=desc, unit="step")

    @property
    def step(self) -> int:
        return int(self.model.step)

    def warmup(self, steps: int = 200) -> float:
        """Learning-rate factor ramping 0 -> 1 over the first `steps` steps of this optimizer."""
        return min(1.0, (self.step - self.optimizer_from + 1) / steps)

    @property
    def n_params(self) -> str:
        return f"{sum(p.numel() for p in self.model.parameters()) / 1e6:.2f}M params"

    def record(self, loss: float, **extra) -> bool:
        """Log the step just taken; save when due. True once the step or time limit is reached."""
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3f}", **{k: f"{v:.3f}" for k, v in extra.items()})
        self.log.write(json.dumps({"step": self.step, "loss": loss, **extra, "t": time.time()}) + "\n")
        finished = self.step >= self.args.steps or time.time() > self.deadline
        if self.step % self.args.save_every == 0 or finished:
            write_checkpoint(self.last, self.model, self.cfg, optimizer=self.opt)
            if self.args.export:
                write_checkpoint(self.args.export, self.model, self.cfg, half=True)
        if self.args.keep_every and self.step % self.args.keep_every == 0:
            write_checkpoint(self.args.run / f"step_{self.step}.pt", self.model, self.cfg, half=True)
            self.log.flush()
        if finished:
            self.bar.close()
            self.log.close()
        return finished
