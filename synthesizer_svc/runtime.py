"""The loaded Tacotron and what a request does with it: validate, batch with concurrent requests, synthesize."""
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from common.batching import MicroBatcher
from common.checkpoints import file_sha256
from common.errors import APIError, bad_request
from common.metrics import MODEL_LOAD, STAGE_LATENCY
from common.service import run_model
from common.text import split_sentences
from synthesizer_svc.inference import load_synthesizer, synthesize_texts
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
    MODEL_LOAD.labels("synthesizer", "tacotron").set(time.perf_counter() - start)
    info = {"model": "tacotron-sv2tts", "checkpoint": path, "sha256": file_sha256(path),
            "hparams": asdict(model.cfg), "r": model.r, "step": int(model.step), "sample_rate": 16000,
            "hop_length": 200}
    return SynthesizerRuntime(settings, model, info)


def attach_batcher(runtime: SynthesizerRuntime) -> SynthesizerRuntime:
    """Created on the event loop (the batcher's queue belongs to it)."""
    settings = runtime.settings
    runtime.batcher = MicroBatcher("synthesizer", lambda max_frames, items: run_batch(runtime, max_frames, items),
                                   settings.micro_batch_items, settings.micro_batch_window_ms / 1000,
                                   run_in=run_model)
    return runtime


def validate_inputs(settings: SynthesizerSettings, texts: list[str], embeddings: np.ndarray, emb_size: int):
    if not texts:
        raise bad_request("text: give at least one text")
    if len(texts) > settings.max_batch_texts:
        raise APIError(413, "too_many_texts", f"text: at most {settings.max_batch_texts} texts per request")
    for i, t in enumerate(texts):
        if len(t) > settings.max_text_chars:
            raise APIError(413, "text_too_long",
                           f"text[{i}]: {len(t)} characters exceed the {settings.max_text_chars} limit")
        if not any(c.isalnum() for c in t):
            raise bad_request(f"text[{i}]: has nothing to speak")
    if embeddings.shape[-1] != emb_size:
        raise bad_request(f"embedding: expected {emb_size} values per speaker, got {embeddings.shape[-1]}")
    if embeddings.ndim == 2 and embeddings.shape[0] not in (1, len(texts)):
        raise bad_request(f"embedding: {embeddings.shape[0]} embeddings for {len(texts)} texts")
    return np.broadcast_to(embeddings.reshape(-1, emb_size), (len(texts), emb_size)).copy()


def run_synthesis(runtime: SynthesizerRuntime, texts, embeddings, seed=None, max_frames=None):
    settings = runtime.settings
    # Always called on the one model thread (run_model), so a seeded call never interleaves with another
    # call's draws from torch's global RNG (pre-net dropout stays on at inference).
    start = time.perf_counter()
    out = synthesize_texts(runtime.model, texts, embeddings,
                           split=lambda t: split_sentences(t, settings.sentence_chars),
                           max_frames=min(max_frames or settings.max_frames_per_sentence,
                                          settings.max_frames_per_sentence), seed=seed)
    STAGE_LATENCY.labels("synthesizer", "tacotron").observe(time.perf_counter() - start)
    return out


def run_batch(runtime: SynthesizerRuntime, max_frames, items: list) -> list:
    """Several requests' texts as one synthesis batch (RTVC batches a request's sentences the same way)."""
    texts = [t for request_texts, _ in items for t in request_texts]
    out = run_synthesis(runtime, texts, np.concatenate([emb for _, emb in items]), None, max_frames)
    results, k = [], 0
    for request_texts, _ in items:
        results.append(out[k:k + len(request_texts)])
        k += len(request_texts)
    return results


async def synthesize_request(runtime: SynthesizerRuntime, texts, embeddings, seed=None, max_frames=None):
    """Seeded requests run alone (reproducible); others may share a batch with concurrent requests."""
    if seed is None and runtime.settings.micro_batch_items > 1:
        return await runtime.batcher.submit(max_frames, (texts, embeddings))
    return await run_model(run_synthesis, runtime, texts, embeddings, seed, max_frames)
