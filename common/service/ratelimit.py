"""RATE_LIMIT per key (or per address without one), and AUTH_FAILURE_LIMIT per client address.

A pure ASGI middleware that decides before the app runs and then passes every message through untouched.
slowapi's ASGI middleware, used before, re-sent the response start before every body message, so a
streamed response broke after its first chunk (a 44-byte WAV header, issue 27) and its headers put
Retry-After on every response.

Stage-to-stage calls carry STAGE_API_KEY and are never counted: the users behind them are counted once, by
the orchestrator, instead of all sharing the stage key's bucket. Failed key checks are counted per client
address; an address over AUTH_FAILURE_LIMIT gets 429 for everything that needs a key, right or wrong, so
guessing keys gets no answer at all until the window passes.

Counting is asynchronous (limits' `async+` storages; redis-py's asyncio client for Redis): a synchronous
Redis round trip on every request would stop the event loop, and every other request and health check with
it, for as long as Redis takes to answer.
"""
import hmac
import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string  # also builds the async+ storages
from starlette.requests import Request

from common.config import ServiceSettings
from common.errors import error_response
from common.service.auth import presented_key, rate_limit_key


class RateLimits:
    """The limits of one service and the storage they count in (memory, or Redis shared by replicas)."""

    def __init__(self, settings: ServiceSettings):
        self.window = MovingWindowRateLimiter(rate_storage(settings.redis_url))
        self.per_key = parse(settings.rate_limit) if settings.rate_limit else None
        self.auth_failures = parse(settings.auth_failure_limit) if settings.auth_failure_limit else None
        self.stage_key = settings.stage_api_key.encode()

    def is_stage_call(self, request: Request) -> bool:
        return bool(self.stage_key) and hmac.compare_digest((presented_key(request) or "").encode(), self.stage_key)

    async def retry_after(self, limit: RateLimitItem, *bucket: str) -> str:
        reset = (await self.window.get_window_stats(limit, *bucket)).reset_time
        return str(max(1, math.ceil(reset - time.time())))

    async def over_auth_failures(self, request: Request) -> str | None:
        """Retry-After seconds when this address has failed the key check too often, else None."""
        if self.auth_failures is None:
            return None
        bucket = client_address(request)
        if await self.window.test(self.auth_failures, "authfail", bucket):
            return None
        return await self.retry_after(self.auth_failures, "authfail", bucket)

    async def auth_failed(self, request: Request) -> None:
        if self.auth_failures is not None:
            await self.window.hit(self.auth_failures, "authfail", client_address(request))

    async def over_rate(self, request: Request) -> str | None:
        """Count this request against its key's RATE_LIMIT; Retry-After seconds when over it, else None."""
        if self.per_key is None or self.is_stage_call(request):
            return None
        bucket = rate_limit_key(request)
        if await self.window.hit(self.per_key, "rate", bucket):
            return None
        return await self.retry_after(self.per_key, "rate", bucket)


def rate_storage(redis_url: str):
    """Redis (shared by replicas) through redis-py's asyncio client, or this process's memory."""
    if not redis_url:
        return storage_from_string("async+memory://")
    return storage_from_string("async+" + redis_url, implementation="redispy")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def too_many(request: Request, what: str, retry_after: str):
    return error_response(request, 429, "rate_limited", f"rate limit exceeded: {what}; retry in {retry_after} s",
                          headers={"Retry-After": retry_after})
