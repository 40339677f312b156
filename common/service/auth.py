"""API keys (X-API-Key or Authorization: Bearer) and the per-key rate-limit bucket."""
import hashlib
import hmac

from fastapi import Request

from common.config import ServiceSettings
from common.errors import APIError

# Paths anyone may reach without a key: probes, metrics, docs and the web page.
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json", "/", "/ui", "/static")


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(("/static/", "/docs"))


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
