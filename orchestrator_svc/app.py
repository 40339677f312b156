"""Orchestrator: end-to-end cloning over the stage services, voice library, OpenAI-compatible speech."""
import asyncio
import base64
import hashlib
import platform
import time
from pathlib import Path
from typing import Literal

import httpx
import numpy as np
from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from common.audio_io import write_audio_bytes
from common.config import ServiceSettings
from common.errors import APIError, bad_request, parse_body
from common.metrics import STAGE_LATENCY
from common.service import create_app
from common.wire import decode_array, encode_array
from common.outbound import fetch_bytes
from orchestrator_svc import background
from orchestrator_svc.clients import StagePool
from orchestrator_svc.jobs import JobStore, worker_loop
from orchestrator_svc.pipeline import Pipeline, check_embedding, pcm16, speak_stream, wav_stream_header
from orchestrator_svc.responses import document_errors, install_allow_header
from orchestrator_svc.results import make_results, media_type
from orchestrator_svc.schemas import (
    AudioFormat,
    Backend,
    ClonePreview,
    JobView,
    OrchestratorInfo,
    SeedInferenceRequest,
    SeedInferenceResponse,
    SpeechRequest,
    TTSRequest,
    Voice,
    VoiceImport,
    VoiceList,
)
from orchestrator_svc.tenancy import Tenant, current_tenant
from orchestrator_svc.voices import VoiceStore
from orchestrator_svc.webhooks import check_webhook_url

STATIC = Path(__file__).parent / "static"


class OrchestratorSettings(ServiceSettings):
    port: int = 8000
    encoder_urls: str = "http://127.0.0.1:8001"
    synthesizer_urls: str = "http://127.0.0.1:8002"
    vocoder_urls: str = "http://127.0.0.1:8003"
    stage_api_key: str = ""
    stage_timeout_s: float = 300.0
    stage_retries: int = 2
    data_dir: str = "var/orchestrator"
    default_vocoder: str = ""
    job_queue: Literal["auto", "sqlite", "redis"] = Field(
        "auto", description="auto: Redis (rq) when REDIS_URL is set, else SQLite in DATA_DIR")
    job_workers: int = Field(1, description="SQLite queue: job workers inside this process (0: only separate "
                                            "worker processes). The Redis queue always uses separate workers.")
    job_lease_s: float = Field(600.0, description="longest a job may run before it is taken to have died")
    job_max_attempts: int = 3
    job_ttl_s: int = Field(7 * 86400, gt=0, description="how long finished jobs' records and results are kept")
    job_worker_ttl_s: int = Field(60, description="Redis: worker heartbeat; idle workers wake this often")
    job_monitoring_interval_s: int = Field(10, description="Redis: a dead worker's job is retried this + 60 s later")
    job_maintenance_interval_s: int = Field(60, description="Redis: how often workers look for abandoned jobs")
    webhook_secret: str = Field("", description="HMAC-SHA256 key for X-Voxclone-Signature on job webhooks; "
                                                "empty: webhooks are disabled (submissions with one get 422)")
    webhook_deadline_s: float = Field(60.0, description="all attempts of one webhook delivery end by then")
    outbound_allow: str = Field("", description="networks (CIDR, comma-separated) that webhooks and "
                                                "reference_url may reach although not public, e.g. 10.0.0.0/8")
    admin_api_keys: str = Field("", description="keys that see every tenant's voices and jobs")
    s3_bucket: str = Field("", description="store job results in this S3(-compatible) bucket; presigned URLs")
    s3_prefix: str = "voxclone/"
    s3_endpoint_url: str = Field("", description="for S3-compatible stores (MinIO, Ceph, R2...)")
    s3_region: str = ""
    s3_url_expires_s: int = 3600

    def admin_key_list(self) -> list[str]:
        return [k.strip() for k in self.admin_api_keys.split(",") if k.strip()]

    def key_list(self) -> list[str]:
        return super().key_list() + self.admin_key_list()

    @property
    def redis_jobs(self) -> bool:
        return self.job_queue == "redis" or (self.job_queue == "auto" and bool(self.redis_url))


def _urls(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def build_pipeline(s: OrchestratorSettings) -> tuple[Pipeline, httpx.AsyncClient]:
    """The stage clients and voice store, shared by the web process and separate job workers."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(s.stage_timeout_s, connect=5.0),
                               limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
    pools = {name: StagePool(name, _urls(urls), client, retries=s.stage_retries, api_key=s.stage_api_key)
             for name, urls in (("encoder", s.encoder_urls), ("synthesizer", s.synthesizer_urls),
                                ("vocoder", s.vocoder_urls))}
    store = VoiceStore(f"{s.data_dir}/voices.sqlite3")
    return Pipeline(pools["encoder"], pools["synthesizer"], pools["vocoder"], store), client


async def _startup(app: FastAPI) -> None:
    s: OrchestratorSettings = app.state.settings
    app.state.pipeline, client = build_pipeline(s)
    app.state.client, app.state.store = client, app.state.pipeline.store
    app.state.outbound = background.outbound_policy(s)
    app.state.background = tasks = background.Background()
    if s.redis_jobs:
        if not s.redis_url:
            raise RuntimeError("JOB_QUEUE=redis needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
        from redis import Redis

        from orchestrator_svc.redis_jobs import store_for
        redis = Redis.from_url(s.redis_url)
        app.state.jobs, app.state.results = store_for(redis, s), make_results(s, redis)
    else:
        app.state.jobs = JobStore(s.data_dir, lease_s=s.job_lease_s, max_attempts=s.job_max_attempts)
        app.state.results = make_results(s)
    tasks.start_webhooks(background.webhook_queue(s, app.state.jobs))
    tasks.add("retention", background.retention_loop(app.state.jobs, app.state.results, s.job_ttl_s))
    if s.redis_jobs:
        # Redis jobs run in separate worker processes (python -m orchestrator_svc.worker); their webhooks here.
        tasks.add("webhook_feed", background.redis_webhook_feed(app.state.jobs, tasks.webhooks))
        return
    notify = background.notifier(app.state.jobs, tasks.webhooks)
    for _ in range(s.job_workers):
        tasks.add("job_workers", worker_loop(app.state.jobs, app.state.results, app.state.pipeline, notify,
                                             asyncio.Event()))


async def _shutdown(app: FastAPI) -> None:
    await app.state.background.stop()  # a job worker cancelled mid-job releases it for another worker at once
    await app.state.client.aclose()
    app.state.store.close()
    app.state.jobs.close()


def stage_key_problem(s: OrchestratorSettings) -> str | None:
    if s.key_list() and not s.stage_api_key:
        return ("API_KEYS is set but STAGE_API_KEY is not: the stages reject the orchestrator's calls when they "
                "require keys; set STAGE_API_KEY to a key the stages accept")
    return None


async def _ready(app: FastAPI) -> dict:
    p: Pipeline = app.state.pipeline
    checks = {}
    for name, pool in (("encoder", p.encoder), ("synthesizer", p.synthesizer), ("vocoder", p.vocoder)):
        replicas = await pool.healthy()
        checks[name] = {"ok": any(replicas.values()), "replicas": replicas}
        if checks[name]["ok"] and (problem := await pool.key_problem()):
            checks[name].update(ok=False, error=problem)
    if problem := stage_key_problem(app.state.settings):
        checks["stage_api_key"] = {"ok": False, "error": problem}
    checks["background"] = app.state.background.check()
    if app.state.settings.redis_jobs:
        try:
            workers = await asyncio.to_thread(app.state.jobs.workers)
            checks["jobs"] = {"ok": True, "queue": "redis", "workers": workers}
        except Exception as exc:  # noqa: BLE001 - any Redis failure means jobs cannot be accepted
            checks["jobs"] = {"ok": False, "queue": "redis", "error": type(exc).__name__}
    return checks


def check_text(settings: OrchestratorSettings, text: str) -> str:
    if len(text) > settings.max_text_chars:
        raise APIError(413, "text_too_long", f"text: {len(text)} characters exceed the {settings.max_text_chars} limit")
    if not any(c.isalnum() for c in text):
        raise bad_request("text: has nothing to speak")
    return text


def audio_response(wav: np.ndarray, fmt: str, extra: dict | None = None) -> Response:
    data, media = write_audio_bytes(wav, fmt)
    headers = {"X-Sample-Rate": "16000", "X-Audio-Duration": f"{len(wav) / 16000:.3f}", **(extra or {})}
    return Response(data, media_type=media, headers=headers)


def job_view(job: dict, results) -> JobView:
    done = job["status"] == "succeeded"
    result_url = (results.url(job["result"]) or f"/v1/jobs/{job['id']}/result") if done else None
    return JobView(id=job["id"], status=job["status"], created_at=job["created_at"], updated_at=job["updated_at"],
                   attempts=job["attempts"], error=job["error"], status_url=f"/v1/jobs/{job['id']}",
                   result_url=result_url, webhook=job["webhook_status"])


def streamed(pipe: Pipeline, text: str, emb, vocoder, seed, header: bool) -> StreamingResponse:
    async def chunks():
        if header:
            yield wav_stream_header()
        async for wav in speak_stream(pipe, text, emb, vocoder, seed):
            yield pcm16(wav)
    return StreamingResponse(chunks(), media_type="audio/wav" if header else "audio/pcm",
                             headers={"X-Sample-Rate": "16000"})


def voice_view(v: dict, with_embedding: bool = False) -> Voice:
    return Voice(id=v["id"], name=v["name"], source=v["source"], created_at=v["created_at"],
                 embedding=v["embedding"].tolist() if with_embedding else None)


def orchestrator_info(app: FastAPI) -> OrchestratorInfo:
    s: OrchestratorSettings = app.state.settings
    p: Pipeline = app.state.pipeline
    return OrchestratorInfo(
        version=app.version, python=platform.python_version(),
        stages={pool.stage: len(pool.urls) for pool in (p.encoder, p.synthesizer, p.vocoder)},
        job_queue="redis" if s.redis_jobs else "sqlite", job_workers=0 if s.redis_jobs else s.job_workers,
        job_ttl_s=s.job_ttl_s, webhooks_enabled=bool(s.webhook_secret), auth_required=bool(s.key_list()),
        limits={"max_upload_bytes": s.max_upload_bytes, "max_text_chars": s.max_text_chars,
                "max_audio_seconds": s.max_audio_seconds})


def create(settings: OrchestratorSettings | None = None) -> FastAPI:
    settings = settings or OrchestratorSettings()
    app = create_app("orchestrator", settings, load=_startup, ready=_ready, close=_shutdown,
                     description="Voice cloning end to end: reference audio + text -> speech in that voice.")

    def pipeline(request: Request) -> Pipeline:
        return request.app.state.pipeline

    def backend(choice: str | None) -> str | None:
        return choice or settings.default_vocoder or None

    async def read_upload(upload: UploadFile) -> bytes:
        data = await upload.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise APIError(413, "payload_too_large", f"upload exceeds {settings.max_upload_bytes} bytes")
        return data

    async def reference(request: Request, upload, url: str | None, field: str) -> tuple[bytes, str]:
        """The reference audio as bytes and a file name: an upload, or fetched from `reference_url` under the
        outbound-URL policy with the same size limit."""
        if (upload is None or isinstance(upload, str)) == (not url):
            raise bad_request(f"give either `{field}` (a file) or `reference_url`, not both or neither")
        if url:
            return await fetch_bytes(request.app.state.outbound, url, "reference_url"), "reference"
        data = await read_upload(upload)
        if not data:
            raise bad_request(f"{field}: the uploaded file is empty")
        return data, upload.filename or "reference"

    @app.post("/v1/clone", tags=["clone"], response_class=Response,
              responses={200: {"content": {"audio/wav": {}, "audio/mpeg": {}, "audio/ogg": {}, "audio/flac": {}}}})
    async def clone(request: Request, reference_audio: UploadFile | None = File(None), text: str = Form(...),
                    format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                    seed: int | None = Form(None), stream: bool = Form(False),
                    reference_url: str | None = Form(None), tenant: Tenant = Depends(current_tenant)):
        """Speak `text` in the voice of `reference_audio` (wav/flac/ogg/mp3, a few seconds of speech) or of
        the audio at `reference_url`. `stream=true` sends WAV sentence by sentence as each is ready (wav only)."""
        check_text(settings, text)
        if stream and format != "wav":
            raise bad_request("stream=true needs format=wav")
        start = time.perf_counter()
        data, filename = await reference(request, reference_audio, reference_url, "reference_audio")
        emb, cached = await pipeline(request).embed_audio_file(data, filename, owner=tenant.owner)
        if stream:
            return streamed(pipeline(request), text, emb, backend(vocoder), seed, header=True)
        data, media, samples, stopped = await pipeline(request).speak_encoded(text, emb, format, backend(vocoder),
                                                                              seed=seed)
        STAGE_LATENCY.labels("orchestrator", "clone").observe(time.perf_counter() - start)
        return Response(data, media_type=media, headers={
            "X-Sample-Rate": "16000", "X-Audio-Duration": f"{samples / 16000:.3f}",
            "X-Embedding-Cached": str(cached).lower(), "X-Stopped": str(stopped).lower()})

    @app.post("/v1/clone/preview", tags=["clone"], response_model=ClonePreview)
    async def clone_preview(request: Request, reference_audio: UploadFile = File(...), text: str = Form(...),
                            vocoder: Backend | None = Form(None), seed: int | None = Form(None),
                            tenant: Tenant = Depends(current_tenant)):
        """Like /v1/clone, but JSON with the audio (base64 WAV), the mel and the attention alignments,
        for the web page's pictures."""
        check_text(settings, text)
        emb, cached = await pipeline(request).embed_audio_file(await read_upload(reference_audio),
                                                               reference_audio.filename or "reference",
                                                               owner=tenant.owner)
        speech = await pipeline(request).speak(text, emb, backend(vocoder), alignments=True, seed=seed)
        data, _ = write_audio_bytes(speech.wav, "wav")
        return ClonePreview(audio_wav_base64=base64.b64encode(data).decode(), duration_s=len(speech.wav) / 16000,
                            mel=encode_array(speech.mels[0], True), sentences=speech.sentences,
                            alignments=[encode_array(a, True) for a in speech.alignments[0]],
                            stopped=speech.stopped, embedding_cached=cached)

    @app.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
    async def inference(body: SeedInferenceRequest, request: Request):
        """Seed shape: `{wav, sr, text}` or `{embed, text}` -> `{wav, sr}`."""
        check_text(settings, body.text)
        if body.embed is not None:
            emb = decode_array(body.embed, "embed", ndim=(1,))
        elif body.wav is not None and body.sr is not None:
            wav = decode_array(body.wav, "wav", ndim=(1,))
            emb = await pipeline(request).embed_waveform(wav.astype(float).tolist(), body.sr)
        else:
            raise bad_request("give either `embed`, or `wav` and `sr`")
        speech = await pipeline(request).speak(body.text, emb, backend(None))
        return SeedInferenceResponse(wav=speech.wav.tolist())

    @app.post("/v1/voices", tags=["voices"], response_model=Voice, status_code=201, openapi_extra={"requestBody": {
        "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "name": {"type": "string", "maxLength": 200},
            "reference_url": {"type": "string", "maxLength": 2048}}}},
            "application/json": {"schema": VoiceImport.model_json_schema()}}}})
    async def enroll(request: Request, tenant: Tenant = Depends(current_tenant)):
        """Enroll from reference audio (multipart `file` or `reference_url`, and `name`) or import an
        embedding (JSON)."""
        store = request.app.state.store
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            url = form.get("reference_url")
            data, filename = await reference(request, form.get("file"), url if isinstance(url, str) else None,
                                             "file")
            emb, _ = await pipeline(request).embed_audio_file(data, filename, owner=tenant.owner)
            name = str(form.get("name") or filename or "voice")[:200]
            voice = await asyncio.to_thread(store.add, name, emb, "audio", hashlib.sha256(data).hexdigest(),
                                            owner=tenant.owner)
        else:
            body = parse_body(VoiceImport, await request.body())
            emb = check_embedding(decode_array(body.embedding, "embedding", ndim=(1,)))
            voice = await asyncio.to_thread(store.add, body.name, emb, "embedding", owner=tenant.owner)
        return voice_view(voice)

    @app.get("/v1/voices", tags=["voices"], response_model=VoiceList)
    async def list_voices(request: Request, limit: int = Query(100, ge=1, le=1000),
                          offset: int = Query(0, ge=0, le=2**62), tenant: Tenant = Depends(current_tenant)):
        """This key's voices (an admin key: everyone's), oldest first."""
        voices = await asyncio.to_thread(request.app.state.store.list, limit, offset,
                                         None if tenant.admin else tenant.owner)
        return VoiceList(voices=[voice_view(v) for v in voices])

    def get_voice(request: Request, voice_id: str, tenant: Tenant) -> dict:
        voice = request.app.state.store.get(voice_id)
        if voice is None or not tenant.sees(voice["owner"]):  # another key's voice: as if it did not exist
            raise APIError(404, "voice_not_found", f"no voice with id {voice_id!r}")
        return voice

    @app.get("/v1/voices/{voice_id}", tags=["voices"], response_model=Voice)
    async def read_voice(voice_id: str, request: Request, include_embedding: bool = True,
                         tenant: Tenant = Depends(current_tenant)):
        return voice_view(get_voice(request, voice_id, tenant), include_embedding)

    @app.delete("/v1/voices/{voice_id}", tags=["voices"], status_code=204, response_class=Response)
    async def delete_voice(voice_id: str, request: Request, tenant: Tenant = Depends(current_tenant)):
        get_voice(request, voice_id, tenant)
        request.app.state.store.delete(voice_id)
        return Response(status_code=204)

    @app.post("/v1/tts", tags=["clone"], response_class=Response)
    async def tts(body: TTSRequest, request: Request, tenant: Tenant = Depends(current_tenant)):
        """Speak with a saved voice (`voice_id`) or a given `embedding`."""
        check_text(settings, body.text)
        if body.voice_id:
            emb = get_voice(request, body.voice_id, tenant)["embedding"]
        elif body.embedding is not None:
            emb = decode_array(body.embedding, "embedding", ndim=(1,))
        else:
            raise bad_request("give `voice_id` or `embedding`")
        speech = await pipeline(request).speak(body.text, emb, backend(body.vocoder), seed=body.seed)
        return audio_response(speech.wav, body.format)

    @app.post("/v1/audio/speech", tags=["openai-compatible"], response_class=Response)
    async def openai_speech(body: SpeechRequest, request: Request, tenant: Tenant = Depends(current_tenant)):
        """Drop-in for OpenAI's speech endpoint; `voice` must be an id from `/v1/voices`."""
        check_text(settings, body.input)
        emb = get_voice(request, body.voice, tenant)["embedding"]
        if body.stream:
            if body.response_format not in ("wav", "pcm"):
                raise bad_request("stream=true needs response_format wav or pcm")
            if body.speed != 1.0:
                raise bad_request("stream=true does not support speed")
            return streamed(pipeline(request), body.input, emb, backend(None), None,
                            header=body.response_format == "wav")
        speech = await pipeline(request).speak(body.input, emb, backend(None))
        wav = speech.wav
        if body.speed != 1.0:
            import librosa
            wav = librosa.effects.time_stretch(wav, rate=body.speed)
        if body.response_format == "pcm":  # OpenAI's pcm is raw 16-bit little-endian; ours is at 16 kHz
            return Response(pcm16(wav), media_type="audio/pcm", headers={"X-Sample-Rate": "16000"})
        fmt = {"opus": "ogg", "aac": "mp3"}.get(body.response_format, body.response_format)
        return audio_response(wav, fmt)

    @app.post("/v1/jobs", tags=["jobs"], status_code=202, response_model=JobView)
    async def submit_job(request: Request, reference_audio: UploadFile | None = File(None), text: str = Form(...),
                         format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                         seed: int | None = Form(None), webhook_url: str | None = Form(None, max_length=2048),
                         reference_url: str | None = Form(None), tenant: Tenant = Depends(current_tenant)):
        """Queue a clone (same inputs as /v1/clone); poll `GET /v1/jobs/{id}` or get a signed webhook."""
        check_text(settings, text)
        check_webhook_url(webhook_url, settings.webhook_secret, request.app.state.outbound)
        data, filename = await reference(request, reference_audio, reference_url, "reference_audio")
        params = {"text": text, "format": format, "vocoder": backend(vocoder), "seed": seed,
                  "webhook_url": webhook_url or None, "filename": filename, "owner": tenant.owner}
        jobs = request.app.state.jobs
        jid = await asyncio.to_thread(jobs.create, data, params)
        return job_view(await asyncio.to_thread(jobs.get, jid), request.app.state.results)

    async def find_job(request: Request, job_id: str, tenant: Tenant) -> dict:
        job = await asyncio.to_thread(request.app.state.jobs.get, job_id)
        if job is None or not tenant.sees(job["params"].get("owner")):  # another key's job: as if absent
            raise APIError(404, "job_not_found", f"no job with id {job_id!r}")
        return job

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], response_model=JobView)
    async def job_status(job_id: str, request: Request, tenant: Tenant = Depends(current_tenant)):
        return job_view(await find_job(request, job_id, tenant), request.app.state.results)

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"], response_class=Response,
             responses={200: {"content": {"audio/wav": {}}}, 307: {"description": "presigned S3 URL"}})
    async def job_result(job_id: str, request: Request, tenant: Tenant = Depends(current_tenant)):
        """The job's audio; with S3 storage, a redirect to a presigned URL."""
        job = await find_job(request, job_id, tenant)
        if job["status"] != "succeeded":
            raise APIError(409, "job_not_ready", f"job {job_id} is {job['status']}"
                           + (f": {job['error']}" if job["error"] else ""))
        results = request.app.state.results
        url = await asyncio.to_thread(results.url, job["result"])
        if url:
            return RedirectResponse(url, status_code=307)
        data = await asyncio.to_thread(results.get, job["result"])
        if data is None:
            raise APIError(410, "job_result_expired", f"the result of job {job_id} is no longer stored")
        return Response(data, media_type=media_type(job["result"]),
                        headers={"Content-Disposition": f'attachment; filename="{job["result"]}"'})

    @app.get("/v1/info", tags=["ops"], response_model=OrchestratorInfo)
    async def info(request: Request):
        """Versions, stage replica counts, queue and limits; never URLs, keys or paths."""
        return orchestrator_info(request.app)

    document_errors(app)
    install_allow_header(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    return app
