"""The ops routes every service has: liveness, readiness (models loaded + the service's own checks), metrics."""
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadyCheck = Callable[[FastAPI], Awaitable[dict]]


def readiness_status(checks: dict) -> bool:
    """A check is a bool or a dict with "ok"; all must hold."""
    return all(v if isinstance(v, bool) else v.get("ok", False) for v in checks.values())


def ops_router(service: str, ready: ReadyCheck | None = None) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="Liveness: the process is serving")
    async def healthz():
        return {"status": "ok", "service": service}

    @router.get("/readyz", summary="Readiness: models loaded and dependencies reachable")
    async def readyz(request: Request):
        checks = {"models_loaded": bool(getattr(request.app.state, "loaded", False))}
        if ready is not None and checks["models_loaded"]:
            checks.update(await ready(request.app))
        ok = readiness_status(checks)
        return JSONResponse({"status": "ready" if ok else "not_ready", "service": service, "checks": checks},
                            status_code=200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics")
    async def metrics():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
