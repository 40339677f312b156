"""Packs the training split of preprocessed roots (training.preprocess) into one small file, to carry to a
GPU machine whose upload is capped (64 MiB), and unpacks it there into the same folder layout.

    python -m training.pack pack data/prep_syn data/prep_so --share 0.3 --out .carry/prep.xz
    python -m training.pack unpack .carry/prep.xz --into data    # -> data/prep_syn, data/prep_so

Mels are quantized to 8 bits over RTVC's symmetric range (a step of 8/255, a mean error of 0.008 against
a training L1 loss above 0.4), delta-coded along time and lzma-compressed, about 58 bytes a frame;
embeddings travel as float16. The vocoder's audio labels are not packed.
"""
import argparse
import csv
import lzma
import pickle
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.data import load_index, parse_root

LEVELS = 255
MEL_RANGE = 4.0  # RTVC's max_abs_value (common.audio.HP), not imported: unpacking then needs no librosa


def quantize(mel: np.ndarray) -> np.ndarray:
    scaled = (np.clip(mel, -MEL_RANGE, MEL_RANGE) + MEL_RANGE) / (2 * MEL_RANGE)
    return np.round(scaled * LEVELS).astype(np.uint8)


def dequantize(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) / LEVELS * 2 * MEL_RANGE - MEL_RANGE


def delta_encode(mel: np.ndarray) -> np.ndarray:
    """(n_mels, T) mel -> its 8-bit levels' byte-wise differences along time (mod 256): 6% smaller than the
    levels themselves once lzma-compressed."""
    q = quantize(mel)
    return np.diff(q, axis=1, prepend=np.zeros((q.shape[0], 1), np.uint8))


def delta_decode(deltas: np.ndarray) -> np.ndarray:
    return dequantize(np.cumsum(deltas, axis=1, dtype=np.uint8))  # wraps mod 256, as encoded


def pack(roots: list[str], out: Path, max_frames: int, share: float, seed: int) -> None:
    packed, rng = {}, np.random.RandomState(seed)
    for spec in roots:
        root, _repeat = parse_root(spec)  # a training mix's 'root:N' would pack every utterance N times
        rows = [e for e in load_index([root]) if e.split == "train" and e.n_frames <= max_frames]
        rows = [e for e in rows if rng.random_sample() < share]
        if not rows:
            continue
        deltas = [delta_encode(e.mel()) for e in tqdm(rows, desc=f"pack {rows[0].root}", unit="utt")]
        packed[rows[0].root.name] = {
            "index": [(e.uid, e.speaker, e.text, e.n_frames, e.split) for e in rows],
            "mels": np.concatenate(deltas, axis=1),
            "embeds": np.stack([e.embedding() for e in rows]).astype(np.float16),
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(out, "wb", preset=6) as f:
        pickle.dump(packed, f, protocol=pickle.HIGHEST_PROTOCOL)
    total = sum(len(p["index"]) for p in packed.values())
    print(f"{total} utterances from {len(packed)} roots -> {out} ({out.stat().st_size / 2 ** 20:.1f} MiB)")


def unpack(path: Path, into: Path) -> None:
    with lzma.open(path, "rb") as f:
        packed = pickle.load(f)  # pickle runs code: unpack only files made by `pack`
    for name, part in packed.items():
        root = into / name
        for folder in ("mels", "embeds"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        start = 0
        for (uid, _speaker, _text, n, _split), emb in zip(part["index"], part["embeds"], strict=True):
            np.save(root / "mels" / f"{uid}.npy", delta_decode(part["mels"][:, start:start + n]))
            start += n
            np.save(root / "embeds" / f"{uid}.npy", emb.astype(np.float32))
        with open(root / "index.tsv", "w", newline="") as f:
            csv.writer(f, delimiter="\t").writerows(part["index"])
        print(f"{len(part['index'])} utterances -> {root}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("roots", nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--max-frames", type=int, default=500, help="as train_synthesizer's --max-frames")
    p.add_argument("--share", type=float, default=1.0, help="keep this random share of each root's utterances")
    p.add_argument("--seed", type=int, default=0)
    u = sub.add_parser("unpack")
    u.add_argument("path", type=Path)
    u.add_argument("--into", type=Path, default=Path("data"))
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        pack(args.roots, args.out, args.max_frames, args.share, args.seed)
    else:
        unpack(args.path, args.into)


if __name__ == "__main__":
    main()
