"""Train the default synthesizer (RTVC Tacotron, smaller widths) with a guided-attention loss.

    python -m training.train_synthesizer --data data/prep data/prep_so --run runs/synth --minutes 90

Resumable: re-running with the same --run continues from runs/<run>/last.pt. Uses CUDA when present.
`--export models/synthesizer.pt` writes the fp16 weights the services load.
"""
import argparse
import json
import math
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from synthesizer_svc.model import Tacotron, TacotronConfig
from training.data import bucketed_batches, collate, load_index
from training.run import Run, add_run_args
from training.trainable import CHOICES as TRAINABLE_CHOICES
from training.trainable import keep_frozen_stats, restrict

# RTVC's layers at a third of the width: trains on 2 CPU cores, and fp16 weights stay well under 20 MB.
SMALL = TacotronConfig(embed_dims=128, encoder_dims=128, decoder_dims=128, postnet_dims=128, lstm_dims=256)


def guided_attention_loss(attn: torch.Tensor, n_in: torch.Tensor, n_steps: torch.Tensor, g: float = 0.2):
    """Penalise attention far from the diagonal (Tachibana et al. 2017); speeds up alignment a lot.

    Padding gets the full penalty: RTVC's attention zeroes padded scores instead of masking them, and
    without this the model learns to park its attention on the padding."""
    _, S, N = attn.shape
    s = torch.arange(S, device=attn.device)[None, :, None] / n_steps[:, None, None].clamp(min=1)
    n = torch.arange(N, device=attn.device)[None, None, :] / n_in[:, None, None].clamp(min=1)
    w = 1 - torch.exp(-((n - s) ** 2) / (2 * g * g))
    is_char = torch.arange(N, device=attn.device)[None, None, :] < n_in[:, None, None]
    w = torch.where(is_char, w, torch.ones_like(w))
    valid_step = (torch.arange(S, device=attn.device)[None, :, None] < n_steps[:, None, None]).float()
    return (attn * w * valid_step).sum() / (valid_step.sum() * 1.0)


def spectral_gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the time and frequency differences of two (B, 80, T) mels. L1/MSE on the cells alone is
    minimised by the average of the plausible mels, which blurs onsets and harmonics; matching the local
    slopes penalises exactly that blur (a structural term, as in sharpness losses for image restoration)."""
    dt = F.l1_loss(pred[..., 1:] - pred[..., :-1], target[..., 1:] - target[..., :-1])
    df = F.l1_loss(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1])
    return dt + df


def losses(model, batch, device, ga_weight, own_input_rate=0.0, hide_padding=False, delta_weight=0.0):
    chars, mel, emb, n_in, n_frames = (t.to(device) for t in batch)
    mel_out, post_out, attn, stop_logits = model(chars, mel, emb, own_input_rate, hide_padding)
    r = model.r
    steps = stop_logits.size(1)
    # Step s is 'stop' once its last frame reaches the utterance end.
    stop_target = ((torch.arange(steps, device=device)[None] + 1) * r >= n_frames[:, None]).float()
    loss_mel = F.mse_loss(mel_out, mel) + F.l1_loss(mel_out, mel)
    loss_post = F.mse_loss(post_out, mel) + F.l1_loss(post_out, mel)
    loss_stop = F.binary_cross_entropy_with_logits(stop_logits, stop_target)
    loss_ga = guided_attention_loss(attn, n_in, (n_frames + r - 1) // r)
    total = loss_mel + loss_post + loss_stop + ga_weight * loss_ga
    parts = {"mel": loss_mel.item(), "post": loss_post.item(), "stop": loss_stop.item(), "ga": loss_ga.item()}
    if delta_weight:
        loss_delta = spectral_gradient_loss(post_out, mel)
        total = total + delta_weight * loss_delta
        parts["delta"] = loss_delta.item()
    return total, parts


def learning_rate(base: float, step: int) -> float:
    """Halves every 20k steps, plus once at step 7000: on CPU the loss was still falling linearly there,
    and halving it then cut the postnet loss 4% at once (0.795 -> 0.764) with no slowdown after."""
    return base * 0.5 ** (step / 20000) * (0.5 if step >= 7000 else 1.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, run="runs/synth", lr=1e-3, save_every=200)
    ap.add_argument("--r", type=int,
                    help="frames per decoder step: 5 for a fresh model (2.5x cheaper than RTVC's 2); given with "
                         "--init or a run to resume, switches that model's r (as RTVC's schedule lowers it)")
    ap.add_argument("--max-frames", type=int, default=500, help="skip longer utterances (CPU time)")
    ap.add_argument("--ga-weight", type=float, default=2.0,
                    help="guided-attention weight at step 0 (decays to a tenth of it)")
    ap.add_argument("--own-input", type=float, default=0.3,
                    help="scheduled sampling: share of decoder steps fed the model's own previous frame")
    ap.add_argument("--own-input-after", type=int, default=2000,
                    help="step from which --own-input ramps in (over 500 steps), once attention has aligned")
    ap.add_argument("--hide-padding", action=argparse.BooleanOptionalAction, default=True,
                    help="attention gives padding no weight, as synthesis does (--no-hide-padding: RTVC's "
                         "training, where padding scores are zeroed and still take some weight)")
    ap.add_argument("--warmup", type=int, default=200,
                    help="learning-rate warm-up steps of a fresh optimizer (fewer for a short CPU fine-tune)")
    ap.add_argument("--delta-weight", type=float, default=0.0,
                    help="weight of the spectral-gradient (sharpness) term on the postnet output; 0: off")
    ap.add_argument("--trainable", choices=TRAINABLE_CHOICES, default="all",
                    help="which weights change: all; speaker = only the columns that read the speaker "
                         "embedding (training.trainable); speaker+postnet = those and the postnet; "
                         "speaker-decoder = only those of the decoder's input, not the attention's")
    args = ap.parse_args(argv)

    def training_examples():
        # Re-read every epoch: the corpus may still be growing while training runs.
        return [e for e in load_index(args.data) if e.split == "train" and e.n_frames <= args.max_frames]

    examples = training_examples()
    run = Run(args, Tacotron, TacotronConfig, SMALL, desc="synth")
    model = run.model
    if args.r or run.fresh:
        model.r = args.r or 5
    n_trainable = restrict(model, args.trainable)
    print(f"{len(examples)} training utterances, {len({e.speaker for e in examples})} speakers, "
          f"step {run.step}, r={model.r}, {run.n_params} ({n_trainable / 1e6:.3f}M trainable), {run.device}")
    rng = np.random.RandomState(args.seed + run.step)
    while True:
        for batch in bucketed_batches(training_examples(), args.batch, rng):
            step = run.step
            lr = learning_rate(args.lr, step) * run.warmup(args.warmup)
            for group in run.opt.param_groups:
                group["lr"] = lr
            ga_weight = args.ga_weight * max(0.1, math.exp(-step / 8000))
            own_rate = args.own_input * min(1.0, max(0, step - args.own_input_after) / 500)
            keep_frozen_stats(model, args.trainable)
            total, parts = losses(model, collate(batch, model.r), run.device, ga_weight, own_rate,
                                  args.hide_padding, args.delta_weight)
            run.opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            run.opt.step()
            if run.record(total.item(), **parts, lr=lr, own_input=own_rate):
                print(json.dumps({"step": run.step, "config": asdict(run.cfg), "r": model.r}))
                return


if __name__ == "__main__":
    main()
