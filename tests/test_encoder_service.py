"""Encoder service over real HTTP against a running uvicorn process."""
import base64
import io

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.conftest import DATA


def _wav(name):
    wav, sr = sf.read(DATA / name, dtype="float32")
    return wav, sr


def _encode(wav, sr, fmt, subtype):
    buf = io.BytesIO()
    sf.write(buf, wav, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def test_embed_json_is_unit_norm_and_matches_seed_route(urls):
    wav, sr = _wav("ref_slt.wav")
    r = httpx.post(urls["encoder"] + "/v1/embed", json={"wav": wav.tolist(), "sample_rate": sr}, timeout=60)
    assert r.status_code == 200, r.text
    emb = np.array(r.json()["embedding"])
    assert emb.shape == (256,) and abs(np.linalg.norm(emb) - 1) < 1e-4
    seed = httpx.post(urls["encoder"] + "/inference", json={"wav": wav.tolist(), "sr": sr}, timeout=60)
    assert seed.status_code == 200
    np.testing.assert_allclose(seed.json()["embed"], emb, atol=1e-5)


def test_compact_form_round_trip_and_partials(urls):
    wav, sr = _wav("ref_slt.wav")
    compact = {"dtype": "float32", "shape": [len(wav)], "data": base64.b64encode(wav.astype("<f4").tobytes()).decode()}
    r = httpx.post(urls["encoder"] + "/v1/embed",
                   json={"wav": compact, "sample_rate": sr, "compact": True, "return_partials": True}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    emb = np.frombuffer(base64.b64decode(body["embedding"]["data"]), dtype="<f4")
    partials = np.frombuffer(base64.b64decode(body["partials"]["data"]), dtype="<f4").reshape(body["partials"]["shape"])
    assert emb.shape == (256,) and partials.shape[1] == 256 and partials.shape[0] >= 1
    plain = httpx.post(urls["encoder"] + "/v1/embed", json={"wav": wav.tolist(), "sample_rate": sr}, timeout=60).json()
    np.testing.assert_allclose(emb, plain["embedding"], atol=1e-6)


@pytest.mark.parametrize("fmt,subtype,rate", [("WAV", "PCM_16", 16000), ("FLAC", "PCM_16", 44100),
                                              ("OGG", "VORBIS", 22050), ("MP3", "MPEG_LAYER_III", 24000)])
def test_upload_formats_and_rates_give_the_same_voice(urls, fmt, subtype, rate):
    import librosa
    wav, sr = _wav("ref_slt.wav")
    ref = np.array(httpx.post(urls["encoder"] + "/v1/embed", json={"wav": wav.tolist(), "sample_rate": sr},
                              timeout=60).json()["embedding"])
    data = _encode(librosa.resample(wav, orig_sr=sr, target_sr=rate), rate, fmt, subtype)
    r = httpx.post(urls["encoder"] + "/v1/embed", files={"file": ("ref." + fmt.lower(), data)}, timeout=60)
    assert r.status_code == 200, r.text
    assert float(np.dot(ref, r.json()["embedding"])) > 0.95


def test_different_speakers_are_less_similar_than_same_speaker(urls):
    embs = {}
    for name in ("ref_slt.wav", "ref_awb.wav", "ref_joe_22k.wav"):
        r = httpx.post(urls["encoder"] + "/v1/embed", files={"file": (name, (DATA / name).read_bytes())}, timeout=60)
        embs[name] = np.array(r.json()["embedding"])
    wav, sr = _wav("ref_slt.wav")
    half = httpx.post(urls["encoder"] + "/v1/embed", json={"wav": wav[: len(wav) // 2].tolist(), "sample_rate": sr},
                      timeout=60).json()["embedding"]
    same = float(np.dot(half, embs["ref_slt.wav"]))
    assert same > float(np.dot(embs["ref_slt.wav"], embs["ref_awb.wav"]))
    assert same > float(np.dot(embs["ref_slt.wav"], embs["ref_joe_22k.wav"]))


def test_info_health_ready_and_docs(urls):
    info = httpx.get(urls["encoder"] + "/v1/info").json()
    assert info["hparams"]["hidden_size"] == 256 and len(info["sha256"]) == 64
    assert httpx.get(urls["encoder"] + "/healthz").json()["status"] == "ok"
    assert httpx.get(urls["encoder"] + "/readyz").status_code == 200
    spec = httpx.get(urls["encoder"] + "/openapi.json").json()
    assert "/v1/embed" in spec["paths"] and "/inference" in spec["paths"]


BAD_JSON = [
    ({"wav": [], "sample_rate": 16000}, 422, "empty"),
    ({"wav": [0.1, float("nan")] * 4000, "sample_rate": 16000}, 422, "NaN"),
    ({"wav": [0.1] * 8000, "sample_rate": 0}, 422, "sample_rate"),
    ({"wav": [0.1] * 8000, "sample_rate": 10 ** 9}, 422, "sample_rate"),
    ({"wav": "not an array", "sample_rate": 16000}, 422, "wav"),
    ({"wav": [[0.1, 0.2], [0.3]], "sample_rate": 16000}, 422, "same length"),
    ({"wav": [0.0] * 16000, "sample_rate": 16000}, 422, "silent"),
    ({"sample_rate": 16000}, 422, "wav"),
    ({"wav": {"dtype": "float32", "shape": [10], "data": "AAAA"}, "sample_rate": 16000}, 422, "bytes"),
]


@pytest.mark.parametrize("body,status,needle", BAD_JSON)
def test_bad_json_gets_clear_4xx(urls, body, status, needle):
    import json
    r = httpx.post(urls["encoder"] + "/v1/embed", content=json.dumps(body), timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert needle.lower() in r.json()["error"]["message"].lower()


def test_bad_uploads_and_limits(urls):
    r = httpx.post(urls["encoder"] + "/v1/embed", files={"file": ("x.wav", b"this is not audio at all" * 10)})
    assert r.status_code == 415 and "audio" in r.json()["error"]["message"]
    r = httpx.post(urls["encoder"] + "/v1/embed", files={"file": ("x.wav", b"")})
    assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
    long = _encode(np.zeros(16000 * 200, dtype=np.float32) + 0.01, 16000, "WAV", "PCM_16")
    r = httpx.post(urls["encoder"] + "/v1/embed", files={"file": ("long.wav", long)})
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    r = httpx.post(urls["encoder"] + "/v1/embed", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert httpx.get(urls["encoder"] + "/healthz").status_code == 200  # still serving


def test_chunked_body_without_length_is_limited(urls):
    def chunks():
        for _ in range(30):
            yield b"[" + b"0.1," * 250_000  # ~1 MB each, no Content-Length: sent chunked
    r = httpx.post(urls["encoder"] + "/v1/embed", content=chunks(), headers={"content-type": "application/json"},
                   timeout=60)
    assert r.status_code == 413 and "exceeds" in r.json()["error"]["message"]
    assert httpx.get(urls["encoder"] + "/healthz").status_code == 200
