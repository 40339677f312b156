"""Speaker encoder service: audio -> 256-d unit-norm speaker embedding."""
from fastapi import FastAPI

from common.service import create_app, run_model
from encoder_svc.routes import router
from encoder_svc.runtime import load_runtime
from encoder_svc.settings import EncoderSettings

__all__ = ["EncoderSettings", "create"]


async def _load(app: FastAPI) -> None:
    app.state.runtime = await run_model(load_runtime, app.state.settings)


def create(settings: EncoderSettings | None = None) -> FastAPI:
    app = create_app("encoder", settings or EncoderSettings(), load=_load,
                     description="GE2E speaker encoder (RTVC-compatible).")
    app.include_router(router)
    return app
