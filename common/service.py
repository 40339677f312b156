"""App factory every service uses: logging, request ids, metrics, auth, limits, CORS, health and readiness."""
import asyncio
import functools
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware

from common.config import ServiceSettings
from common.errors import APIError, error_response, install_error_handlers
from common.logs import configure_logging, request_id_var
from common.metrics import IN_FLIGHT, LATENCY, REQUESTS

log = logging.getLogger("voxclone.service")
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json", "/", "/ui", "/static")


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or None


def rate_limit_key(request: Request) -> str:
    key = presented_key(request)
    # A digest, not the key: the limiter logs its bucket names.
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"ip:{request.client.host if request.client else 'unknown'}"


def make_auth_dependency(settings: ServiceSettings):
    keys = [k.encode() for k in settings.key_list()]

    async def require_api_key(request: Request) -> None:
        if not keys:
            return
        given = (presented_key(request) or "").encode()
        # Compare against every key so timing says nothing about which (or whether one) matched.
        ok = False
        for k in keys:
            ok |= hmac.compare_digest(given, k)
        if not ok:
            raise APIError(401, "unauthorized", "missing or invalid API key (X-API-Key or Authorization: Bearer)",
                           headers={"WWW-Authenticate": "Bearer"})
    return require_api_key


def create_app(service: str, settings: ServiceSettings, load: Callable[[FastAPI], Awaitable[None]] | None = None,
               ready: Callable[[FastAPI], Awaitable[dict]] | None = None, description: str = "",
               version: str = "0.1.0", close: Callable[[FastAPI], Awaitable[None]] | None = None) -> FastAPI:
    """`load` runs once at start-up (models); `ready` reports extra readiness checks {name: ok}."""

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

    app = FastAPI(title=f"voxclone {service}", description=description, version=version, lifespan=lifespan)
    app.state.settings = settings
    app.state.service = service
    install_error_handlers(app)

    limiter = Limiter(key_func=rate_limit_key, default_limits=[settings.rate_limit] if settings.rate_limit else [],
                      storage_uri=settings.redis_url or "memory://", headers_enabled=True)
    app.state.limiter = limiter

    @app.exception_handler(RateLimitExceeded)
    async def _rate_limited(request: Request, exc: RateLimitExceeded):
        return error_response(request, 429, "rate_limited", f"rate limit exceeded: {exc.detail}",
                              headers={"Retry-After": "60"})

    app.add_middleware(BodyLimitMiddleware, limit=settings.max_upload_bytes)
    if settings.rate_limit:
        app.add_middleware(SlowAPIASGIMiddleware)
    if settings.origin_list():
        app.add_middleware(CORSMiddleware, allow_origins=settings.origin_list(), allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["X-Request-ID"])

    auth = make_auth_dependency(settings)

    async def _auth_failure(request: Request):
        if request.method == "OPTIONS" or _is_open(request.url.path):
            return None
        try:
            await auth(request)
        except APIError as exc:
            return error_response(request, exc.status, exc.code, exc.message, exc.headers)
        return None

    @app.middleware("http")
    async def _envelope(request: Request, call_next):
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
        token = request_id_var.set(rid)
        start = time.perf_counter()
        IN_FLIGHT.labels(service).inc()
        try:
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > settings.max_upload_bytes:
                response = error_response(request, 413, "payload_too_large",
                                          f"request body of {int(length)} bytes exceeds {settings.max_upload_bytes}")
            elif (denied := await _auth_failure(request)) is not None:
                response = denied
            else:
                response = await call_next(request)
            found = request.scope.get("route")
            # Label by route template, never by raw path: unknown paths must not grow the metric set.
            route = getattr(found, "path", "unmatched")
        finally:
            IN_FLIGHT.labels(service).dec()
            request_id_var.reset(token)
        elapsed = time.perf_counter() - start
        REQUESTS.labels(service, route, request.method, str(response.status_code)).inc()
        LATENCY.labels(service, route).observe(elapsed)
        response.headers["X-Request-ID"] = rid
        log.info("request", extra={"method": request.method, "route": route, "status": response.status_code,
                                   "ms": round(elapsed * 1000, 1), "request_id": rid})
        return response

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process is serving")
    async def healthz():
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Readiness: models loaded and dependencies reachable")
    async def readyz(request: Request):
        checks = {"models_loaded": bool(getattr(request.app.state, "loaded", False))}
        if ready is not None and checks["models_loaded"]:
            checks.update(await ready(request.app))
        ok = all(v if isinstance(v, bool) else v.get("ok", False) for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not_ready", "service": service, "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics")
    async def metrics():
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


class BodyLimitMiddleware:
    """Stop reading a request body past `limit` bytes, also when no Content-Length was sent (chunked)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise APIError(413, "payload_too_large", f"request body exceeds {self.limit} bytes")
            return message

        try:
            await self.app(scope, limited_receive, send)
        except APIError as exc:
            from starlette.requests import Request as _Request
            await error_response(_Request(scope), exc.status, exc.code, exc.message)(scope, receive, send)


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(("/static/", "/docs"))


# Every torch call of a service runs on this one thread. PyTorch's CPU thread pool belongs to the thread that
# starts parallel work: a second thread calling into torch brings up its own pool, and the pools' spinning
# threads fight over the cores (measured: the same Tacotron call 3x slower from a second thread on 2 cores).
MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")


async def run_model(fn, *args, **kwargs):
    """Model loading and inference: on the model thread, so the event loop keeps answering health checks."""
    return await asyncio.get_running_loop().run_in_executor(MODEL_THREAD, functools.partial(fn, *args, **kwargs))


async def run_blocking(fn, *args, **kwargs):
    """Other blocking work without torch (audio decoding, Griffin-Lim) on the default thread pool."""
    return await asyncio.to_thread(fn, *args, **kwargs)
