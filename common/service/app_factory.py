"""`create_app`: the FastAPI app every service starts from. A service adds its own routers to it."""
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from common.admission import Admission
from common.config import ServiceSettings, StageSettings
from common.errors import install_error_handlers
from common.logs import configure_logging
from common.openapi import state_settings_in_schema
from common.service.auth import make_auth_dependency
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


def include_routers(app: FastAPI, *routers: APIRouter) -> None:
    """Add the routers' routes to the app itself. FastAPI 0.165's `include_router` keeps each router behind one
    lazy wrapper entry in `app.routes`, and code that looks routes up in `app.routes` (slowapi's
    middleware, used before common/service/ratelimit.py) does not find them behind that wrapper. Our routers carry no prefix, so their routes are the same routes either way."""
    for router in routers:
        app.router.routes.extend(router.routes)


def create_app(service: str, settings: ServiceSettings, load: Hook | None = None, ready: ReadyCheck | None = None,
               description: str = "", version: str = "0.1.0", close: Hook | None = None) -> FastAPI:
    """`load` runs once at start-up (models); `ready` reports extra readiness checks {name: ok}."""
    app = FastAPI(title=f"voxclone {service}", description=description, version=version,
                  lifespan=make_lifespan(service, settings, load, close))
    app.state.settings = settings
    app.state.service = service
    if isinstance(settings, StageSettings):  # common.cancel.request_work admits model work through it
        app.state.admission = Admission(service, settings.max_concurrent, settings.max_queued)
    install_error_handlers(app)
    # Added innermost first: the envelope (request id, auth, metrics) wraps everything else.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    if settings.origin_list():
        app.add_middleware(CORSMiddleware, allow_origins=settings.origin_list(), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["X-Request-ID"])
    app.middleware("http")(envelope_middleware(service, settings, make_auth_dependency(settings)))
    include_routers(app, ops_router(service, ready))
    state_settings_in_schema(app, settings)
    return app
