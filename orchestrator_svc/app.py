"""Orchestrator: end-to-end cloning over the stage services, voice library, OpenAI-compatible speech, jobs.

Where things are: settings.py (every setting), wiring.py (builds clients, pipeline and stores once), deps.py
(what routes get through Depends), routes/ (one APIRouter per area), and the plain functions the routes call:
speaking.py, voice_library.py, job_api.py, over pipeline.py and jobs/.
"""
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from common.service import create_app, include_routers, run_blocking
from orchestrator_svc import wiring
from orchestrator_svc.form_schema import state_forms_in_schema
from orchestrator_svc.responses import document_errors, install_allow_header
from orchestrator_svc.routes import ALL_ROUTERS
from orchestrator_svc.routes.pages import STATIC
from orchestrator_svc.settings import OrchestratorSettings

__all__ = ["OrchestratorSettings", "create"]


async def _startup(app: FastAPI) -> None:
    app.state.orchestrator = wiring.build(app.state.settings, app.state.stage_mounts)


async def _shutdown(app: FastAPI) -> None:
    await app.state.orchestrator.aclose()


def stage_key_problem(s: OrchestratorSettings) -> str | None:
    if s.key_list() and not s.stage_api_key:
        return ("API_KEYS is set but STAGE_API_KEY is not: the stages reject the orchestrator's calls when they "
                "require keys; set STAGE_API_KEY to a key the stages accept")
    return None


async def stage_readiness(parts: wiring.Orchestrator) -> dict:
    """Every stage replica's /readyz and whether it takes our key; our background tasks; with the Redis queue,
    Redis and its live workers."""
    p = parts.pipeline
    checks = {}
    for name, pool in (("encoder", p.encoder), ("synthesizer", p.synthesizer), ("vocoder", p.vocoder)):
        replicas = await pool.healthy()
        checks[name] = {"ok": any(replicas.values()), "replicas": replicas}
        if checks[name]["ok"] and (problem := await pool.key_problem()):
            checks[name].update(ok=False, error=problem)
    if problem := stage_key_problem(parts.settings):
        checks["stage_api_key"] = {"ok": False, "error": problem}
    checks["background"] = parts.background.check()
    if parts.settings.redis_jobs:
        try:
            workers = await run_blocking(parts.jobs.workers)
            checks["jobs"] = {"ok": True, "queue": "redis", "workers": workers}
        except Exception as exc:  # noqa: BLE001 - any Redis failure means jobs cannot be accepted
            checks["jobs"] = {"ok": False, "queue": "redis", "error": type(exc).__name__}
    return checks


async def _ready(app: FastAPI) -> dict:
    return await stage_readiness(app.state.orchestrator)


def create(settings: OrchestratorSettings | None = None, stage_mounts: dict | None = None) -> FastAPI:
    """`stage_mounts` (URL -> httpx transport): the stages in this process, for tests; normally over HTTP."""
    app = create_app("orchestrator", settings or OrchestratorSettings(), load=_startup, ready=_ready,
                     close=_shutdown,
                     description="Voice cloning end to end: reference audio + text -> speech in that voice.")
    app.state.stage_mounts = stage_mounts
    include_routers(app, *ALL_ROUTERS)
    document_errors(app)
    state_forms_in_schema(app)
    install_allow_header(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
