"""Hostile input to the synthesizer over real HTTP, and work that ends with its request: an abandoned long
request stops, and a long request cannot starve a short one. Times are compared with a baseline measured
in the same test (one turn of the same sentences), never with a fixed number of seconds."""
import json
import time

import httpx
import pytest

from tests.hostile.stages import InFlight, expect_error, start
from tests.metrics_util import sample

SENTENCE = "This sentence is said again and again, so that every turn of the synthesizer costs the same."
PER_TURN = 4


@pytest.fixture(scope="module")
def synthesizer():
    svc = start("synthesizer", sentences_per_turn=PER_TURN, max_frames_per_sentence=300)
    yield svc
    svc.stop()


def raw(url: str, text: str, timeout: float = 120) -> httpx.Response:
    """POST a JSON body written by hand (escapes such as \\ud800 that json.dumps would not produce)."""
    return httpx.post(url + "/v1/synthesize", content=text.encode(), timeout=timeout,
                      headers={"content-type": "application/json"})


CASES = {
    "seed_negative": ({"seed": -1}, 422, "seed"),
    "seed_2_32": ({"seed": 2 ** 32}, 422, "seed"),
    "seed_2_64": ({"seed": 2 ** 64}, 422, "seed"),
    "embedding_1e39": ({"embedding": [1e39] * 256}, 422, "float32"),
    "embedding_1e30": ({"embedding": [1e30] * 256}, 422, "unit-norm"),
    "compact_shape_overflow": ({"embedding": {"dtype": "float32", "shape": [2 ** 62, 2 ** 62], "data": ""}},
                               422, "shape"),
    "compact_shape_four_dims": ({"embedding": {"dtype": "float32", "shape": [1, 1, 1, 256], "data": ""}},
                                422, "shape"),
    "nothing_to_speak": ({"text": "?!"}, 422, "nothing to speak"),
    "too_many_texts": ({"text": ["Hi."] * 33}, 413, "at most 32"),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_input_gets_a_clear_4xx(synthesizer, embedding, case):
    patch, status, needle = CASES[case]
    r = httpx.post(synthesizer.url + "/v1/synthesize", json={"text": "Hello.", "embedding": embedding, **patch},
                   timeout=120)
    expect_error(r, status, needle)


def test_lone_surrogate_is_a_422_not_a_500(synthesizer, embedding):
    body = json.dumps({"text": "Hello PLACEHOLDER there.", "embedding": embedding})
    r = raw(synthesizer.url, body.replace("PLACEHOLDER", "\\ud800"))
    expect_error(r, 422, "surrogate")


def test_numbers_of_37_and_more_digits_are_spoken(synthesizer, embedding):
    r = httpx.post(synthesizer.url + "/v1/synthesize", timeout=300,
                   json={"text": "Call " + "9" * 40 + " now.", "embedding": embedding, "max_frames": 40})
    assert r.status_code == 200, r.text[:300]


def test_json_nested_deep_is_a_clear_422(synthesizer):
    r = raw(synthesizer.url, "[" * 100_000 + "]" * 100_000)
    expect_error(r, 422)


def test_info_shows_no_file_paths(synthesizer):
    info = httpx.get(synthesizer.url + "/v1/info").json()
    assert "/" not in info["checkpoint"] and len(info["sha256"]) == 64


def synthesize(url, embedding, text, timeout=600):
    return httpx.post(url + "/v1/synthesize", json={"text": text, "embedding": embedding}, timeout=timeout)


def one_turn(url, embedding) -> float:
    """Seconds for exactly one turn's worth of the repeated sentence (the unit the others are measured in)."""
    start_t = time.monotonic()
    assert synthesize(url, embedding, " ".join([SENTENCE] * PER_TURN)).status_code == 200
    return time.monotonic() - start_t


LONG_TEXTS, SENTENCES_PER_TEXT = 4, 16  # the long request: 64 sentences, 16 turns (4 x 1540 characters)
LONG_TURNS = LONG_TEXTS * SENTENCES_PER_TEXT // PER_TURN


def long_body(embedding) -> dict:
    return {"text": [" ".join([SENTENCE] * SENTENCES_PER_TEXT)] * LONG_TEXTS, "embedding": embedding}


def test_abandoned_request_stops_and_the_next_one_answers_at_once(synthesizer, embedding):
    url = synthesizer.url
    turn = one_turn(url, embedding)
    stopped = sample(url, "voxclone_work_stopped_total", service="synthesizer")
    # The client gives up after about one turn; the request would take LONG_TURNS turns to finish.
    long = InFlight(lambda: httpx.post(url + "/v1/synthesize", json=long_body(embedding), timeout=turn))
    assert isinstance(long.join(LONG_TURNS * turn * 4), httpx.TimeoutException)
    start_t = time.monotonic()
    assert synthesize(url, embedding, "Hello.").status_code == 200
    waited = time.monotonic() - start_t
    assert sample(url, "voxclone_work_stopped_total", service="synthesizer") == stopped + 1
    # Had the abandoned work gone on, "Hello." would have waited for the LONG_TURNS - 1 turns left.
    assert waited < 3 * turn, f"'Hello.' took {waited:.1f} s after abandoning; one turn takes {turn:.1f} s"


def test_a_long_request_does_not_starve_a_short_one(synthesizer, embedding):
    url = synthesizer.url
    turn = one_turn(url, embedding)
    long = InFlight(lambda: httpx.post(url + "/v1/synthesize", json=long_body(embedding), timeout=600))
    time.sleep(turn / 2)  # the long request is being synthesized
    start_t = time.monotonic()
    short = synthesize(url, embedding, "Hello.")
    waited = time.monotonic() - start_t
    assert short.status_code == 200 and long.alive(), "the short request should finish first"
    assert waited < 3 * turn, f"'Hello.' waited {waited:.1f} s behind a long request; one turn takes {turn:.1f} s"
    r = long.join(LONG_TURNS * turn * 4)
    assert r.status_code == 200 and [len(m["sentences"]) for m in r.json()["mels"]] == [SENTENCES_PER_TEXT] * LONG_TEXTS
