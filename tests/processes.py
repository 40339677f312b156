"""Starting real processes for tests, in one place: a service (any of the four, or the job worker) with the test
settings, an orchestrator wired to running stages, and a throwaway redis-server."""
import shutil
import subprocess
from pathlib import Path

import pytest

from common.stack import ServiceProcess, free_port
from tests.waiting import wait_for

TEST_ENV = {"MAX_FRAMES_PER_SENTENCE": "400", "LOG_LEVEL": "INFO", "TORCH_THREADS": "1"}


def service(name: str, log_path: Path | None = None, module: str | None = None, **env) -> ServiceProcess:
    """A service process (not started) on a free port with the test settings plus `env`."""
    return ServiceProcess(name, free_port(), {**TEST_ENV, **env}, log_path=log_path, module=module)


def orchestrator(urls: dict, data_dir: Path, **env) -> ServiceProcess:
    """An orchestrator (not started) calling the stages at `urls`, with its own DATA_DIR."""
    stages = {"ENCODER_URLS": urls["encoder"], "SYNTHESIZER_URLS": urls["synthesizer"],
              "VOCODER_URLS": urls["vocoder"]}
    return service("orchestrator", data_dir / "orchestrator.log", DATA_DIR=str(data_dir), **{**stages, **env})


def job_worker(urls: dict, data_dir: Path, name: str = "worker", **env) -> ServiceProcess:
    """`python -m orchestrator_svc.worker` (SQLite queue, or rq with REDIS_URL in `env`)."""
    worker = orchestrator(urls, data_dir, **env)
    worker.module, worker.log_path = "orchestrator_svc.worker", data_dir / f"{name}.log"
    return worker


def start_redis(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server on a free loopback port with append-only persistence; returns (process, URL)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (scripts/test.sh installs it with apt)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
                             "--save", "", "--appendonly", "yes"], stdout=subprocess.DEVNULL)
    from redis import Redis
    client = Redis(port=port)
    wait_for(client.ping, timeout=20, what="redis-server to answer")
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"
