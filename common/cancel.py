"""Work ends with its request: a token that model loops poll between steps, set when the client goes away,
when the request's compute deadline passes, or when the request is over for any other reason.

Without it an abandoned synthesis of 3 x 2000 characters ran on for 94 s and everything behind it waited
(issue 27). A check is an Event read and a clock read (well under a microsecond), so loops check every step.
"""
import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import asynccontextmanager

from common.metrics import WORK_STOPPED


class WorkStopped(Exception):
    """Raised inside a model loop whose request no longer wants the result. `status` is what the client gets
    (if it is still there): 504 for a passed deadline, 499 (nginx's "client closed request") otherwise."""

    def __init__(self, reason: str, status: int = 499, code: str = "client_closed_request"):
        super().__init__(reason)
        self.reason, self.status, self.code = reason, status, code


class WorkToken:
    def __init__(self, deadline_s: float | None = None):
        self._stopped = threading.Event()
        self._reason: WorkStopped | None = None
        self._on_stop: list[Callable[[], object]] = []
        self.deadline = time.monotonic() + deadline_s if deadline_s else None

    def stop(self, reason: str) -> None:
        if not self._stopped.is_set():
            self._reason = WorkStopped(reason)
            self._stopped.set()
            for callback in list(self._on_stop):
                callback()

    def on_stop(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call `callback` when the token is stopped (on the thread that stops it: the event loop, where
        request_work stops tokens); returns the function that forgets it again."""
        self._on_stop.append(callback)
        return lambda: callback in self._on_stop and self._on_stop.remove(callback)

    def expired(self) -> bool:
        return self._stopped.is_set() or (self.deadline is not None and time.monotonic() > self.deadline)

    def error(self) -> WorkStopped:
        if self._reason is not None:
            return self._reason
        return WorkStopped("the request's compute deadline passed (COMPUTE_DEADLINE_S)", 504, "deadline_exceeded")

    def check(self) -> None:
        if self.expired():
            raise self.error()


def check_all(tokens: Iterable[WorkToken | None]) -> Callable[[], None] | None:
    """The `check` a loop calls between steps when its work serves several requests: it raises only once
    none of them wants the result any more. None (no checks) when any of them has no token."""
    tokens = list(tokens)
    if not tokens or any(t is None for t in tokens):
        return None

    def check() -> None:
        if all(t.expired() for t in tokens):
            raise tokens[0].error()
    return check


@asynccontextmanager
async def request_work(request, deadline_s: float | None, service: str):
    """A token for one request's model work (its body already read): stopped when the client disconnects
    and when the request ends, so nothing keeps computing for a response nobody will read. On a stage the
    work also waits for one of its MAX_CONCURRENT slots (the app's `admission`, common.admission), or gets
    503 busy at once when MAX_QUEUED requests are already waiting.

    The watcher waits on the ASGI receive channel, where the server's next message after the body can only be
    `http.disconnect`. (`request.is_disconnected()` never sees it behind a BaseHTTPMiddleware: its
    pre-cancelled probe is cancelled inside the middleware's task group before any message is read.)"""
    token = WorkToken(deadline_s)

    async def watch():
        while (await request.receive())["type"] != "http.disconnect":
            pass
        token.stop("the client closed the connection")

    watcher = asyncio.create_task(watch())
    admission = getattr(request.app.state, "admission", None)
    try:
        if admission is None:
            yield token
        else:
            async with admission.slot(token):
                yield token
    except WorkStopped as exc:
        WORK_STOPPED.labels(service, exc.code).inc()
        raise
    finally:
        token.stop("the request ended")
        watcher.cancel()
