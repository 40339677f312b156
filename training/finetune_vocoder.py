"""Fine-tune a HiFi-GAN generator (the lite one by default) to render *over-smoothed* mels as real speech.

    python -m training.finetune_vocoder --audio /work/data/raw/resemblyzer/audio_data/librispeech_train-clean-100 \\
        --run runs/hifigan_lite_ft --minutes 50 --export runs/hifigan_lite_ft/hifigan_lite.pt

Why: our synthesizer's mels are smoother than real speech's (blurred harmonics, shallow valleys, no floor);
a generator trained on real mels, or distilled from one, renders that smoothness as muffled, buzzy speech
(issue 25: every HiFi-GAN variant is less intelligible than Griffin-Lim on our clones). The field's remedy is
to fine-tune on the synthesizer's teacher-forced mels against the real audio, which needs transcripts. This
is its transcript-free stand-in: each real clip's RTVC mel is *smoothed the way our synthesizer's mels differ
from real ones* (`smooth`: a blur over frequency and time, each band's deviation from its mean shrunk), with a
random strength per example, then goes through the service's own path (the post-filter `sharpen` at the
generator's factor, then `mel_adapter.adapt`); the target is the clip's real audio. Without a discriminator
the phase is free: the losses are spectral only (the generator's log-mel L1 x 45, as HiFi-GAN weighs it,
plus multi-resolution STFT); a quarter of the examples are left unsmoothed so real mels stay rendered well.

`--calibrate` prints the smoothness statistics of real mels, of the smoothed ones at the three strengths,
and of our synthesizer's mels in the same voices (the range the random strength covers was chosen from it).
Resumable from runs/<run>/last.pt; `--export` writes fp16 weights that the vocoder loads with
HIFIGAN_VOICE=lite HIFIGAN_LITE_WEIGHTS=<file>.
"""
import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from common import audio
from common.audio_io import read_16k
from common.checkpoints import write_checkpoint
from common.paths import DEFAULT_HIFIGAN_LITE
from training.distill_vocoder import Losses, load_trainable
from training.preprocess import clean_wav
from training.run import add_loop_args
from vocoder_svc import mel_adapter
from vocoder_svc.hifigan import HiFiGAN
from vocoder_svc.hifigan_runtime import MEL_SHARPEN

WINDOW_FRAMES = 40       # RTVC frames (12.5 ms) per training window: 0.5 s
CONTEXT_FRAMES = 8       # generator frames each side that the loss ignores (edge effects)
# Smoothing strengths drawn uniformly per example: (frequency blur sigma in mel bands, time blur sigma in
# frames, share of each band's deviation from its mean kept). The calibration (`--calibrate`) matched them to
# our synthesizer's mels; the figures are in models/README.md.
STRENGTH_LOW = (0.5, 0.2, 1.0)
STRENGTH_HIGH = (1.5, 1.0, 0.75)
CLEAN_SHARE = 0.25
# Harvard sentences (IEEE 1969, public domain), none of them in the real-voice evaluation
CALIBRATION_SENTENCES = ("The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
                         "It is easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
                         "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
                         "The box was thrown beside the parked truck.", "Four hours of steady work faced us.")


def smooth(mel: np.ndarray, strength: float) -> np.ndarray:
    """An RTVC mel (80, T) in [-4, 4] made as smooth as a synthesizer's: `strength` 0 -> STRENGTH_LOW,
    1 -> STRENGTH_HIGH."""
    f_sigma, t_sigma, keep = (lo + strength * (hi - lo) for lo, hi in zip(STRENGTH_LOW, STRENGTH_HIGH))
    blurred = gaussian_filter(mel.astype(np.float64), sigma=(f_sigma, t_sigma), mode="nearest")
    mean = blurred.mean(axis=1, keepdims=True)
    limit = audio.HP.max_abs_value
    return np.clip(mean + keep * (blurred - mean), -limit, limit).astype(np.float32)


def smoothness(mels: list[np.ndarray]) -> dict:
    """What separates our synthesizer's mels from real ones: per-band deviation over time (global variance),
    mean |step| across bands and across frames, and the share of cells near the floor."""
    cat = [m.astype(np.float64) for m in mels]
    return {"band_std": round(float(np.mean([m.std(axis=1).mean() for m in cat])), 3),
            "freq_step": round(float(np.mean([np.abs(np.diff(m, axis=0)).mean() for m in cat])), 3),
            "time_step": round(float(np.mean([np.abs(np.diff(m, axis=1)).mean() for m in cat])), 3),
            "floor_share": round(float(np.mean([(m <= -3.9).mean() for m in cat])), 4)}


def list_clips(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".flac", ".wav"))


def speaker_of(path: Path) -> str:
    """LibriSpeech's `<speaker>-<chapter>-<utterance>` names, else the folder (one folder per speaker)."""
    return path.stem.split("-")[0] if path.stem.count("-") == 2 else path.parent.name


def held_out(path: Path) -> bool:
    """Speakers held out for the progress figure: 1 in 16 by a hash of the speaker."""
    return int(hashlib.sha1(speaker_of(path).encode()).hexdigest(), 16) % 16 == 0


class Clip:
    """One real recording: its RTVC mel (the wire format), its audio at the generator's rate and, from
    training.gta, our synthesizer's teacher-forced mel of it (`synth_mel`, frame-aligned with `mel`)."""

    def __init__(self, wav: np.ndarray, synth_mel: np.ndarray | None = None):
        self.mel = audio.melspectrogram(wav).astype(np.float32)
        self.target = mel_adapter.resample_to_generator(wav, audio.HP.sample_rate).astype(np.float32)
        self.synth_mel = synth_mel
        if synth_mel is not None and synth_mel.shape != self.mel.shape:
            raise ValueError(f"teacher-forced mel {synth_mel.shape} does not match the clip's {self.mel.shape}")

    @classmethod
    def from_path(cls, path: Path) -> "Clip":
        wav = read_16k(path)
        return cls(wav / max(1e-4, float(np.abs(wav).max())) * 0.9)

    @classmethod
    def from_gta(cls, folder: Path, row: dict) -> "Clip":
        """A training.gta row: the same trimmed audio its mels were made from (preprocess's clean_wav)."""
        return cls(clean_wav(row["wav"]), np.load(folder / "gta" / f"{row['uid']}.npy"))

    def input_mel(self, strength: float | None) -> np.ndarray:
        """The RTVC mel an example feeds the service path: the real one (None), else the synthesizer's
        teacher-forced one where there is one, else the real one smoothed at `strength`."""
        if strength is None:
            return self.mel
        return self.synth_mel if self.synth_mel is not None else smooth(self.mel, strength)


def gta_clips(folder: Path) -> tuple[list[Clip], list[Clip]]:
    """(training, held-out) clips of a training.gta folder; held out = the corpus's held-out speakers."""
    from training.gta import load_index
    rows = sorted(load_index(folder).values(), key=lambda r: r["uid"])
    train = [Clip.from_gta(folder, r) for r in tqdm(rows, desc="clips", unit="clip") if r["split"] == "train"]
    held = [Clip.from_gta(folder, r) for r in rows if r["split"] != "train"]
    return train, held[:: max(1, len(held) // 8)][:8]


def generator_input(rtvc_mel: np.ndarray, factor: float, frames: slice = slice(None)) -> np.ndarray:
    """What the vocoder service feeds the generator for these `frames` of an RTVC mel (hifigan_runtime.prepare):
    the post-filter sees the whole mel (its band means are the utterance's), the adapter only the frames."""
    return mel_adapter.adapt(mel_adapter.sharpen(rtvc_mel, factor)[:, frames])


class Windows:
    """Random (generator input with context, real target audio) windows; smoothing drawn per example."""

    def __init__(self, clips: list[Clip], factor: float, hop: int, seed: int):
        self.clips = [c for c in clips if c.mel.shape[1] > WINDOW_FRAMES + 2]
        self.factor, self.hop = factor, hop
        self.rng = np.random.default_rng(seed)

    def example(self, clip: Clip, strength: float | None, lo: int) -> tuple[np.ndarray, np.ndarray]:
        # smoothing sees the whole clip too, as a synthesizer's mel is smooth throughout
        log_mel = generator_input(clip.input_mel(strength), self.factor, slice(lo, lo + WINDOW_FRAMES))
        n_frames = log_mel.shape[1] - 2 * CONTEXT_FRAMES
        rate = mel_adapter.GENERATOR.sample_rate
        start = round(lo * audio.HP.hop_size * rate / audio.HP.sample_rate) + CONTEXT_FRAMES * self.hop
        target = clip.target[start:start + n_frames * self.hop]
        return log_mel, np.pad(target, (0, n_frames * self.hop - len(target)))

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        mels, wavs = [], []
        for i in self.rng.integers(0, len(self.clips), size):
            clip = self.clips[i]
            lo = int(self.rng.integers(0, clip.mel.shape[1] - WINDOW_FRAMES))
            strength = None if self.rng.random() < CLEAN_SHARE else float(self.rng.random())
            mel, wav = self.example(clip, strength, lo)
            mels.append(mel)
            wavs.append(wav)
        return torch.from_numpy(np.stack(mels)), torch.from_numpy(np.stack(wavs))


def crop(wav: torch.Tensor, hop: int) -> torch.Tensor:
    return wav[:, 0, CONTEXT_FRAMES * hop:wav.shape[-1] - CONTEXT_FRAMES * hop]


def spectral_loss(losses: Losses, out: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Losses' terms without the waveform L1 (the real audio's phase is not the generator's to match)."""
    terms = losses(out, target)
    terms["total"] = 45 * terms["mel"] + 2.5 * (terms["sc"] + terms["mag"])
    return terms


@torch.no_grad()
def held_out_distance(model: HiFiGAN, clips: list[Clip], factor: float, losses: Losses) -> dict:
    """Mean generator-log-mel L1 (nats) of whole held-out clips against their real audio: from their real
    mel and from our synthesizer's teacher-forced mel of them ("gta") or, without one, their mel smoothed at
    strength 0.5 ("smoothed")."""
    out = {}
    synthetic = "gta" if clips and clips[0].synth_mel is not None else "smoothed"
    for name, strength in (("real", None), (synthetic, 0.5)):
        total = 0.0
        for clip in clips:
            wav = model(torch.from_numpy(generator_input(clip.input_mel(strength), factor))[None])[0, 0]
            n = min(len(wav), len(clip.target))
            total += losses.distance(wav[:n], torch.from_numpy(clip.target[:n]))
        out[f"held_out_{name}"] = round(total / max(1, len(clips)), 4)
    return out


def calibrate(args, train: list[Path]) -> None:
    """Smoothness of real mels, smoothed ones, and our synthesizer's mels of sentences in the same voices."""
    from encoder_svc.inference import embed_reference, load_encoder
    from synthesizer_svc.inference import load_synthesizer, synthesize
    paths = train[: args.calibrate]
    clips = [Clip.from_path(p) for p in paths]
    real = [c.mel for c in clips]
    print("real", smoothness(real))
    for s in (0.0, 0.5, 1.0):
        print(f"smoothed {s}", smoothness([smooth(m, s) for m in real]))
    encoder, synth = load_encoder(), load_synthesizer(args.synthesizer)
    embeddings = np.stack([embed_reference(encoder, read_16k(p)).embedding for p in paths])
    sentences = [CALIBRATION_SENTENCES[i % len(CALIBRATION_SENTENCES)] for i in range(len(paths))]
    mels = []
    for i in range(0, len(paths), 8):
        mels.extend(synthesize(synth, sentences[i:i + 8], embeddings[i:i + 8], max_frames=600).mels)
    print("synthesizer", smoothness([np.asarray(m) for m in mels]))


def train(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.gta is None:
        paths = list_clips(args.audio)
        train_paths = [p for p in paths if not held_out(p)]
        if args.calibrate:
            return calibrate(args, train_paths)
    args.run.mkdir(parents=True, exist_ok=True)
    last = args.run / "last.pt"
    model, ckpt = load_trainable(last if last.exists() else args.init)
    factor = MEL_SHARPEN["lite"] if args.sharpen is None else args.sharpen
    if args.gta is None:
        clips = [Clip.from_path(p) for p in tqdm(train_paths, desc="clips", unit="clip")]
        evaluation = [Clip.from_path(p) for p in [p for p in paths if held_out(p)][:8]]
    else:
        clips, evaluation = gta_clips(args.gta)
    windows = Windows(clips, factor, model.upsampling, args.seed + int(ckpt.get("step", 0)))
    losses = Losses()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.8, 0.99))
    step = int(ckpt.get("step", 0)) if last.exists() else 0
    if last.exists() and "optimizer_state" in ckpt:
        opt.load_state_dict(ckpt["optimizer_state"])
    log = open(args.run / "log.jsonl", "a")
    if step == 0:
        log.write(json.dumps({"step": 0, **held_out_distance(model.eval(), evaluation, factor, losses)}) + "\n")
        log.flush()
    model.train()
    deadline = time.time() + args.minutes * 60
    bar = tqdm(total=args.steps, initial=step, desc="fine-tune hifigan", unit="step")
    while step < args.steps and time.time() < deadline:
        mel, target = windows.batch(args.batch)
        terms = spectral_loss(losses, crop(model(mel), model.upsampling), target)
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        row = {k: round(float(v.detach()), 5) for k, v in terms.items() if k != "wave"}
        bar.update(1)
        bar.set_postfix(loss=row["total"], mel=row["mel"])
        if step % args.save_every == 0 or step >= args.steps or time.time() >= deadline:
            row.update(held_out_distance(model.eval(), evaluation, factor, losses))
            model.train()
            write_checkpoint(last, model, model.cfg, optimizer=opt, step=step)
            if args.export:
                meta = {"init": str(args.init), "data": str(args.gta or args.audio),
                        "inputs": "teacher-forced" if args.gta else {"smoothing": [STRENGTH_LOW, STRENGTH_HIGH]}}
                write_checkpoint(args.export, model, model.cfg, half=True, step=step, **meta)
                if args.keep_every and step % args.keep_every == 0:   # snapshots to compare on the evaluation
                    write_checkpoint(args.export.with_stem(f"{args.export.stem}_{step}"), model, model.cfg,
                                     half=True, step=step, **meta)
        log.write(json.dumps({"step": step, **row, "t": round(time.time(), 1)}) + "\n")
        log.flush()
    bar.close()


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    data = ap.add_mutually_exclusive_group(required=True)
    data.add_argument("--audio", type=Path, help="a folder of real recordings (speaker folders); inputs smoothed")
    data.add_argument("--gta", type=Path, help="a training.gta folder: inputs are our synthesizer's teacher-forced mels")
    ap.add_argument("--run", type=Path, default=Path("runs/hifigan_lite_ft"))
    ap.add_argument("--init", type=Path, default=DEFAULT_HIFIGAN_LITE, help="the generator to start from")
    ap.add_argument("--sharpen", type=float, help="post-filter factor the service applies (default: lite's)")
    ap.add_argument("--synthesizer", default="models/synthesizer.pt", help="for --calibrate")
    ap.add_argument("--calibrate", type=int, default=0, help="print smoothness figures of N clips and stop")
    add_loop_args(ap, batch=8, lr=5e-5, save_every=100)
    ap.add_argument("--keep-every", type=int, default=0, help="also keep the export of every N-th step")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
