"""Micro-batching: concurrent requests that can share one model call are run together.

Requests wait while the model is busy; when it frees up, every waiting request with the same key (up to
`max_items`) goes into the next call. With no concurrency a request runs at once (plus `window_s`), so
latency is unchanged for a lone client while throughput grows with load.

A request submitted with a `WorkToken` (common.cancel) whose client has gone is dropped before its batch
runs; a batch whose run raises `WorkStopped` (every request in it gone) is not re-run item by item.
"""
import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable
from typing import Any

from common.cancel import WorkStopped, WorkToken
from common.metrics import BATCH_ITEMS

log = logging.getLogger("voxclone.batching")


class MicroBatcher:
    def __init__(self, service: str, run_batch: Callable[[Hashable, list], list], max_items: int = 8,
                 window_s: float = 0.0, run_in=asyncio.to_thread, weight: Callable[[Any], int] | None = None,
                 max_weight: int | None = None):
        """`run_batch(key, items) -> results` (same order) runs through `run_in` (a worker thread), one call at
        a time. With `weight`, a call takes items while their weights add up to at most `max_weight` (at least
        one item), so the work of one call, and the wait of whoever is queued behind it, stays bounded."""
        self.service, self.run_batch, self.max_items, self.window_s = service, run_batch, max_items, window_s
        self.run_in, self.weight, self.max_weight = run_in, weight, max_weight
        self._pending: list[tuple[Hashable, Any, asyncio.Future, WorkToken | None]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._running: list = []  # the group in the model call now

    async def submit(self, key: Hashable, item: Any, token: WorkToken | None = None) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((key, item, fut, token))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        return await fut

    async def close(self) -> None:
        """Stop the loop task (the app's shutdown calls this). Left waiting for work, it was still pending when
        the event loop closed, and asyncio logged "Task was destroyed but it is pending!" at every shutdown.
        Requests still queued or in the call (uvicorn lets in-flight ones finish first, so normally none) get a
        503."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, _, fut, _ in self._running + self._pending:
            if not fut.done():
                fut.set_exception(WorkStopped("the service is shutting down", 503, "shutting_down"))
        self._running, self._pending = [], []

    def _take_group(self) -> list:
        key = self._pending[0][0]
        group = [p for p in self._pending if p[0] == key][: self.max_items]
        if self.weight is not None and self.max_weight is not None:
            total, kept = 0, []
            for p in group:
                total += self.weight(p[1])
                if kept and total > self.max_weight:
                    break
                kept.append(p)
            group = kept
        self._pending = [p for p in self._pending if not any(p is g for g in group)]
        return group

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self.window_s:
                await asyncio.sleep(self.window_s)
            while self._pending:
                group = [g for g in self._take_group() if self._still_wanted(g)]
                if not group:
                    continue
                BATCH_ITEMS.labels(self.service).observe(len(group))
                key, items = group[0][0], [g[1] for g in group]
                self._running = group
                try:
                    results = await self.run_in(self.run_batch, key, items)
                except WorkStopped as exc:  # nobody in the batch wants it any more: nothing to re-run
                    results = [exc] * len(group)
                except Exception:  # noqa: BLE001 - one bad item must not fail the others: run each alone
                    if len(group) > 1:
                        log.warning("batch failed; running its items one by one", extra={"items": len(group)})
                    results = []
                    for item in items:
                        try:
                            results.append((await self.run_in(self.run_batch, key, [item]))[0])
                        except Exception as exc:  # noqa: BLE001
                            results.append(exc)
                for (_, _, fut, _), result in zip(group, results):
                    if fut.done():
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)

    @staticmethod
    def _still_wanted(pending) -> bool:
        """False for a caller that went away (future cancelled, or its token stopped: then it fails)."""
        _, _, fut, token = pending
        if token is not None and token.expired() and not fut.done():
            fut.set_exception(token.error())
        return not fut.done()
