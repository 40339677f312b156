import itertools
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = Path(os.environ.get("RTVC_FIXTURES", ROOT.parent / "shared" / "fixtures" / "rtvc"))


@pytest.fixture(scope="session")
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"RTVC fixtures not found at {FIXTURES} (set RTVC_FIXTURES)")
    return FIXTURES

DATA = ROOT / "tests" / "data"
from tests.processes import TEST_ENV, start_redis


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The four services as real processes on loopback, started the way `python -m common.stack` does."""
    from common.stack import plan_stack, start_stack
    logs = tmp_path_factory.mktemp("logs")
    data_dir = tmp_path_factory.mktemp("orchestrator")
    s = plan_stack(None, log_dir=logs, env=TEST_ENV, orchestrator_env={"DATA_DIR": str(data_dir)})
    # Griffin-Lim as this vocoder's default: HiFi-GAN (the shipped default) costs ~10x as much per request on
    # one thread, and most stack tests check the contract, not the audio. Tests that ask for "hifigan" still
    # get it from this process; test_vocoder_service starts one with the shipped defaults.
    s.services["vocoder-0"].env["DEFAULT_BACKEND"] = "griffinlim"
    start_stack(s)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def urls(stack) -> dict:
    return {name.split("-")[0]: svc.url for name, svc in stack.services.items()}


@pytest.fixture(scope="session")
def ref_wav_bytes() -> bytes:
    return (DATA / "ref_slt.wav").read_bytes()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server for the session (the Redis job queue, rate limits, the job-store tests)."""
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    proc.terminate()
    proc.wait(10)


_databases = itertools.count(1)


@pytest.fixture
def redis_url(redis_server):
    """A database of the session's server for this test alone (the 16 in turn, flushed first): rq jobs that a
    job-store test queued and never ran were taken by a later test's rq worker."""
    from redis import Redis
    url = f"{redis_server.rsplit('/', 1)[0]}/{next(_databases) % 16}"
    client = Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
