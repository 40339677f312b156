"""Synthesizer service: text + speaker embedding -> mel spectrogram (Tacotron, RTVC-compatible)."""
import os
import time
from dataclasses import asdict

import numpy as np
from fastapi import FastAPI, Request
from pydantic import Field

from common.batching import MicroBatcher
from common.cancel import request_work
from common.checkpoints import file_sha256
from common.config import ServiceSettings
from common.errors import APIError, bad_request
from common.metrics import MODEL_LOAD
from common.paths import DEFAULT_SYNTHESIZER
from common.service import create_app, run_model
from common.text import unspeakable_reason
from common.wire import decode_array, encode_array
from synthesizer_svc.inference import BATCH_SIZE, load_synthesizer
from synthesizer_svc.schemas import (
    SeedInferenceRequest,
    SeedInferenceResponse,
    SynthesizedMel,
    SynthesizeRequest,
    SynthesizeResponse,
)
from synthesizer_svc.work import run_batch, synthesize_request


class SynthesizerSettings(ServiceSettings):
    port: int = 8002
    synthesizer_checkpoint: str = str(DEFAULT_SYNTHESIZER)
    max_frames_per_sentence: int = 1000
    max_batch_texts: int = 32
    sentence_chars: int = 200
    micro_batch_items: int = Field(8, description="unseeded concurrent requests synthesized in one batch (1: off)")
    micro_batch_window_ms: float = Field(2.0, description="how long a request waits for company when idle")
    sentences_per_turn: int = Field(8, ge=1, description="sentences of one request per model call; a longer "
                                                         "request takes turns with the others (synthesizer_svc.work)")


async def _load(app: FastAPI) -> None:
    settings: SynthesizerSettings = app.state.settings
    path = settings.synthesizer_checkpoint
    if not os.path.exists(path):
        raise RuntimeError(f"synthesizer checkpoint not found: {path} (set SYNTHESIZER_CHECKPOINT)")
    start = time.perf_counter()
    app.state.model = await run_model(load_synthesizer, path)
    MODEL_LOAD.labels("synthesizer", "tacotron").set(time.perf_counter() - start)
    # The file's name and checksum, never its path: /v1/info must not map the server's file system.
    app.state.info = {"model": "tacotron-sv2tts", "checkpoint": os.path.basename(path), "sha256": file_sha256(path),
                      "hparams": asdict(app.state.model.cfg), "r": app.state.model.r,
                      "step": int(app.state.model.step), "sample_rate": 16000, "hop_length": 200}
    # One call holds at most one synthesis batch (BATCH_SIZE sentences), so a request that joins it or waits
    # behind it waits for one batch, not several.
    app.state.batcher = MicroBatcher("synthesizer", lambda max_frames, items: run_batch(app, max_frames, items),
                                     settings.micro_batch_items, settings.micro_batch_window_ms / 1000,
                                     run_in=run_model, weight=lambda item: len(item[0]), max_weight=BATCH_SIZE)


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
    if embeddings.ndim == 2 and embeddings.shape[0] not in (1, len(texts)):
        raise bad_request(f"embedding: {embeddings.shape[0]} embeddings for {len(texts)} texts")
    return np.broadcast_to(embeddings.reshape(-1, emb_size), (len(texts), emb_size)).copy()


def create(settings: SynthesizerSettings | None = None) -> FastAPI:
    settings = settings or SynthesizerSettings()
    app = create_app("synthesizer", settings, load=_load,
                     description="Tacotron synthesizer (RTVC architecture): text + speaker embedding -> mel.")

    @app.get("/v1/info", tags=["synthesizer"])
    async def info(request: Request):
        return request.app.state.info

    @app.post("/v1/synthesize", tags=["synthesizer"], response_model=SynthesizeResponse)
    async def synthesize(body: SynthesizeRequest, request: Request):
        texts = [body.text] if isinstance(body.text, str) else body.text
        emb = decode_array(body.embedding, "embedding", ndim=(1, 2))
        emb = validate_inputs(settings, texts, emb, request.app.state.model.cfg.speaker_embedding_size)
        async with request_work(request, settings.compute_deadline_s, "synthesizer") as token:
            results = await synthesize_request(request.app, texts, emb, token, body.seed, body.max_frames)
        mels = []
        for mel, stopped, sentences, aligns in results:
            mels.append(SynthesizedMel(
                mel=encode_array(mel, body.compact), length=mel.shape[1], stopped=stopped, sentences=sentences,
                alignments=[encode_array(a, body.compact) for a in aligns] if body.return_alignments else None))
        return SynthesizeResponse(mels=mels)

    @app.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
    async def inference(body: SeedInferenceRequest, request: Request):
        """The seed projects' shape: `{embed, text}` -> `{spec}` (80 x T)."""
        emb = decode_array(body.embed, "embed", ndim=(1,))
        emb = validate_inputs(settings, [body.text], emb, request.app.state.model.cfg.speaker_embedding_size)
        async with request_work(request, settings.compute_deadline_s, "synthesizer") as token:
            (mel, *_), = await synthesize_request(request.app, [body.text], emb, token)
        return SeedInferenceResponse(spec=mel.tolist())

    return app
