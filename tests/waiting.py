"""One polling helper for every test that waits on another process (jobs, webhooks, workers, replicas)."""
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> T:
    """Call `probe` until it returns something truthy and return that; fail the test after `timeout` seconds.
    Exceptions from `probe` (a process still starting, a connection refused) count as not yet."""
    deadline, last_error = time.monotonic() + timeout, None
    while True:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - the probe's failure is reported if time runs out
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval)
