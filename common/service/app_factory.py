"""`create_app`: the FastAPI app every service starts from. A service adds its own routers to it."""
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware

from common.config import ServiceSettings
from common.errors import error_response, install_error_handlers
from common.logs import configure_logging
from common.service.auth import make_auth_dependency, rate_limit_key
from common.service.health import ReadyCheck, ops_router
from common.service.middleware import BodyLimitMiddleware, envelope_middleware
from common.service.threads import run_model

log = logging.getLogger("voxclone.service")
Hook = Callable[[FastAPI], Awaitable[None]]


def make_lifespan(service: str, settings: ServiceSettings, load: Hook | None, close: Hook | None):
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(service, settings.log_level)
        if settings.torch_threads:
            import torch
            await run_model(torch.set_num_threads, settings.torch_threads)
        app.state.loaded = False
        if load is not None:
            await load(app)
        app.state.loaded = True
        log.info("ready", extra={"port": settings.port})
        yield
        if close is not None:
            await close(app)
    return lifespan


def install_rate_limit(app: FastAPI, settings: ServiceSettings) -> None:
    app.state.limiter = Limiter(key_func=rate_limit_key,
                                default_limits=[settings.rate_limit] if settings.rate_limit else [],
                                storage_uri=settings.redis_url or "memory://", headers_enabled=True)

    @app.exception_handler(RateLimitExceeded)
    async def _rate_limited(request: Request, exc: RateLimitExceeded):
        return error_response(request, 429, "rate_limited", f"rate limit exceeded: {exc.detail}",
                              headers={"Retry-After": "60"})


def create_app(service: str, settings: ServiceSettings, load: Hook | None = None, ready: ReadyCheck | None = None,
               description: str = "", version: str = "0.1.0", close: Hook | None = None) -> FastAPI:
    """`load` runs once at start-up (models); `ready` reports extra readiness checks {name: ok}."""
    app = FastAPI(title=f"voxclone {service}", description=description, version=version,
                  lifespan=make_lifespan(service, settings, load, close))
    app.state.settings = settings
    app.state.service = service
    install_error_handlers(app)
    install_rate_limit(app, settings)
    # Added innermost first: the envelope (request id, auth, metrics) wraps everything else.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    if settings.rate_limit:
        app.add_middleware(SlowAPIASGIMiddleware)
    if settings.origin_list():
        app.add_middleware(CORSMiddleware, allow_origins=settings.origin_list(), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["X-Request-ID"])
    app.middleware("http")(envelope_middleware(service, settings, make_auth_dependency(settings)))
    app.include_router(ops_router(service, ready))
    return app
