"""Each stage as its own real process, plus helpers the hostile-input cases share (a plain module, not a
conftest, so the orchestrator suite beside it keeps its own fixtures)."""
import threading
import time

import httpx
import pytest

from common.stack import ServiceProcess
from tests import processes
from tests.conftest import DATA


def start(name: str, **env) -> ServiceProcess:
    """A stage process with the test settings plus `env` (setting names in lower case), started and ready."""
    svc = processes.service(name, **{k.upper(): str(v) for k, v in env.items()})
    svc.start().wait_ready()
    return svc


@pytest.fixture(scope="session")
def encoder():
    svc = start("encoder")
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def embedding(encoder):
    r = httpx.post(encoder.url + "/v1/embed", files={"file": ("ref.wav", (DATA / "ref_slt.wav").read_bytes())},
                   timeout=120)
    return r.json()["embedding"]


def expect_error(r: httpx.Response, status: int, needle: str | None = None) -> dict:
    """The response is the documented JSON error with this status (and a message containing `needle`)."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    err = r.json()["error"]
    assert set(err) >= {"code", "message", "request_id"} and err["message"], err
    if needle:
        assert needle in err["message"], err["message"]
    if status not in (429, 503):
        assert "retry-after" not in r.headers, "Retry-After belongs on 429s and 503s only"
    return err


def memory_mib(pid: int) -> dict:
    """The process's resident and peak resident set (VmRSS, VmHWM) in MiB."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines())
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def reset_peak(pid: int) -> None:
    """Start VmHWM afresh from the current RSS (Linux's clear_refs 5), so a request's own peak shows."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


class InFlight:
    """A request sent from a background thread; `.result` is its response or the exception it raised."""

    def __init__(self, send):
        self.result, self.started = None, time.monotonic()
        self.ended = None
        self.thread = threading.Thread(target=self._run, args=(send,), daemon=True)
        self.thread.start()

    def _run(self, send):
        try:
            self.result = send()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            self.result = exc
        self.ended = time.monotonic()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"request still running after {timeout} s"
        return self.result
