"""Per-request plumbing: the envelope (request id, auth, size check, metrics, one log line) and the body limit."""
import logging
import time
import uuid

from fastapi import Request
from starlette.requests import Request as StarletteRequest

from common.config import ServiceSettings
from common.errors import APIError, error_response
from common.logs import request_id_var
from common.metrics import IN_FLIGHT, LATENCY, REQUESTS
from common.service.auth import is_open
from common.service.ratelimit import RateLimits, too_many

log = logging.getLogger("voxclone.service")


def envelope_middleware(service: str, settings: ServiceSettings, auth):
    """The outermost HTTP middleware of every service; `auth` is `make_auth_dependency(settings)`."""
    limits = RateLimits(settings)

    async def refused(request: Request):
        """The 401 or 429 a request gets before it reaches a route, or None."""
        if request.method == "OPTIONS" or is_open(request.url.path):
            return None
        if settings.key_list() and (wait := await limits.over_auth_failures(request)):
            return too_many(request, "too many failed API key checks from this address", wait)
        try:
            await auth(request)
        except APIError as exc:
            await limits.auth_failed(request)
            return error_response(request, exc.status, exc.code, exc.message, exc.headers)
        if wait := await limits.over_rate(request):
            return too_many(request, settings.rate_limit, wait)
        return None

    def oversized(request: Request):
        header_bytes = sum(len(k) + len(v) for k, v in request.scope["headers"])
        if header_bytes > settings.max_header_bytes:
            return error_response(request, 431, "headers_too_large",
                                  f"request headers of {header_bytes} bytes exceed {settings.max_header_bytes}")
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_upload_bytes:
            return error_response(request, 413, "payload_too_large",
                                  f"request body of {int(length)} bytes exceeds {settings.max_upload_bytes}")
        return None

    async def envelope(request: Request, call_next):
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
        token = request_id_var.set(rid)
        start = time.perf_counter()
        IN_FLIGHT.labels(service).inc()
        try:
            response = oversized(request) or await refused(request) or await call_next(request)
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

    return envelope


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
            await error_response(StarletteRequest(scope), exc.status, exc.code, exc.message)(scope, receive, send)
