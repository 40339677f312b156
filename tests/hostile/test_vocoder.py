"""Hostile input to the vocoder over real HTTP, and abandoned requests (WaveRNN, a HiFi-GAN stream) that stop."""
import time

import httpx
import numpy as np
import pytest

from tests.hostile.stages import InFlight, expect_error, start
from tests.metrics_util import sample
from tests.processes import small_wavernn_checkpoint


@pytest.fixture(scope="module")
def griffinlim():
    svc = start("vocoder", vocoder_checkpoint="")
    yield svc
    svc.stop()


MEL = np.full((80, 20), -2.0).tolist()
CASES = {
    "wavernn_without_weights": ({"backend": "wavernn"}, 409, "VOCODER_CHECKPOINT"),
    "seed_negative": ({"seed": -1}, 422, "seed"),
    "seed_2_32": ({"seed": 2 ** 32}, 422, "seed"),
    "mel_1e39": ({"mel": np.full((80, 20), 1e39).tolist()}, 422, "float32"),
    "compact_shape_overflow": ({"mel": {"dtype": "float32", "shape": [2 ** 40, 2 ** 40], "data": ""}}, 422, "shape"),
    "compact_bytes_mismatch": ({"mel": {"dtype": "float32", "shape": [80, 20], "data": "AAAA"}}, 422, "bytes"),
    "bad_base64": ({"mel": {"dtype": "float32", "shape": [80, 20], "data": "!!"}}, 422, "base64"),
    "transposed": ({"mel": np.zeros((20, 80)).tolist()}, 422, "transpose"),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_input_gets_a_clear_4xx(griffinlim, case):
    patch, status, needle = CASES[case]
    r = httpx.post(griffinlim.url + "/v1/vocode", json={"mel": MEL, **patch}, timeout=120)
    expect_error(r, status, needle)
    assert httpx.get(griffinlim.url + "/healthz").status_code == 200


@pytest.fixture(scope="module")
def wavernn(tmp_path_factory, fixtures):
    path = small_wavernn_checkpoint(fixtures, tmp_path_factory.mktemp("voc"))
    svc = start("vocoder", vocoder_checkpoint=path, wavernn_target=1000, wavernn_overlap=100)
    yield svc
    svc.stop()


def vocode(url, frames: int, timeout: float = 600):
    return httpx.post(url + "/v1/vocode", json={"mel": np.full((80, frames), -2.0).tolist(), "seed": None,
                                            "backend": "wavernn"},
                      timeout=timeout)


def test_abandoned_wavernn_request_stops_and_the_next_one_answers_sooner(wavernn):
    """Measured against the same long request run to the end in this test: abandoned at a quarter of its
    time, it would hold the model thread for three quarters more; a short request must not wait that long."""
    url = wavernn.url
    start_t = time.monotonic()
    assert vocode(url, LONG_FRAMES).status_code == 200
    full = time.monotonic() - start_t
    stopped = sample(url, "voxclone_work_stopped_total", service="vocoder")
    long = InFlight(lambda: vocode(url, LONG_FRAMES, timeout=full / 4))
    assert isinstance(long.join(600), httpx.TimeoutException)
    start_t = time.monotonic()
    assert vocode(url, 8).status_code == 200
    waited = time.monotonic() - start_t
    assert sample(url, "voxclone_work_stopped_total", service="vocoder") == stopped + 1
    assert waited < full / 2, f"a short request took {waited:.1f} s after abandoning a {full:.1f} s one"


LONG_FRAMES = 700  # 127 folds of the small fixture model: ~4 s on one thread, 50x a short request


@pytest.fixture(scope="module")
def hifigan():
    # The lite generator: stopping is the stream's, not the generator's, and universal's 30 s stream took 19 s
    svc = start("vocoder", vocoder_checkpoint="", max_mel_frames=3000, hifigan_voice="lite")
    yield svc
    svc.stop()


def test_abandoned_hifigan_stream_stops_after_its_current_chunk(hifigan):
    """A client that reads the first piece of a 30 s stream and goes away: the vocoder makes no more chunks,
    so a short request behind it answers in far less than the whole stream's time."""
    url, mel = hifigan.url, np.full((80, 2400), -2.0).tolist()
    start_t = time.monotonic()
    with httpx.stream("POST", url + "/v1/vocode/stream", json={"mel": mel}, timeout=600) as r:
        assert r.status_code == 200 and sum(len(c) for c in r.iter_raw()) == 4 * round(2399 * 275.625)
    full = time.monotonic() - start_t
    stopped = sample(url, "voxclone_work_stopped_total", service="vocoder")
    with httpx.stream("POST", url + "/v1/vocode/stream", json={"mel": mel, "first_chunk_frames": 16},
                      timeout=600) as r:
        assert r.status_code == 200 and len(next(r.iter_raw())) > 0
    start_t = time.monotonic()
    assert httpx.post(url + "/v1/vocode", json={"mel": MEL}, timeout=600).status_code == 200
    waited = time.monotonic() - start_t
    assert waited < full / 2, f"a short request took {waited:.1f} s after abandoning a {full:.1f} s stream"
    assert sample(url, "voxclone_work_stopped_total", service="vocoder") == stopped + 1
