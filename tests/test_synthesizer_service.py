"""Synthesizer service over real HTTP."""
import base64

import httpx
import numpy as np
import pytest

from synthesizer_svc.speaker_emphasis import TUNED_FACTORS


@pytest.fixture(scope="module")
def embedding(urls, ref_wav_bytes):
    r = httpx.post(urls["encoder"] + "/v1/embed", files={"file": ("ref.wav", ref_wav_bytes)}, timeout=60)
    return r.json()["embedding"]


def test_synthesize_one_text(urls, embedding):
    r = httpx.post(urls["synthesizer"] + "/v1/synthesize", json={"text": "Hello world.", "embedding": embedding,
                                                                   "return_alignments": True, "seed": 1}, timeout=120)
    assert r.status_code == 200, r.text
    item = r.json()["mels"][0]
    mel = np.array(item["mel"])
    assert mel.shape == (80, item["length"]) and np.isfinite(mel).all()
    # Trained on mels clipped to [-4, 4]; the postnet may overshoot a little (RTVC does not clip either).
    assert np.percentile(np.abs(mel), 99) <= 4.5
    assert item["sentences"] == ["Hello world."]
    attn = np.array(item["alignments"][0])
    assert attn.shape[1] == len("hello world.") + 1  # characters plus end-of-sequence
    np.testing.assert_allclose(attn.sum(axis=1), 1.0, atol=1e-4)


def test_batch_compact_and_seed_repeatability(urls, embedding):
    body = {"text": ["One.", "Two words here."], "embedding": [embedding, embedding], "compact": True, "seed": 7}
    a = httpx.post(urls["synthesizer"] + "/v1/synthesize", json=body, timeout=120).json()["mels"]
    b = httpx.post(urls["synthesizer"] + "/v1/synthesize", json=body, timeout=120).json()["mels"]
    assert len(a) == 2
    for x, y in zip(a, b):
        assert x["mel"]["shape"] == [80, x["length"]]
        assert x["mel"]["data"] == y["mel"]["data"]
        np.frombuffer(base64.b64decode(x["mel"]["data"]), dtype="<f4")


def test_long_text_is_split_at_sentences(urls, embedding):
    text = "This is the first sentence. And here is a second one! Is this the third?"
    item = httpx.post(urls["synthesizer"] + "/v1/synthesize", json={"text": text, "embedding": embedding},
                      timeout=300).json()["mels"][0]
    assert item["sentences"] == ["This is the first sentence.", "And here is a second one!", "Is this the third?"]


def test_seed_inference_shape(urls, embedding):
    r = httpx.post(urls["synthesizer"] + "/inference", json={"embed": embedding, "text": "Good morning."}, timeout=120)
    assert r.status_code == 200
    spec = np.array(r.json()["spec"])
    assert spec.shape[0] == 80 and spec.shape[1] > 0


def test_info(urls):
    info = httpx.get(urls["synthesizer"] + "/v1/info").json()
    assert info["hparams"]["speaker_embedding_size"] == 256 and info["r"] >= 1


BAD = [
    ({"text": "x" * (10 * 1024 * 1024)}, 413, None),
    ({"text": "a" * 2001}, 413, "limit"),
    ({"text": ""}, 422, "nothing to speak"),
    ({"text": "!!! ..."}, 422, "nothing to speak"),
    ({"text": []}, 422, "at least one"),
    ({"text": 12}, 422, "text"),
    ({"embedding": [0.1] * 10}, 422, "256"),
    ({"embedding": [[0.1] * 256] * 3, "text": ["a b", "c d"]}, 422, "3 embeddings for 2 texts"),
    ({"embedding": [0.1] * 255 + [float("inf")]}, 422, "NaN or infinite"),
]


@pytest.mark.parametrize("patch,status,needle", BAD)
def test_bad_input(urls, embedding, patch, status, needle):
    import json
    body = {"text": "Hello.", "embedding": embedding, **patch}
    r = httpx.post(urls["synthesizer"] + "/v1/synthesize", content=json.dumps(body),
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text[:300]
    if needle:
        assert needle in r.json()["error"]["message"]
    assert httpx.get(urls["synthesizer"] + "/healthz").status_code == 200


def test_concurrent_requests_are_micro_batched_and_seeded_ones_stay_reproducible(urls, embedding):
    from concurrent.futures import ThreadPoolExecutor

    from tests.metrics_util import sample
    url = urls["synthesizer"]
    seeded = {"text": "Seeded words stay put.", "embedding": embedding, "seed": 11, "compact": True}
    alone = httpx.post(url + "/v1/synthesize", json=seeded, timeout=120).json()["mels"][0]["mel"]["data"]
    calls, items = (sample(url, f"voxclone_batch_items_{s}", service="synthesizer") for s in ("count", "sum"))
    texts = [f"Concurrent request number {i}." for i in range(6)]
    with ThreadPoolExecutor(7) as pool:
        futures = [pool.submit(httpx.post, url + "/v1/synthesize", json={"text": t, "embedding": embedding},
                               timeout=300) for t in texts]
        under_load = pool.submit(httpx.post, url + "/v1/synthesize", json=seeded, timeout=300)
        responses = [f.result() for f in futures]
    assert all(r.status_code == 200 for r in responses)
    for text, r in zip(texts, responses):
        item = r.json()["mels"][0]
        assert item["sentences"] == [text] and item["length"] > 20 and item["stopped"]
    assert under_load.result().json()["mels"][0]["mel"]["data"] == alone
    batches = sample(url, "voxclone_batch_items_count", service="synthesizer") - calls
    batched = sample(url, "voxclone_batch_items_sum", service="synthesizer") - items
    assert batched == 6 and batches < 6  # all six went through the batcher, some of them together


def test_speaker_emphasis_moves_the_voice_from_the_mean_and_one_is_the_embedding_as_given(urls, embedding):
    """Seeded, so the mels differ only by the embedding the model was given (synthesizer_svc.speaker_emphasis).
    The test stack runs the shipped checkpoint with no SYNTHESIZER_SPEAKER_EMPHASIS: its tuned factor."""
    def mel(**extra):
        body = {"text": "Good morning.", "embedding": embedding, "seed": 3, "compact": True, **extra}
        r = httpx.post(urls["synthesizer"] + "/v1/synthesize", json=body, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()["mels"][0]["mel"]["data"]

    info = httpx.get(urls["synthesizer"] + "/v1/info").json()
    emphasis = info["speaker_emphasis"]
    assert emphasis["default"] == TUNED_FACTORS[info["sha256"]] != 1.0 and emphasis["source"] == "tuned"
    assert emphasis["mean"]["file"] == "speaker_mean.npy" and len(emphasis["mean"]["sha256"]) == 64
    by_default = mel()
    assert mel(speaker_emphasis=emphasis["default"]) == by_default
    as_given = mel(speaker_emphasis=1)
    assert as_given != by_default and mel(speaker_emphasis=1.6) not in (as_given, by_default)


@pytest.mark.parametrize("value", [3.5, -0.1, "1.2", True, None])
def test_speaker_emphasis_out_of_range_is_refused(urls, embedding, value):
    r = httpx.post(urls["synthesizer"] + "/v1/synthesize",
                   json={"text": "Hello.", "embedding": embedding, "speaker_emphasis": value}, timeout=60)
    if value is None:  # null: the service's default
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 422 and "speaker_emphasis" in r.text, r.text[:300]
