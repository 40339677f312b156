"""Synthesizer service: text + speaker embedding -> mel spectrogram (Tacotron, RTVC-compatible)."""
from fastapi import FastAPI

from common.service import create_app, run_model
from synthesizer_svc.routes import router
from synthesizer_svc.runtime import attach_batcher, load_runtime
from synthesizer_svc.settings import SynthesizerSettings

__all__ = ["SynthesizerSettings", "create"]


async def _load(app: FastAPI) -> None:
    app.state.runtime = attach_batcher(await run_model(load_runtime, app.state.settings))


def create(settings: SynthesizerSettings | None = None) -> FastAPI:
    app = create_app("synthesizer", settings or SynthesizerSettings(), load=_load,
                     description="Tacotron synthesizer (RTVC architecture): text + speaker embedding -> mel.")
    app.include_router(router)
    return app
