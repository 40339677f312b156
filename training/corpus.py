"""Build the multi-speaker synthetic corpus offline.

    python -m training.corpus --out data/corpus --utts 100 --virtual-per-voice 14 --workers 2

Eight engine voices, each also turned into `virtual-per-voice` extra speakers by pitch/formant warping.
Every speaker reads its own sentences; the last `--test-sentences` sentences are read by nobody
(held-out text), and each engine voice's last virtual speaker is held out for evaluation.
Deterministic for a given seed; re-running skips utterances already on disk.
"""
import argparse
import csv
import os
import subprocess
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from training.augment import VoiceWarp, apply_warp, random_warp
from training.engines import ENGINE_VOICES, SR, speak
from training.sentences import load_sentences


@dataclass(frozen=True)
class Speaker:
    name: str
    engine_voice: str
    warp: VoiceWarp | None
    heldout: bool


def plan_speakers(virtual_per_voice: int, seed: int) -> list[Speaker]:
    rng = np.random.RandomState(seed)
    speakers = []
    for voice in ENGINE_VOICES:
        speakers.append(Speaker(voice, voice, None, False))
        for k in range(virtual_per_voice):
            speakers.append(Speaker(f"{voice}_v{k:02d}", voice, random_warp(rng), k == virtual_per_voice - 1))
    return speakers


def _render(job) -> tuple[str, float]:
    """(path, seconds); seconds is 0 when the engine failed on this text (festival can crash on some)."""
    speaker, text, path = job
    if not os.path.exists(path):
        try:
            wav = speak(speaker.engine_voice, text)
        except (subprocess.CalledProcessError, ValueError, RuntimeError):
            return path, 0.0
        if speaker.warp is not None:
            wav = apply_warp(wav, SR, speaker.warp)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path + ".tmp.wav", wav, SR, subtype="PCM_16")
        os.replace(path + ".tmp.wav", path)
    return path, sf.info(path).duration


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/corpus"))
    ap.add_argument("--utts", type=int, default=100, help="utterances per speaker")
    ap.add_argument("--virtual-per-voice", type=int, default=14)
    ap.add_argument("--test-sentences", type=int, default=40)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--text", type=Path, nargs="*", help="sentence sources (default: Debian fortunes)")
    args = ap.parse_args(argv)

    sentences = load_sentences(args.text, seed=args.seed)
    test, pool = sentences[-args.test_sentences:], sentences[:-args.test_sentences]
    speakers = plan_speakers(args.virtual_per_voice, args.seed)
    if len(pool) < args.utts:
        raise SystemExit(f"only {len(pool)} sentences available")
    rng = np.random.RandomState(args.seed + 1)
    jobs, rows = [], []
    for spk in speakers:
        for i in rng.choice(len(pool), size=args.utts, replace=False):
            path = str(args.out / "wavs" / spk.name / f"{i:05d}.wav")
            jobs.append((spk, pool[i], path))
            rows.append((spk.name, os.path.relpath(path, args.out), pool[i], "heldout" if spk.heldout else "train"))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "test_sentences.txt").write_text("\n".join(test) + "\n")
    # Round-robin over speakers, so a build stopped early still covers every speaker; metadata.tsv lists
    # exactly the utterances on disk at any moment.
    order = sorted(range(len(jobs)), key=lambda j: (j % args.utts, j // args.utts))
    total, done = 0.0, 0
    with Pool(args.workers) as workers, open(args.out / "metadata.tsv", "w", newline="") as meta:
        writer = csv.writer(meta, delimiter="\t")
        results = workers.imap(_render, [jobs[j] for j in order], chunksize=4)
        for j, (_, dur) in zip(order, tqdm(results, total=len(jobs), desc="corpus", unit="utt")):
            if dur > 0:
                writer.writerow(rows[j])
                meta.flush()
            total, done = total + dur, done + 1
    print(f"{len(speakers)} speakers, {done} utterances, {total / 3600:.2f} h -> {args.out}")


if __name__ == "__main__":
    main()
