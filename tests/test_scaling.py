"""Per-stage scaling on loopback: two synthesizer and two vocoder replicas behind one orchestrator."""
import re
import threading
import time

import httpx
import pytest

from common.stack import plan_stack, start_stack
from tests.conftest import TEST_ENV
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    stack = plan_stack(None, synthesizers=2, vocoders=2, log_dir=tmp_path_factory.mktemp("logs"), env=TEST_ENV,
                       orchestrator_env={"DATA_DIR": str(tmp_path_factory.mktemp("orch"))})
    start_stack(stack)
    yield stack
    stack.stop()


def served(url: str, route: str) -> int:
    text = httpx.get(url + "/metrics").text
    pattern = rf'voxclone_requests_total{{[^}}]*route="{re.escape(route)}"[^}}]*status="200"[^}}]*}} (\d+)'
    return sum(int(float(n)) for n in re.findall(pattern, text))


def tts(base: str, i: int) -> int:
    body = {"embedding": [0.0625] * 256, "text": f"Number {i}.", "vocoder": "griffinlim", "seed": i}
    try:
        return httpx.post(base + "/v1/tts", json=body, timeout=300).status_code
    except httpx.HTTPError:
        return -1


def test_load_is_spread_and_a_killed_replica_loses_no_requests(replicated):
    svc = replicated.services
    base = svc["orchestrator"].url
    assert all(tts(base, i) == 200 for i in range(4))
    for kind, route in (("synthesizer", "/v1/synthesize"), ("vocoder", "/v1/vocode")):
        counts = [served(s.url, route) for n, s in svc.items() if n.startswith(kind)]
        assert all(c >= 1 for c in counts), f"{kind} replicas served {counts}"

    results, lock = [], threading.Lock()

    def client(k):
        for j in range(4):
            code = tts(base, 100 + 10 * k + j)
            with lock:
                results.append((time.monotonic(), code))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    # Kill once the load is under way, whatever the model's speed: most requests are still to come.
    wait_for(lambda: len(results) >= 3, 120, interval=0.05, what="the first requests to finish")
    killed_at = time.monotonic()
    svc["vocoder-1"].stop()
    svc["synthesizer-1"].stop()
    for t in threads:
        t.join()
    # SIGTERM lets a replica finish what it is serving; anything cut off is retried on the other replica
    # (synthesis and vocoding are idempotent), so no client request fails.
    assert len(results) == 12 and any(t > killed_at for t, _ in results)
    assert [code for _, code in results] == [200] * 12, results
    assert tts(base, 999) == 200
    ready = httpx.get(base + "/readyz").json()["checks"]
    assert ready["vocoder"]["ok"] and list(ready["vocoder"]["replicas"].values()).count(False) == 1
