"""Synthesizer service: text + speaker embedding -> mel spectrogram (Tacotron, RTVC-compatible)."""
from fastapi import FastAPI

from common.accents import served_accents
from common.openapi import transform_schema
from common.service import create_app, include_routers, run_model
from synthesizer_svc.routes import router
from synthesizer_svc.runtime import load_runtime
from synthesizer_svc.schemas import state_accents
from synthesizer_svc.settings import SynthesizerSettings
from synthesizer_svc.work import attach_batcher

__all__ = ["SynthesizerSettings", "create"]


async def _load(app: FastAPI) -> None:
    app.state.runtime = attach_batcher(await run_model(load_runtime, app.state.settings))


async def _close(app: FastAPI) -> None:
    await app.state.runtime.batcher.close()


def create(settings: SynthesizerSettings | None = None) -> FastAPI:
    app = create_app("synthesizer", settings or SynthesizerSettings(), load=_load, close=_close,
                     description="Tacotron synthesizer (RTVC architecture): text + speaker embedding -> mel.")
    include_routers(app, router)
    accents = served_accents(app.state.settings.accent_checkpoints())
    transform_schema(app, lambda schema: state_accents(schema, accents))
    return app
