"""HTTP clients for the stage services: pooled connections, round-robin over replicas, bounded retries.

A replica that refuses connections is skipped for `cooldown_s`; requests go to the others (per-stage scaling).
Errors are mapped to what the caller of the orchestrator should see: 503 no replica or a busy one (with its
Retry-After), 504 timeout, 502 a stage failed, and a stage's own 4xx passes through with its message.
"""
import asyncio
import itertools
import logging
import time

import httpx

from common.errors import APIError
from common.logs import request_id_var

log = logging.getLogger("voxclone.clients")


class StagePool:
    def __init__(self, stage: str, urls: list[str], client: httpx.AsyncClient, retries: int = 2,
                 cooldown_s: float = 2.0, api_key: str = ""):
        if not urls:
            raise ValueError(f"no URL configured for the {stage} stage")
        self.stage, self.urls, self.client = stage, [u.rstrip("/") for u in urls], client
        self.retries, self.cooldown_s, self.api_key = retries, cooldown_s, api_key
        self._next = itertools.cycle(range(len(self.urls)))
        self._down_until = [0.0] * len(self.urls)

    def _pick(self) -> int:
        now = time.monotonic()
        for _ in range(len(self.urls)):
            i = next(self._next)
            if self._down_until[i] <= now:
                return i
        return min(range(len(self.urls)), key=lambda i: self._down_until[i])  # all down: try the soonest

    def _headers(self, extra: dict | None) -> dict:
        headers = {"X-Request-ID": request_id_var.get() or ""}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        return {**headers, **(extra or {})}

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return await self._send(method, path, False, **kwargs)

    async def open_stream(self, path: str, **kwargs) -> httpx.Response:
        """A POST whose body is read as it arrives: the response (status checked, body unread) for the caller to
        iterate and `aclose`. Only the connection is retried, never once the stage has begun to answer."""
        return await self._send("POST", path, True, **kwargs)

    async def _send(self, method: str, path: str, stream: bool, **kwargs) -> httpx.Response:
        headers = self._headers(kwargs.pop("headers", None))
        last_error = None
        for attempt in range(self.retries + 1):
            i = self._pick()
            request = self.client.build_request(method, self.urls[i] + path, headers=headers, **kwargs)
            try:
                resp = await self.client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # Nothing was processed (or the replica died mid-request): safe to send elsewhere.
                self._down_until[i] = time.monotonic() + self.cooldown_s
                last_error = exc
                log.warning("stage unreachable", extra={"stage": self.stage, "url": self.urls[i],
                                                        "error": type(exc).__name__, "attempt": attempt})
                await asyncio.sleep(0.05 * attempt)
                continue
            except httpx.TimeoutException:
                raise APIError(504, "stage_timeout", f"the {self.stage} stage did not answer in time") from None
            if resp.status_code >= 400 and stream:  # the error's body, for its message
                await resp.aread()
                await resp.aclose()
            if resp.status_code == 503 and attempt < self.retries:
                self._down_until[i] = time.monotonic() + self.cooldown_s
                last_error = RuntimeError("503 from replica")
                continue
            return check_stage_response(self.stage, resp)
        raise APIError(503, "stage_unavailable",
                       f"the {self.stage} stage is unavailable ({type(last_error).__name__}); retry shortly",
                       headers={"Retry-After": "2"})

    async def post(self, path: str, **kwargs) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def healthy(self) -> dict:
        """Readiness of every replica: {url: bool}."""
        async def one(url):
            try:
                resp = await self.client.get(url + "/readyz", headers=self._headers(None), timeout=2.0)
                return resp.status_code == 200
            except httpx.HTTPError:
                return False
        results = await asyncio.gather(*(one(u) for u in self.urls))
        return dict(zip(self.urls, results))

    async def key_problem(self) -> str | None:
        """Whether the stage accepts our key: its /v1/info needs one whenever the stage has API_KEYS."""
        try:
            resp = await self.client.get(self.urls[0] + "/v1/info", headers=self._headers(None), timeout=2.0)
        except httpx.HTTPError:
            return None  # reachability is the readiness check's business
        if resp.status_code in (401, 403):
            return (f"the {self.stage} stage rejects the orchestrator's key ({resp.status_code}): set STAGE_API_KEY "
                    "to one of the stages' API_KEYS")
        return None


def check_stage_response(stage: str, resp: httpx.Response) -> httpx.Response:
    if resp.status_code < 400:
        return resp
    try:
        err = resp.json().get("error", {})
        message, code = err.get("message", resp.text[:200]), err.get("code", "stage_error")
    except ValueError:
        message, code = resp.text[:200], "stage_error"
    if resp.status_code == 429 or (resp.status_code == 503 and code == "busy"):
        # The stage's limit (its rate limit, or all its MAX_CONCURRENT slots and MAX_QUEUED places taken), not
        # the user's: the user may retry, so 503 with the stage's Retry-After, never a 502 that reads as a
        # failure. Users' own 429s come from the orchestrator's limiter.
        retry_after = resp.headers.get("retry-after", "")
        raise APIError(503, "stage_busy", f"the {stage} stage is busy; retry shortly",
                       headers={"Retry-After": retry_after if retry_after.isdigit() else "1"})
    if 400 <= resp.status_code < 500 and resp.status_code not in (401, 403):
        raise APIError(resp.status_code, code, f"{stage}: {message}")
    status = 503 if resp.status_code == 503 else 502
    raise APIError(status, "stage_failed", f"the {stage} stage failed ({resp.status_code}): {message}")
