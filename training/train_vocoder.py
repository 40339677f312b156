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
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from common import audio
from training.data import Example, load_index
from training.run import Run, add_run_args
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
    return ex.n_frames > seq_frames + 2 * pad + 1 and ex.quant_path.exists()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(ap, run="runs/voc", lr=2e-4, save_every=500)
    ap.add_argument("--seq-frames", type=int, default=5, help="mel frames per window (RTVC: 5, i.e. 1000 samples)")
    args = ap.parse_args(argv)

    run = Run(args, WaveRNN, WaveRNNConfig, SMALL, desc="vocoder")
    model, cfg = run.model, run.cfg
    examples = [e for e in load_index(args.data) if e.split == "train" and usable(e, args.seq_frames, cfg.pad)]
    if len(examples) < args.batch:
        raise SystemExit(f"only {len(examples)} usable training utterances (need a batch of {args.batch}); "
                         "re-run training.preprocess to write the quant/ labels")
    print(f"{len(examples)} training utterances, step {run.step}, {run.n_params}, {run.device}")
    rng = np.random.RandomState(args.seed + run.step)
    while True:
        batch = [examples[i] for i in rng.choice(len(examples), size=args.batch, replace=False)]
        x, mels, y = (t.to(run.device) for t in random_windows(batch, cfg, args.seq_frames, rng))
        loss = F.cross_entropy(model(x, mels).transpose(1, 2), y)
        run.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 4.0)
        run.opt.step()
        if run.record(loss.item()):
            print(json.dumps({"step": run.step, "loss": loss.item(), "config": asdict(cfg)}))
            return


if __name__ == "__main__":
    main()
