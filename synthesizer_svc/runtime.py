"""The loaded Tacotron and the checks a request passes before it (synthesizer_svc.work runs the synthesis)."""
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from common.batching import MicroBatcher
from common.checkpoints import file_sha256
from common.errors import APIError, bad_request
from common.metrics import MODEL_LOAD
from common.text import english_cleaners, unspeakable_reason
from common.wire import check_embedding_range
from synthesizer_svc.inference import load_synthesizer
from synthesizer_svc.model import Tacotron
from synthesizer_svc.settings import SynthesizerSettings


@dataclass
class SynthesizerRuntime:
    settings: SynthesizerSettings
    model: Tacotron
    info: dict
    batcher: MicroBatcher | None = field(default=None, repr=False)


def load_runtime(settings: SynthesizerSettings) -> SynthesizerRuntime:
    path = settings.synthesizer_checkpoint
    if not os.path.exists(path):
        raise RuntimeError(f"synthesizer checkpoint not found: {path} (set SYNTHESIZER_CHECKPOINT)")
    start = time.perf_counter()
    model = load_synthesizer(path)
    english_cleaners("1")  # loads inflect now rather than in the first request
    MODEL_LOAD.labels("synthesizer", "tacotron").set(time.perf_counter() - start)
    # The file's name and checksum, never its path: /v1/info must not map the server's file system.
    info = {"model": "tacotron-sv2tts", "checkpoint": os.path.basename(path), "sha256": file_sha256(path),
            "hparams": asdict(model.cfg), "r": model.r, "step": int(model.step), "sample_rate": 16000,
            "hop_length": 200}
    return SynthesizerRuntime(settings, model, info)


def validate_inputs(settings: SynthesizerSettings, texts: list[str], embeddings: np.ndarray, emb_size: int):
    if not texts:
        raise bad_request("text: give at least one text")
    if len(texts) > settings.max_batch_texts:
        raise APIError(413, "too_many_texts", f"text: at most {settings.max_batch_texts} texts per request")
    for i, t in enumerate(texts):
        if len(t) > settings.max_text_chars:
            raise APIError(413, "text_too_long",
                           f"text[{i}]: {len(t)} characters exceed the {settings.max_text_chars} limit")
        if reason := unspeakable_reason(t):
            raise bad_request(f"text[{i}]: {reason}")
    if embeddings.shape[-1] != emb_size:
        raise bad_request(f"embedding: expected {emb_size} values per speaker, got {embeddings.shape[-1]}")
    check_embedding_range(embeddings)
    if embeddings.ndim == 2 and embeddings.shape[0] not in (1, len(texts)):
        raise bad_request(f"embedding: {embeddings.shape[0]} embeddings for {len(texts)} texts")
    return np.broadcast_to(embeddings.reshape(-1, emb_size), (len(texts), emb_size)).copy()
