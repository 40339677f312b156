"""Vocoder service: RTVC mel -> audio with HiFi-GAN (22.05 kHz, the default), WaveRNN (RTVC-compatible, 16 kHz)
or weight-free Griffin-Lim (16 kHz). Every response says its sample rate."""
from fastapi import FastAPI

from common.service import create_app, include_routers, run_model
from vocoder_svc.routes import router
from vocoder_svc.runtime import attach_batcher, load_runtime
from vocoder_svc.settings import VocoderSettings

__all__ = ["VocoderSettings", "create"]


async def _load(app: FastAPI) -> None:
    app.state.runtime = attach_batcher(await run_model(load_runtime, app.state.settings))


async def _close(app: FastAPI) -> None:
    await app.state.runtime.batcher.close()


def create(settings: VocoderSettings | None = None) -> FastAPI:
    app = create_app("vocoder", settings or VocoderSettings(), load=_load, close=_close,
                     description="HiFi-GAN V1 (22.05 kHz), WaveRNN (RTVC fatchord, RAW 9-bit) and "
                                 "Griffin-Lim vocoders.")
    include_routers(app, router)
    return app
