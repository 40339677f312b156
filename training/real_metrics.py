"""What the real-voice evaluation measures on one 16 kHz clip, and how it pools clips into figures.

DNSMOS P.835 overall (speechmos's bundled ONNX models), Whisper-base word errors (training.asr), GE2E
cosine to the speaker's reference, whether the clip is nearest its own speaker among all evaluated
speakers, and the share of RTVC mel cells at the floor of the scale (-4: silence and the gaps between
harmonics; real speech has many, an over-smoothed synthesizer few).
"""
from functools import lru_cache

import numpy as np

from common import audio
from training.metrics import cosine, word_errors

MEL_FLOOR = -audio.HP.max_abs_value
# Normalized mels are clipped at exactly -max_abs_value; the tolerance only absorbs float32 rounding.
_FLOOR_TOLERANCE = 1e-4


def floor_share(mel: np.ndarray) -> float:
    """Share of cells of an RTVC-normalized mel (80 x T, in [-4, 4]) that sit at the floor."""
    return float(np.mean(np.asarray(mel) <= MEL_FLOOR + _FLOOR_TOLERANCE))


def audio_floor_share(wav16k: np.ndarray) -> float:
    return floor_share(audio.melspectrogram(wav16k))


def dnsmos_ovrl(wav16k: np.ndarray) -> float:
    from speechmos import dnsmos
    return float(dnsmos.run(np.clip(wav16k, -1.0, 1.0).astype(np.float32), 16000)["ovrl_mos"])


@lru_cache(maxsize=1)
def _encoder():
    from encoder_svc.inference import load_encoder
    return load_encoder()


def embed(wav16k: np.ndarray) -> np.ndarray:
    """GE2E embedding the way the encoder service computes it (VAD trim, volume normalization, partials)."""
    from encoder_svc.inference import embed_reference
    return embed_reference(_encoder(), wav16k.astype(np.float32)).embedding


def nearest_speaker(embedding: np.ndarray, references: dict[str, np.ndarray]) -> str:
    """Name of the reference embedding most similar (cosine) to `embedding`."""
    return max(references, key=lambda name: cosine(embedding, references[name]))


def measure_clip(wav16k: np.ndarray, text: str | None, reference: np.ndarray | None) -> dict:
    """The per-clip figures; `text` None skips WER (no transcript), `reference` None skips the cosine."""
    from training.asr import transcribe
    row = {"dnsmos": dnsmos_ovrl(wav16k), "floor": audio_floor_share(wav16k), "seconds": len(wav16k) / 16000}
    if text:
        hypothesis, _ = transcribe(wav16k)
        row["errors"], row["words"] = word_errors(text, hypothesis)
        row["hypothesis"] = hypothesis
    emb = embed(wav16k)
    row["embedding"] = emb
    if reference is not None:
        row["cosine"] = cosine(emb, reference)
    return row


def mark_nearest(rows: list[dict], references: dict[str, np.ndarray]) -> None:
    """Sets `nearest_own` on every row that has a speaker among `references` (and drops the embedding)."""
    for row in rows:
        emb = row.pop("embedding", None)
        if emb is not None and row.get("speaker") in references:
            row["nearest_own"] = nearest_speaker(emb, references) == row["speaker"]


def _mean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def pool(rows: list[dict]) -> dict:
    """Figures over a set of clips: means per clip; WER pooled over the words of the clips with a transcript."""
    words = sum(r.get("words", 0) for r in rows)
    return {"clips": len(rows), "dnsmos": _mean(rows, "dnsmos"),
            "wer": sum(r.get("errors", 0) for r in rows) / words if words else None,
            "cosine": _mean(rows, "cosine"), "nearest_own": _mean(rows, "nearest_own"),
            "floor": _mean(rows, "floor"), "synth_floor": _mean(rows, "synth_floor"),
            "stopped": _mean(rows, "stopped")}


# Paired bootstrap of a difference between two systems on the same clips: the clips are resampled, not the words,
# because one clip's errors come together (a garbled name costs three words at once). On the 80 clips of
# models/README.md's real-voice table the default's WER excess over Griffin-Lim, +0.033, spans [+0.000, +0.067].
BOOTSTRAP_RESAMPLES = 2000
DIFFERENCE_KEYS = ("dnsmos", "wer", "cosine")


def _figure(rows: list[dict], key: str) -> float | None:
    return pool(rows)[key]


def paired_difference(rows: list[dict], baseline: list[dict], key: str, resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = 0) -> dict | None:
    """`key`'s figure of `rows` minus `baseline`'s over the clips both have (paired by speaker and sentence),
    with a 95% paired-bootstrap interval; None where fewer than two clips pair or the figure is missing."""
    theirs = {(r["speaker"], r["sentence"]): r for r in baseline}
    pairs = [(r, theirs[(r["speaker"], r["sentence"])]) for r in rows if (r["speaker"], r["sentence"]) in theirs]
    ours, base = [p[0] for p in pairs], [p[1] for p in pairs]
    figure, base_figure = _figure(ours, key), _figure(base, key)
    if len(pairs) < 2 or figure is None or base_figure is None:
        return None
    rng = np.random.RandomState(seed)
    draws = []
    for _ in range(resamples):
        pick = rng.randint(0, len(pairs), len(pairs))
        a, b = _figure([ours[i] for i in pick], key), _figure([base[i] for i in pick], key)
        if a is not None and b is not None:  # a draw of clips without words has no WER
            draws.append(a - b)
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"difference": figure - base_figure, "low": float(low), "high": float(high), "clips": len(pairs)}
