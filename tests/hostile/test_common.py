"""What every service does the same way (common/service), checked on a light stage process (the vocoder with
Griffin-Lim only) and, for streaming, on an orchestrator in front of the session's stages."""
import json
import signal

import httpx
import pytest

from tests.hostile.stages import InFlight, expect_error, start
from tests.metrics_util import sample
from tests.waiting import wait_for

USER, STAGE = "user-key", "stage-key"


@pytest.fixture(scope="module")
def keyed():
    svc = start("vocoder", api_keys=USER, stage_api_key=STAGE, rate_limit="3/minute", auth_failure_limit="")
    yield svc
    svc.stop()


def test_stage_calls_are_not_counted_and_users_get_429_with_retry_after(keyed):
    for _ in range(8):
        assert httpx.get(keyed.url + "/v1/info", headers={"X-API-Key": STAGE}).status_code == 200
    codes = [httpx.get(keyed.url + "/v1/info", headers={"X-API-Key": USER}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = httpx.get(keyed.url + "/v1/info", headers={"X-API-Key": USER})
    expect_error(r, 429, "rate limit")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert httpx.get(keyed.url + "/v1/info", headers={"X-API-Key": STAGE}).status_code == 200


def test_retry_after_only_on_429(keyed):
    for r in (httpx.get(keyed.url + "/healthz"), httpx.get(keyed.url + "/v1/info"),
              httpx.get(keyed.url + "/v1/info", headers={"X-API-Key": "wrong"})):
        assert "retry-after" not in r.headers and not any(h.startswith("x-ratelimit") for h in r.headers)


def test_failed_auth_is_rate_limited_per_address():
    svc = start("vocoder", api_keys=USER, auth_failure_limit="5/minute")
    try:
        codes = [httpx.get(svc.url + "/v1/info", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(8)]
        assert codes == [401] * 5 + [429] * 3
        # Over the limit the address gets no answer to a guess at all, not even to the right key.
        r = httpx.get(svc.url + "/v1/info", headers={"X-API-Key": USER})
        expect_error(r, 429, "failed API key checks")
        assert int(r.headers["retry-after"]) >= 1
        assert httpx.get(svc.url + "/healthz").status_code == 200  # probes stay open
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def vocoder():
    svc = start("vocoder", max_upload_bytes=1_000_000)
    yield svc
    svc.stop()


def test_oversized_chunked_upload_is_413(vocoder):
    chunks = (b"[" + b"0," * 100_000 for _ in range(20))  # no Content-Length: sent chunked
    r = httpx.post(vocoder.url + "/v1/vocode", content=chunks, headers={"content-type": "application/json"},
                   timeout=60)
    expect_error(r, 413, "exceeds")


def test_json_nested_100k_deep_is_422(vocoder):
    r = httpx.post(vocoder.url + "/v1/vocode", content=b"[" * 100_000 + b"]" * 100_000, timeout=60,
                   headers={"content-type": "application/json"})
    expect_error(r, 422, "nested too deeply")


def test_64_kb_header_is_431(vocoder):
    r = httpx.get(vocoder.url + "/v1/info", headers={"X-Padding": "a" * 65536})
    expect_error(r, 431, "headers")
    assert httpx.get(vocoder.url + "/healthz").status_code == 200


def test_rate_limit_does_not_break_streamed_responses(urls, tmp_path, ref_wav_bytes):
    from tests import processes
    svc = processes.orchestrator(urls, tmp_path, RATE_LIMIT="100/minute").start()
    try:
        svc.wait_ready()
        text = "The first sentence is here. And a second one follows it."
        with httpx.stream("POST", svc.url + "/v1/clone", files={"reference_audio": ("r.wav", ref_wav_bytes)},
                          data={"text": text, "stream": "true", "vocoder": "griffinlim"}, timeout=300) as r:
            assert r.status_code == 200
            body = b"".join(r.iter_bytes())
        assert len(body) > 44 + 16000, f"only {len(body)} bytes arrived"  # more than a WAV header
    finally:
        svc.stop()


def test_info_shows_no_file_paths(tmp_path, fixtures):
    from tests.processes import small_wavernn_checkpoint
    svc = start("vocoder", vocoder_checkpoint=small_wavernn_checkpoint(fixtures, tmp_path))
    try:
        info = httpx.get(svc.url + "/v1/info").json()
        assert info["checkpoint"] == "small.pt" and str(tmp_path) not in json.dumps(info)
    finally:
        svc.stop()


def test_redis_rate_limit_counts_without_blocking_the_event_loop(tmp_path):
    """RATE_LIMIT counted in Redis still limits over real HTTP, and a Redis that stops answering holds only the
    requests waiting on it: /healthz (no key, no count) answers meanwhile, as it could not while counting
    was a synchronous Redis call on the event loop."""
    from tests.processes import start_redis
    redis, redis_url = start_redis(tmp_path)
    svc = start("vocoder", api_keys=USER, rate_limit="3/minute", auth_failure_limit="", redis_url=redis_url)
    try:
        keyed = {"X-API-Key": USER}
        assert httpx.get(svc.url + "/v1/info", headers=keyed).status_code == 200
        redis.send_signal(signal.SIGSTOP)  # Redis takes the request but does not answer
        try:
            waiting = InFlight(lambda: httpx.get(svc.url + "/v1/info", headers=keyed, timeout=60))
            wait_for(lambda: sample(svc.url, "voxclone_in_flight_requests", service="vocoder") >= 1, 10,
                     what="the keyed request to wait on Redis")
            assert httpx.get(svc.url + "/healthz", timeout=3).status_code == 200
            assert waiting.alive()
        finally:
            redis.send_signal(signal.SIGCONT)
        assert waiting.join(30).status_code == 200
        codes = [httpx.get(svc.url + "/v1/info", headers=keyed).status_code for _ in range(2)]
        assert codes == [200, 429]  # the 4th of 3/minute, counted in Redis
        expect_error(httpx.get(svc.url + "/v1/info", headers=keyed), 429, "rate limit")
    finally:
        svc.stop()
        redis.terminate()
        redis.wait(10)
