"""Intelligibility (pocketsphinx WER) and speaker similarity (GE2E cosine) for evaluation and benchmarks."""
import re
from functools import lru_cache

import numpy as np

from common.text import english_cleaners


def normalize_words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", english_cleaners(text)).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


@lru_cache(maxsize=1)
def _decoder():
    from pocketsphinx import Decoder
    return Decoder(samprate=16000, loglevel="FATAL")


def transcribe(wav16k: np.ndarray) -> str:
    d = _decoder()
    pcm = (np.clip(wav16k, -1, 1) * 32767).astype("<i2").tobytes()
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    hyp = d.hyp()
    return hyp.hypstr if hyp else ""


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
