"""Preprocessed examples (from training.preprocess) and length-bucketed batches."""
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.text import text_to_sequence


@dataclass
class Example:
    uid: str
    speaker: str
    text: str
    n_frames: int
    split: str
    root: Path

    def mel(self) -> np.ndarray:
        return np.load(self.root / "mels" / f"{self.uid}.npy")

    def embedding(self) -> np.ndarray:
        return np.load(self.root / "embeds" / f"{self.uid}.npy")

    @property
    def quant_path(self) -> Path:
        """The vocoder's target: mu-law labels of the audio the mel was made from (older preprocessing
        runs did not write them)."""
        return self.root / "quant" / f"{self.uid}.npy"

    def quant(self) -> np.ndarray:
        return np.load(self.quant_path)


def parse_root(spec: str) -> tuple[Path, int]:
    """'data/prep_syn:3' -> (Path('data/prep_syn'), 3): a root listed N times per epoch."""
    path, _, repeat = str(spec).rpartition(":")
    if path and repeat.isdigit():
        return Path(path), int(repeat)
    return Path(spec), 1


def load_index(roots: list) -> list[Example]:
    """Examples of every root; a root given as 'path:N' appears N times (mixes a small corpus up)."""
    out = []
    for spec in roots:
        root, repeat = parse_root(spec)
        with open(root / "index.tsv", newline="") as f:
            rows = [Example(uid, speaker, text, int(n), split, root)
                    for uid, speaker, text, n, split in csv.reader(f, delimiter="\t")]
        out += rows * repeat
    return out


def bucketed_batches(examples: list[Example], batch_size: int, rng: np.random.RandomState):
    """Batches of similar length (little padding), in random order."""
    order = rng.permutation(len(examples))
    chunk = batch_size * 20
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: examples[i].n_frames)
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return [[examples[i] for i in b] for b in batches if len(b) == batch_size]


def collate(batch: list[Example], r: int, pad_value: float = -4.0):
    """chars (B, N), mels (B, 80, T) padded with silence to a multiple of r, embeddings, lengths."""
    seqs = [text_to_sequence(ex.text) for ex in batch]
    mels = [ex.mel() for ex in batch]
    n_in = max(map(len, seqs))
    t_max = max(m.shape[1] for m in mels) + 1
    t_max += -t_max % r
    chars = torch.zeros(len(batch), n_in, dtype=torch.long)
    mel = torch.full((len(batch), mels[0].shape[0], t_max), pad_value)
    for i, (s, m) in enumerate(zip(seqs, mels)):
        chars[i, :len(s)] = torch.tensor(s)
        mel[i, :, :m.shape[1]] = torch.from_numpy(m)
    emb = torch.from_numpy(np.stack([ex.embedding() for ex in batch]))
    return chars, mel, emb, torch.tensor([len(s) for s in seqs]), torch.tensor([m.shape[1] for m in mels])
