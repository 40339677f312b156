"""Micro-batching: concurrent requests that can share one model call are run together.

Requests wait while the model is busy; when it frees up, every waiting request with the same key (up to
`max_items`) goes into the next call. With no concurrency a request runs at once (plus `window_s`), so
latency is unchanged for a lone client while throughput grows with load.
"""
import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import Any

from common.metrics import BATCH_ITEMS

log = logging.getLogger("voxclone.batching")


class MicroBatcher:
    def __init__(self, service: str, run_batch: Callable[[Hashable, list], list], max_items: int = 8,
                 window_s: float = 0.0, run_in=asyncio.to_thread):
        """`run_batch(key, items) -> results` (same order) runs through `run_in` (a worker thread), one call at
        a time."""
        self.service, self.run_batch, self.max_items, self.window_s = service, run_batch, max_items, window_s
        self.run_in = run_in
        self._pending: list[tuple[Hashable, Any, asyncio.Future]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def submit(self, key: Hashable, item: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((key, item, fut))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        return await fut

    def _take_group(self) -> list:
        key = self._pending[0][0]
        group = [p for p in self._pending if p[0] == key][: self.max_items]
        self._pending = [p for p in self._pending if not any(p is g for g in group)]
        return group

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self.window_s:
                await asyncio.sleep(self.window_s)
            while self._pending:
                group = [g for g in self._take_group() if not g[2].done()]  # skip callers that went away
                if not group:
                    continue
                BATCH_ITEMS.labels(self.service).observe(len(group))
                key, items = group[0][0], [g[1] for g in group]
                try:
                    results = await self.run_in(self.run_batch, key, items)
                except Exception:  # noqa: BLE001 - one bad item must not fail the others: run each alone
                    if len(group) > 1:
                        log.warning("batch failed; running its items one by one", extra={"items": len(group)})
                    results = []
                    for item in items:
                        try:
                            results.append((await self.run_in(self.run_batch, key, [item]))[0])
                        except Exception as exc:  # noqa: BLE001
                            results.append(exc)
                for (_, _, fut), result in zip(group, results):
                    if fut.done():
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
