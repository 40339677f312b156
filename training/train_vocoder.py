"""Train the WaveRNN vocoder (RTVC's fatchord model, RAW 9-bit mu-law) on preprocessed mels and audio.

    python -m training.train_vocoder --data data/prep_syn data/prep_so --run runs/voc --minutes 60 \\
        --export runs/voc/vocoder.pt

Each example is a random window of `--seq-frames` mel frames (plus the `pad` frames of context on each
side the upsampler consumes) and the audio labels under it; the loss is teacher-forced cross-entropy
over the 512 mu-law classes, as fatchord and RTVC train it. Resumable from runs/<run>/last.pt; uses
CUDA when present. `--init vocoder.pt` fine-tunes existing weights (RTVC's own file included). The
services load the export with `VOCODER_CHECKPOINT=runs/voc/vocoder.pt`.
"""
import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from common import audio
from common.checkpoints import config_from, read_checkpoint, write_checkpoint
from training.data import Example, load_index
from vocoder_svc.model import WaveRNN, WaveRNNConfig

# Half of RTVC's recurrent width and a lighter mel ResNet: trains on a few CPU cores and samples ~3x
# faster; the upsampling (5 x 5 x 8 = hop 200) and the 9-bit output are RTVC's.
SMALL = WaveRNNConfig(rnn_dims=256, fc_dims=256, compute_dims=64, res_out_dims=64, res_blocks=5)


def random_windows(batch: list[Example], cfg: WaveRNNConfig, seq_frames: int, rng: np.random.RandomState):
    """(x, mels, y): previous samples in [-1, 1] (B, N), mel windows (B, 80, seq + 2 pad), next labels (B, N).

    Mel frame j covers samples j*hop .. (j+1)*hop, so a window starting at frame o conditions the samples
    from (o + pad) * hop on; the upsampler trims the pad frames of context on each side."""
    hop, pad, n = cfg.hop_length, cfg.pad, seq_frames * cfg.hop_length
    mels, labels = [], []
    for ex in batch:
        mel, quant = ex.mel() / audio.HP.max_abs_value, ex.quant()
        last_start = min(mel.shape[1] - seq_frames - 2 * pad, (len(quant) - n - 1) // hop - pad)
        o = rng.randint(0, last_start + 1)
        mels.append(mel[:, o:o + seq_frames + 2 * pad])
        labels.append(quant[(o + pad) * hop:(o + pad) * hop + n + 1])
    labels = torch.from_numpy(np.stack(labels).astype(np.int64))
    x = audio.label_to_float(labels[:, :-1].float(), cfg.bits)
    return x, torch.from_numpy(np.stack(mels).astype(np.float32)), labels[:, 1:]


def usable(ex: Example, seq_frames: int, pad: int) -> bool:
    return ex.n_frames > seq_frames + 2 * pad + 1 and (ex.root / "quant" / f"{ex.uid}.npy").exists()


def build_model(last: Path, init: Path | None) -> tuple[WaveRNN, WaveRNNConfig]:
    if last.exists() or init:
        state, hparams = read_checkpoint(last if last.exists() else init)
        cfg = config_from(WaveRNNConfig, hparams) if hparams else WaveRNNConfig()  # no hparams: RTVC's file
        model = WaveRNN(cfg)
        model.load_state_dict(state)
        return model, cfg
    return WaveRNN(SMALL), SMALL


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["data/prep"],
                    help="preprocessed roots (training.preprocess); 'root:N' repeats a root N times per epoch")
    ap.add_argument("--run", type=Path, default=Path("runs/voc"))
    ap.add_argument("--init", type=Path, help="start from these weights (e.g. RTVC's vocoder.pt)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-frames", type=int, default=5, help="mel frames per window (RTVC: 5, i.e. 1000 samples)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--minutes", type=float, default=60.0, help="stop after this much wall time")
    ap.add_argument("--steps", type=int, default=10 ** 9)
    ap.add_argument("--save-every", type=int, default=500)
    ap.add_argument("--export", type=Path, help="also write fp16 weights here at every save")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    args.run.mkdir(parents=True, exist_ok=True)
    last = args.run / "last.pt"
    model, cfg = build_model(last, args.init)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    if last.exists():
        ckpt = torch.load(last, map_location=device, weights_only=True)
        if "optimizer_state" in ckpt:
            opt.load_state_dict(ckpt["optimizer_state"])
    examples = [e for e in load_index(args.data) if e.split == "train" and usable(e, args.seq_frames, cfg.pad)]
    if len(examples) < args.batch:
        raise SystemExit(f"only {len(examples)} usable training utterances (need a batch of {args.batch}); "
                         "re-run training.preprocess to write the quant/ labels")
    step = int(model.step)
    print(f"{len(examples)} training utterances, step {step}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, {device}")
    rng = np.random.RandomState(args.seed + step)
    deadline = time.time() + args.minutes * 60
    log = open(args.run / "log.jsonl", "a")
    bar = tqdm(total=min(args.steps, 10 ** 7), initial=step, desc="vocoder", unit="step")
    while True:
        batch = [examples[i] for i in rng.choice(len(examples), size=args.batch, replace=False)]
        x, mels, y = (t.to(device) for t in random_windows(batch, cfg, args.seq_frames, rng))
        loss = F.cross_entropy(model(x, mels).transpose(1, 2), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 4.0)
        opt.step()
        step = int(model.step)
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        log.write(json.dumps({"step": step, "loss": loss.item(), "t": time.time()}) + "\n")
        finished = step >= args.steps or time.time() > deadline
        if step % args.save_every == 0 or finished:
            write_checkpoint(last, model, cfg, optimizer=opt)
            if args.export:
                write_checkpoint(args.export, model, cfg, half=True)
            log.flush()
        if finished:
            break
    bar.close()
    print(json.dumps({"step": step, "loss": loss.item(), "config": asdict(cfg)}))


if __name__ == "__main__":
    main()
