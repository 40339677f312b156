"""The mean GE2E embedding of many real speakers: the centre the synthesizer's speaker emphasis pushes away from.

    python -m training.speaker_mean --audio /work/data/raw/resemblyzer/audio_data/librispeech_train-clean-100 \\
        --out models/speaker_mean.npy

One embedding per speaker (the mean of that speaker's clips' embeddings, made unit-norm again, so a speaker
with many clips counts once), then the mean over speakers, stored as 256 float32. A speaker is the part of the
file name before the first '-' (LibriSpeech's `speaker-chapter-utterance`), or the parent folder with
`--speaker-from folder`. Files are walked in sorted order: the same audio gives the same file.
"""
import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.audio_io import read_16k
from training import real_metrics as rm

AUDIO = (".wav", ".flac")


def speaker_of(path: Path, rule: str) -> str:
    return path.parent.name if rule == "folder" else path.name.split("-")[0]


def speaker_mean(files: list[Path], rule: str = "name") -> tuple[np.ndarray, int]:
    """(the mean of the per-speaker unit-norm embeddings, how many speakers)."""
    per_speaker = defaultdict(list)
    for path in tqdm(files, desc="embeddings"):
        per_speaker[speaker_of(path, rule)].append(rm.embed(read_16k(path)))
    centroids = [np.mean(e, axis=0) for _, e in sorted(per_speaker.items())]
    centroids = [c / np.linalg.norm(c) for c in centroids]
    return np.mean(centroids, axis=0).astype(np.float32), len(centroids)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audio", type=Path, nargs="+", required=True, help="folders of 16 kHz-or-any wav/flac clips")
    ap.add_argument("--speaker-from", choices=("name", "folder"), default="name")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    files = sorted(p for root in args.audio for p in root.rglob("*") if p.suffix.lower() in AUDIO)
    if not files:
        raise SystemExit(f"no {'/'.join(AUDIO)} files under {' '.join(map(str, args.audio))}")
    mean, speakers = speaker_mean(files, args.speaker_from)
    np.save(args.out, mean)
    print(f"{args.out}: mean of {speakers} speakers ({len(files)} clips), norm {np.linalg.norm(mean):.3f}")


if __name__ == "__main__":
    main()
