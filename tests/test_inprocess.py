"""The four apps in this process (tests/inprocess.py), real models, no sockets: route logic and error cases,
the plain functions behind the routes, and that blocking work stays off the event loop."""
import asyncio
import io
import time

import numpy as np
import pytest
import soundfile as sf

from common.audio_encode import encode
from common.errors import APIError
from orchestrator_svc import job_api, speaking
from orchestrator_svc.jobs.results import DiskResults
from orchestrator_svc.rendering import stretch
from orchestrator_svc.settings import OrchestratorSettings
from tests.conftest import DATA
from tests.inprocess import start_stack

REF = (DATA / "ref_slt.wav").read_bytes()


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("inprocess"))
    yield stack
    stack.close()


def orch(apps, method, path, **kwargs):
    return apps.request("orchestrator", method, path, **kwargs)


def test_ready_reports_every_in_process_stage(apps):
    r = orch(apps, "GET", "/readyz")
    assert r.status_code == 200, r.text
    assert {"encoder", "synthesizer", "vocoder"} <= set(r.json()["checks"])


def test_clone_and_tts_through_the_routers(apps):
    r = orch(apps, "POST", "/v1/clone", files={"reference_audio": ("ref.wav", REF)},
             data={"text": "Hi there.", "vocoder": "griffinlim", "format": "flac"})
    assert r.status_code == 200, r.text[:300]
    wav, sr = sf.read(io.BytesIO(r.content))
    assert sr == 16000 and r.headers["content-type"] == "audio/flac"
    assert abs(float(r.headers["x-audio-duration"]) - len(wav) / sr) < 1e-3
    voice = orch(apps, "POST", "/v1/voices", files={"file": ("slt.wav", REF)}, data={"name": "slt"}).json()
    r = orch(apps, "POST", "/v1/tts", json={"voice_id": voice["id"], "text": "Good day.", "vocoder": "griffinlim"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    preview = orch(apps, "POST", "/v1/clone/preview", files={"reference_audio": ("ref.wav", REF)},
                   data={"text": "Good day.", "vocoder": "griffinlim"}).json()
    # The mel and alignments are passed on in the synthesizer's own compact form.
    assert preview["mel"]["shape"][0] == 80 and preview["embedding_cached"] is True
    assert len(preview["alignments"]) == len(preview["sentences"]) == 1


@pytest.mark.parametrize("path,kwargs,status,needle", [
    ("/v1/clone", {"data": {"text": "hi", "format": "ogg", "stream": "true"},
                   "files": {"reference_audio": ("r.wav", REF)}}, 422, "when streaming"),
    ("/v1/clone", {"data": {"text": "..."}, "files": {"reference_audio": ("r.wav", REF)}}, 422, "nothing to speak"),
    ("/v1/clone", {"data": {"text": "hi"}, "files": {"reference_audio": ("r.wav", b"not audio")}}, 415, "encoder:"),
    ("/v1/tts", {"json": {"text": "hello"}}, 422, "voice_id"),
    ("/v1/tts", {"json": {"text": "hello", "voice_id": "voice_nope"}}, 404, "voice_nope"),
    ("/v1/audio/speech", {"json": {"input": "Hi.", "voice": "voice_nope"}}, 400, "voice_nope"),
    ("/v1/voices", {"json": {"name": "bad", "embedding": [0.1] * 3}}, 422, "256"),
    ("/v1/voices", {"json": {"name": "loud", "embedding": [2.0] * 256}}, 422, "unit-norm"),
    ("/v1/jobs", {"data": {"text": "hi", "webhook_url": "ftp://x"}, "files": {"reference_audio": ("r.wav", REF)}},
     422, "webhook_url"),
    ("/v1/jobs", {"data": {"text": "hi"}, "files": {"reference_audio": ("r.wav", b"")}}, 422, "empty"),
    ("/inference", {"json": {"text": "Okay."}}, 422, "embed"),
])
def test_bad_requests_get_clear_errors(apps, path, kwargs, status, needle):
    r = orch(apps, "POST", path, **kwargs)
    assert r.status_code == status, r.text[:300]
    assert needle in r.json()["error"]["message"]


def test_openai_speech_formats_and_stream_rules(apps):
    voice = orch(apps, "POST", "/v1/voices", files={"file": ("slt.wav", REF)}, data={"name": "slt"}).json()
    body = {"input": "Good day.", "voice": voice["id"]}
    r = orch(apps, "POST", "/v1/audio/speech", json={**body, "response_format": "opus"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg; codecs=opus"
    r = orch(apps, "POST", "/v1/audio/speech", json={**body, "response_format": "mp3", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg" and len(r.content) > 500
    r = orch(apps, "POST", "/v1/audio/speech", json={**body, "response_format": "pcm", "stream": True, "speed": 2})
    assert r.status_code == 200 and r.headers["x-sample-rate"] == "24000" and len(r.content) % 2 == 0
    r = orch(apps, "POST", "/v1/audio/speech", json={**body, "voice": "nobody"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "voice"


def test_jobs_submit_show_and_refuse_unready_results(apps):
    job = orch(apps, "POST", "/v1/jobs", files={"reference_audio": ("r.wav", REF)}, data={"text": "Hi."}).json()
    assert job["status"] in ("queued", "running", "succeeded") and job["status_url"] == f"/v1/jobs/{job['id']}"
    assert orch(apps, "GET", "/v1/jobs/job_missing").status_code == 404
    r = orch(apps, "GET", f"/v1/jobs/{job['id']}/result")
    assert r.status_code in (200, 409)


def test_speed_and_pcm_rate():
    wav = np.sin(np.arange(16000, dtype=np.float32) / 10)
    assert len(stretch(wav, 2.0)) == pytest.approx(8000, rel=0.05)
    assert stretch(wav, 1.0) is wav
    pcm = encode(wav, 16000, "pcm")  # OpenAI's pcm: 24 kHz whatever the vocoder's rate
    assert pcm.media_type == "audio/pcm" and len(pcm.data) == pytest.approx(2 * 24000, abs=64)
    assert pcm.sample_rate == 24000 and pcm.duration_s == 1.0


def test_text_check_and_vocoder_choice():
    settings = OrchestratorSettings(max_text_chars=5, default_vocoder="griffinlim")
    with pytest.raises(APIError) as err:
        speaking.check_text(settings, "too long")
    assert err.value.status == 413
    assert speaking.vocoder_choice(settings, None) == "griffinlim"
    assert speaking.vocoder_choice(settings, "wavernn") == "wavernn"
    assert speaking.vocoder_choice(OrchestratorSettings(), None) is None


def test_settings_reject_bad_values():
    from pydantic import ValidationError
    for bad in ({"encoder_urls": "ftp://x"}, {"vocoder_urls": " , "}, {"job_max_attempts": 0},
                {"default_vocoder": "melgan"}, {"stage_timeout_s": 0}):
        with pytest.raises(ValidationError):
            OrchestratorSettings(**bad)


def test_job_view_links_to_the_result(tmp_path):
    job = {"id": "job_1", "status": "succeeded", "created_at": 1.0, "updated_at": 2.0, "attempts": 1,
           "error": None, "result": "job_1.wav", "webhook_status": None}
    view = job_api.job_view(job, DiskResults(tmp_path))
    assert view.result_url == "/v1/jobs/job_1/result" and view.status_url == "/v1/jobs/job_1"
    assert job_api.job_view({**job, "status": "running"}, DiskResults(tmp_path)).result_url is None


def test_slow_encode_does_not_delay_health_checks(apps):
    """A long mel vocoded and encoded as mp3 keeps the vocoder busy for seconds; its health check still answers
    at once, because Griffin-Lim and the encoder run in a worker thread, not on the event loop."""
    mel = np.full((80, 3000), -2.0, dtype=np.float32)   # 37.5 s of audio
    client = apps.clients["vocoder"]

    async def scenario():
        start = time.perf_counter()
        slow = asyncio.create_task(client.post("/v1/vocode", json={"mel": mel.tolist(), "backend": "griffinlim",
                                                                   "format": "mp3"},
                                               headers={"accept": "audio/mpeg"}))
        health_waits = []
        while not slow.done():
            asked = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            health_waits.append(time.perf_counter() - asked)
            await asyncio.sleep(0.05)
        return (await slow), time.perf_counter() - start, health_waits

    response, slow_s, health_waits = apps.call(scenario())
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
    assert len(health_waits) >= 3, f"the vocode took only {slow_s:.2f} s"
    # Measured on a loaded 2-core machine with 150 s of audio: vocode + mp3 ~4 s, the slowest health check
    # ~0.1 s; 37.5 s of audio still gives several checks during the vocode, at a quarter of the cost.
    assert max(health_waits) < slow_s / 3, (max(health_waits), slow_s)


def test_rate_limit_applies_to_router_routes():
    """RATE_LIMIT reaches routes that come from an APIRouter (common.service.include_routers)."""
    import httpx
    from fastapi import APIRouter

    from common.config import ServiceSettings
    from common.service import create_app, include_routers
    router = APIRouter()

    @router.get("/v1/ping")
    async def ping():
        return {"ok": True}

    app = create_app("test", ServiceSettings(rate_limit="2/minute"))
    include_routers(app, router)

    async def three():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return [(await client.get("/v1/ping", headers={"X-API-Key": "k"})).status_code for _ in range(3)]
    assert asyncio.run(three()) == [200, 200, 429]
