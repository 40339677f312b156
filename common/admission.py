"""Bounded concurrency for a stage's model work: MAX_CONCURRENT requests at it, MAX_QUEUED waiting for a slot,
and beyond that an immediate 503 `busy` with Retry-After, so a flood of long requests costs the server a
bounded queue instead of an unbounded pile of waiting handlers (and clients learn at once to come back).

A waiting request keeps its WorkToken: it leaves the queue when its client goes away or its compute deadline
passes (the deadline counts from arrival, queue time included), so a short request issued behind long ones
is answered within COMPUTE_DEADLINE_S plus its own work, never indefinitely.
"""
import asyncio
import math
import time
from collections import deque
from contextlib import asynccontextmanager

from common.cancel import WorkToken
from common.errors import APIError
from common.metrics import ADMISSION


class Admission:
    def __init__(self, service: str, max_concurrent: int, max_queued: int):
        self.service, self.max_concurrent, self.max_queued = service, max_concurrent, max_queued
        self.running: dict[int, float | None] = {}   # slot id -> that request's deadline (monotonic) or None
        self.waiting: deque[asyncio.Future] = deque()
        self.handed = 0                              # slots given to a waiting request that has not woken yet
        self.mean_hold_s = 1.0                       # moving mean of how long a request holds its slot
        self._ids = 0

    def retry_after(self) -> str:
        """Seconds until a slot is likely free: the queue ahead times the mean slot time, never past the time
        by which the earliest running request's deadline frees its slot."""
        estimate = self.mean_hold_s * (1 + len(self.waiting) / self.max_concurrent)
        deadlines = [d for d in self.running.values() if d is not None]
        if deadlines:
            estimate = min(estimate, min(deadlines) - time.monotonic())
        return str(max(1, math.ceil(estimate)))

    def busy(self) -> APIError:
        return APIError(503, "busy", f"the {self.service} is at capacity ({self.max_concurrent} running, "
                                     f"{self.max_queued} waiting); retry later",
                        headers={"Retry-After": self.retry_after()})

    async def _wait_turn(self, token: WorkToken | None) -> None:
        """Wait in the queue until `_hand_on` gives this request a slot; raise (499/504) if its token stops."""
        turn = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        ADMISSION.labels(self.service, "waiting").set(len(self.waiting))
        forget = token.on_stop(lambda: turn.done() or turn.set_result(False)) if token else None
        admitted = False
        try:
            remaining = token.deadline - time.monotonic() if token and token.deadline else None
            admitted = await asyncio.wait_for(asyncio.shield(turn), remaining)
        except TimeoutError:
            pass
        finally:
            if forget:
                forget()
            if turn in self.waiting:
                self.waiting.remove(turn)
            if not turn.done():
                turn.set_result(False)
            elif turn.result() and not admitted:  # given a slot in the same instant it gave up: pass it on
                self.handed -= 1
                self._hand_on()
            ADMISSION.labels(self.service, "waiting").set(len(self.waiting))
        if not admitted:
            raise token.error()  # the client went away (499) or the deadline passed while queued (504)

    def _hand_on(self) -> None:
        """A slot was freed: give it to the first request still waiting (else it simply stays free)."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(True)
                self.handed += 1
                return

    @asynccontextmanager
    async def slot(self, token: WorkToken | None = None):
        if len(self.running) + self.handed >= self.max_concurrent or self.waiting:
            if len(self.waiting) >= self.max_queued:
                raise self.busy()
            await self._wait_turn(token)
            self.handed -= 1  # the slot _hand_on kept for this request is taken now
        self._ids += 1
        slot_id, start = self._ids, time.monotonic()
        self.running[slot_id] = token.deadline if token else None
        ADMISSION.labels(self.service, "running").set(len(self.running))
        try:
            yield
        finally:
            del self.running[slot_id]
            ADMISSION.labels(self.service, "running").set(len(self.running))
            self.mean_hold_s = 0.8 * self.mean_hold_s + 0.2 * (time.monotonic() - start)
            self._hand_on()
