"""Bounded concurrency per stage over real HTTP: a synthesizer process with MAX_CONCURRENT=1 and MAX_QUEUED=1
flooded with long requests answers the overflow 503 busy (with Retry-After) at once, keeps /healthz
answering, and serves a short request issued after the flood within the compute deadline; the orchestrator
in front of it passes the stage's 503 busy on as a 503 with Retry-After, not a 502."""
import time

import httpx
import pytest

from tests import processes
from tests.conftest import DATA
from tests.hostile.stages import InFlight, expect_error, start
from tests.metrics_util import sample
from tests.waiting import wait_for

DEADLINE_S = 6  # COMPUTE_DEADLINE_S of the flooded synthesizer
SENTENCE = "This sentence is said again and again, so that the request takes far longer than its deadline."
# 6 texts of 1899 characters, 120 sentences: one text took 3.7 s alone on 2 shared cores, so the whole
# request would run ~22 s, well past the deadline.
LONG = [" ".join([SENTENCE] * 20)] * 6


@pytest.fixture(scope="module")
def narrow():
    svc = start("synthesizer", max_concurrent=1, max_queued=1, compute_deadline_s=DEADLINE_S,
                sentences_per_turn=2, max_frames_per_sentence=300)
    yield svc
    svc.stop()


def post(url, embedding, text, timeout=120):
    return httpx.post(url + "/v1/synthesize", json={"text": text, "embedding": embedding}, timeout=timeout)


def flood(url, embedding, n: int) -> list[InFlight]:
    """One long request, then once it holds the only slot, n - 1 more at once."""
    first = InFlight(lambda: post(url, embedding, LONG))
    wait_for(lambda: sample(url, "voxclone_admission_requests", service="synthesizer", state="running") == 1,
             30, what="the first long request to hold the slot")
    return [first] + [InFlight(lambda: post(url, embedding, LONG)) for _ in range(n - 1)]


def test_overflow_is_503_busy_health_answers_and_a_short_request_is_served_within_the_deadline(narrow, embedding):
    url = narrow.url
    short_start = time.monotonic()
    assert post(url, embedding, "Hello.").status_code == 200
    short_alone = time.monotonic() - short_start

    longs = flood(url, embedding, 4)
    flood_start = longs[0].started
    # Two overflow requests: the slot and the one queue place are taken, so they are refused at once.
    busy = wait_for(lambda: [f for f in longs if not f.alive()] if sum(not f.alive() for f in longs) >= 2 else None,
                    30, what="the overflow to be refused")
    for refused in busy:
        err = expect_error(refused.result, 503, "at capacity")
        assert err["code"] == "busy"
        assert 1 <= int(refused.result.headers["retry-after"]) <= DEADLINE_S
        assert refused.ended - refused.started < DEADLINE_S / 2, "refused only after waiting"
    assert sum(f.alive() for f in longs) == 2, "one long request runs, one waits"
    health = httpx.get(url + "/healthz", timeout=2)  # the event loop answers while the model thread is busy
    assert health.status_code == 200

    # A short request issued now finds the queue full; retried as Retry-After says, it is served once the
    # long requests' deadline (counted from their arrival, queue time included) has freed the stage.
    def short_request():
        r = post(url, embedding, "Hello.")
        return r if r.status_code == 200 else None
    wait_for(short_request, DEADLINE_S + 60, interval=1, what="the short request to be served")
    served_after = time.monotonic() - flood_start
    assert served_after < DEADLINE_S + 3 * short_alone + 10, (
        f"'Hello.' served {served_after:.1f} s after the flood; deadline {DEADLINE_S} s, alone {short_alone:.1f} s")
    statuses = sorted(f.join(30).status_code for f in longs)
    assert statuses == [503, 503, 504, 504], statuses
    assert sample(url, "voxclone_admission_requests", service="synthesizer", state="waiting") == 0


def clone(base):
    return httpx.post(base + "/v1/clone", data={"text": "Hi.", "vocoder": "griffinlim"},
                      files={"reference_audio": ("r.wav", (DATA / "ref_awb.wav").read_bytes())}, timeout=120)


def test_orchestrator_passes_a_busy_stage_on_as_503_with_retry_after(narrow, embedding, urls, tmp_path):
    svc = processes.orchestrator({**urls, "synthesizer": narrow.url}, tmp_path).start()
    longs = []
    try:
        svc.wait_ready()
        assert clone(svc.url).status_code == 200  # and the reference's embedding is cached: no encoder call next
        longs = flood(narrow.url, embedding, 2)  # the slot and the queue place taken
        wait_for(lambda: sample(narrow.url, "voxclone_admission_requests", service="synthesizer",
                                state="waiting") == 1, 30, what="the second long request to wait")
        r = clone(svc.url)
        assert r.status_code == 503, r.text[:300]
        assert r.json()["error"]["code"] == "stage_busy" and r.headers["retry-after"].isdigit()
    finally:
        for f in longs:
            f.join(DEADLINE_S + 60)
        svc.stop()
