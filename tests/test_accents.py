"""The `accent` choice (issue 24): a synthesizer process with an accent checkpoint (a copy of the shipped one),
the orchestrator in front of it and in front of the default stack (no accent checkpoint: 422
accent_unavailable), and, in this process, that a micro-batch never mixes accents."""
import asyncio
import shutil

import httpx
import numpy as np
import pytest

from common.checkpoints import file_sha256, write_checkpoint
from common.paths import DEFAULT_SYNTHESIZER
from orchestrator_svc.builtin_voices import find_builtin
from synthesizer_svc.settings import SynthesizerSettings, parse_accent_checkpoints
from synthesizer_svc.speaker_emphasis import TUNED_FACTORS
from synthesizer_svc.spectrum_restore import TUNED_WEIGHTS
from tests import sse
from tests.processes import orchestrator, service
from tests.waiting import wait_for

EMBEDDING = find_builtin("slt").embedding.tolist()


@pytest.fixture(scope="module")
def british(tmp_path_factory):
    """A synthesizer process whose `british` checkpoint is a copy of the shipped synthesizer."""
    folder = tmp_path_factory.mktemp("accents")
    path = folder / "british.pt"
    shutil.copy(DEFAULT_SYNTHESIZER, path)
    svc = service("synthesizer", folder / "synthesizer.log", SYNTHESIZER_ACCENT_CHECKPOINTS=f"british={path}").start()
    try:
        svc.wait_ready()
        yield svc, path
    finally:
        svc.stop()


def studio_events(url: str, **fields) -> list[dict]:
    return sse.studio_events(url, text="Hi there.", voice="slt", vocoder="griffinlim", **fields)


def synthesize(url: str, **body) -> httpx.Response:
    return httpx.post(url + "/v1/synthesize", json={"text": "Good morning.", "embedding": EMBEDDING, **body},
                      timeout=120)


def test_an_accent_checkpoint_speaks_and_is_listed(british):
    svc, path = british
    r = synthesize(svc.url, accent="british", seed=3, compact=True)
    assert r.status_code == 200, r.text[:300]
    item = r.json()["mels"][0]
    assert item["mel"]["shape"] == [80, item["length"]] and item["length"] > 10
    # Same weights, same seed: the accent's model says exactly what the default one says.
    assert item["mel"]["data"] == synthesize(svc.url, accent="auto", seed=3, compact=True).json()["mels"][0]["mel"]["data"]
    info = httpx.get(svc.url + "/v1/info").json()
    # a copy of the shipped checkpoint: the same checksum, so the same tuned speaker_emphasis default
    factor, weight = TUNED_FACTORS[info["sha256"]], TUNED_WEIGHTS[info["sha256"]]
    assert info["accents"] == {
        "auto": {"checkpoint": info["checkpoint"], "sha256": info["sha256"], "speaker_emphasis": factor,
                 "spectrum_restore": weight},
        "british": {"checkpoint": "british.pt", "sha256": file_sha256(path), "speaker_emphasis": factor,
                    "spectrum_restore": weight}}
    schema = httpx.get(svc.url + "/openapi.json").json()
    assert schema["components"]["schemas"]["SynthesizeRequest"]["properties"]["accent"]["enum"] == ["auto", "british"]


def test_an_accent_without_checkpoint_or_unknown_is_422(british, urls):
    svc, _ = british
    r = synthesize(svc.url, accent="american")
    assert r.status_code == 422 and r.json()["error"]["code"] == "accent_unavailable", r.text
    assert "available: auto, british" in r.json()["error"]["message"]
    r = synthesize(urls["synthesizer"], accent="british")  # the default stack's: no accent checkpoint
    assert r.status_code == 422 and r.json()["error"]["code"] == "accent_unavailable", r.text
    assert "available: auto" in r.json()["error"]["message"]
    r = synthesize(svc.url, accent="bogus")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "accent" in r.json()["error"]["message"]


def test_orchestrator_passes_accent_through(british, urls, tmp_path):
    """Against the accent synthesizer: `british` is spoken, `american` is its 422, so the field is sent on."""
    svc, _ = british
    orch = orchestrator({**urls, "synthesizer": svc.url}, tmp_path).start()
    try:
        orch.wait_ready()
        body = {"text": "Hi there.", "embedding": EMBEDDING, "vocoder": "griffinlim"}
        r = httpx.post(orch.url + "/v1/tts", json={**body, "accent": "british"}, timeout=120)
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav", r.text[:300]
        r = httpx.post(orch.url + "/v1/tts", json={**body, "accent": "american"}, timeout=120)
        assert r.status_code == 422 and r.json()["error"]["code"] == "accent_unavailable", r.text
        assert httpx.get(orch.url + "/v1/info").json()["accents"] == ["auto", "british"]
        assert studio_events(orch.url, accent="british")[-1]["stage"] == "done"   # the web page's Speak
        failed = studio_events(orch.url, accent="american")[-1]
        assert failed["stage"] == "error" and failed["code"] == "accent_unavailable", failed
    finally:
        orch.stop()


def test_default_stack_refuses_named_accents_and_speaks_auto(urls, ref_wav_bytes):
    base = urls["orchestrator"]
    tts = {"text": "Hi there.", "embedding": EMBEDDING, "vocoder": "griffinlim"}
    r = httpx.post(base + "/v1/tts", json={**tts, "accent": "british"}, timeout=120)
    assert r.status_code == 422 and r.json()["error"]["code"] == "accent_unavailable", r.text
    assert httpx.post(base + "/v1/tts", json={**tts, "accent": "auto"}, timeout=120).status_code == 200
    assert httpx.post(base + "/v1/tts", json={**tts, "accent": "bogus"}, timeout=60).status_code == 422

    clone = {"files": {"reference_audio": ("ref.wav", ref_wav_bytes)}, "timeout": 120}
    r = httpx.post(base + "/v1/clone", data={"text": "Hi.", "accent": "british"}, **clone)
    assert r.status_code == 422 and r.json()["error"]["code"] == "accent_unavailable", r.text
    r = httpx.post(base + "/v1/clone", data={"text": "Hi.", "accent": "auto", "stream": "true", "format": "pcm"},
                   **clone)
    assert r.status_code == 200 and len(r.content) > 1000
    r = httpx.post(base + "/v1/clone/preview", data={"text": "Hi.", "accent": "british"}, **clone)
    assert r.status_code == 422 and r.json()["error"]["code"] == "accent_unavailable", r.text
    r = httpx.post(base + "/v1/clone/preview", data={"text": "Hi.", "accent": "auto", "vocoder": "griffinlim"},
                   **clone)
    assert r.status_code == 200 and r.json()["stopped"], r.text[:300]

    failed = studio_events(base, accent="british")[-1]
    assert failed["stage"] == "error" and failed["code"] == "accent_unavailable", failed
    r = httpx.post(base + "/v1/studio/speak", data={"text": "Hi.", "voice": "slt", "accent": "bogus"}, timeout=60)
    assert r.status_code == 422 and "accent" in r.text

    speech = {"input": "Hi.", "voice": "alloy", "response_format": "wav"}
    r = httpx.post(base + "/v1/audio/speech", json={**speech, "accent": "british"}, timeout=120)
    # OpenAI's error shape on its route, where our 422s are its 400s (openai_speech.openai_error)
    assert r.status_code == 400 and r.json()["error"]["code"] == "accent_unavailable", r.text
    r = httpx.post(base + "/v1/audio/speech", json={**speech, "accent": "auto"}, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"

    job = httpx.post(base + "/v1/jobs", data={"text": "Hi.", "accent": "british"}, **clone).json()
    done = wait_for(lambda: (s := httpx.get(f"{base}/v1/jobs/{job['id']}").json())["status"] == "failed" and s,
                    timeout=120, what="the british job to fail")
    assert "no checkpoint for 'british'" in done["error"] and done["attempts"] == 1  # a 4xx: not retried


def test_accent_setting_is_checked_at_start_up():
    assert parse_accent_checkpoints(" british=/a.pt, ,american = /b.pt ") == {"british": "/a.pt", "american": "/b.pt"}
    assert SynthesizerSettings().accent_checkpoints() == {}
    for bad in ("british", "british=", "auto=/a.pt", "scottish=/a.pt", "british=/a.pt,british=/b.pt"):
        with pytest.raises(ValueError, match="synthesizer_accent_checkpoints"):
            SynthesizerSettings(synthesizer_accent_checkpoints=bad)


def test_a_micro_batch_never_mixes_accents(tmp_path):
    """Concurrent unseeded requests of two accents, in-process: a `british` checkpoint (saved in fp16, as the
    default may be) whose postnet projection is zero says all-zero mels, so any british turn run by the
    default model, or the other way round, shows. Requests still batch within their accent."""
    from prometheus_client import REGISTRY

    from synthesizer_svc.app import create
    from synthesizer_svc.inference import load_synthesizer
    from tests.inprocess import AppLoop
    batched = lambda s: REGISTRY.get_sample_value(f"voxclone_batch_items_{s}", {"service": "synthesizer"}) or 0.0
    model = load_synthesizer(str(DEFAULT_SYNTHESIZER))
    model.post_proj.weight.data.zero_()
    write_checkpoint(tmp_path / "zero.pt", model, model.cfg, half=True)
    apps = AppLoop()
    try:
        client = apps.serve("synthesizer", create(SynthesizerSettings(
            max_frames_per_sentence=60, synthesizer_accent_checkpoints=f"british={tmp_path / 'zero.pt'}")))
        accents = ["auto", "british"] * 3
        calls, items = batched("count"), batched("sum")

        async def together():
            return await asyncio.gather(*(client.post("/v1/synthesize", json={
                "text": f"Request number {i}.", "embedding": EMBEDDING, "accent": a}) for i, a in enumerate(accents)))
        responses = apps.call(together())
        for accent, r in zip(accents, responses):
            assert r.status_code == 200, r.text[:300]
            zero = not np.any(np.array(r.json()["mels"][0]["mel"]))
            assert zero == (accent == "british")
        assert batched("sum") - items == 6
        assert batched("count") - calls < 6  # some shared a call, each with its own accent
    finally:
        apps.close()
