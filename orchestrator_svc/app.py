"""Orchestrator: end-to-end cloning over the stage services, voice library, OpenAI-compatible speech."""
import asyncio
import base64
import hashlib
import time
from pathlib import Path
from typing import Literal

import httpx
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from common.audio_encode import AUDIO_MEDIA_TYPES, encode
from common.config import ServiceSettings
from common.errors import APIError, bad_request, parse_body
from common.metrics import STAGE_LATENCY
from common.service import create_app, run_blocking
from common.wire import decode_array, encode_array
from orchestrator_svc.clients import StagePool
from orchestrator_svc.jobs import JobStore, worker_loop
from orchestrator_svc.openai_routes import router as openai_router
from orchestrator_svc.openai_speech import check_input, resolve_voice
from orchestrator_svc.pipeline import Pipeline, check_embedding
from orchestrator_svc.rendering import open_speech_stream, render
from orchestrator_svc.results import make_results, media_type
from orchestrator_svc.schemas import (
    AudioFormat,
    Backend,
    ClonePreview,
    JobView,
    SeedInferenceRequest,
    SeedInferenceResponse,
    TTSRequest,
    Voice,
    VoiceImport,
    VoiceList,
    VoiceRename,
)
from orchestrator_svc.studio import studio_events
from orchestrator_svc.voices import VoiceStore

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
    job_ttl_s: int = Field(7 * 86400, description="Redis: how long job records and results are kept")
    job_worker_ttl_s: int = Field(60, description="Redis: worker heartbeat; idle workers wake this often")
    job_monitoring_interval_s: int = Field(10, description="Redis: a dead worker's job is retried this + 60 s later")
    job_maintenance_interval_s: int = Field(60, description="Redis: how often workers look for abandoned jobs")
    webhook_secret: str = Field("", description="HMAC-SHA256 key for X-Voxclone-Signature on job webhooks")
    s3_bucket: str = Field("", description="store job results in this S3(-compatible) bucket; presigned URLs")
    s3_prefix: str = "voxclone/"
    s3_endpoint_url: str = Field("", description="for S3-compatible stores (MinIO, Ceph, R2...)")
    s3_region: str = ""
    s3_url_expires_s: int = 3600

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
    app.state.stop_workers = asyncio.Event()
    app.state.workers = []
    if s.redis_jobs:
        if not s.redis_url:
            raise RuntimeError("JOB_QUEUE=redis needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
        from redis import Redis

        from orchestrator_svc.redis_jobs import store_for
        redis = Redis.from_url(s.redis_url)
        app.state.jobs, app.state.results = store_for(redis, s), make_results(s, redis)
        return  # Redis jobs run in separate worker processes (python -m orchestrator_svc.worker)
    app.state.jobs = JobStore(s.data_dir, lease_s=s.job_lease_s, max_attempts=s.job_max_attempts)
    app.state.results = make_results(s)
    app.state.workers = [asyncio.create_task(worker_loop(app.state.jobs, app.state.results, app.state.pipeline,
                                                         client, s.webhook_secret, app.state.stop_workers))
                         for _ in range(s.job_workers)]


async def _shutdown(app: FastAPI) -> None:
    app.state.stop_workers.set()
    for task in app.state.workers:
        task.cancel()  # an interrupted job keeps its lease and is picked up again after a restart
    await asyncio.gather(*app.state.workers, return_exceptions=True)
    await app.state.client.aclose()
    app.state.store.close()
    app.state.jobs.close()


async def _ready(app: FastAPI) -> dict:
    p: Pipeline = app.state.pipeline
    checks = {}
    for name, pool in (("encoder", p.encoder), ("synthesizer", p.synthesizer), ("vocoder", p.vocoder)):
        replicas = await pool.healthy()
        checks[name] = {"ok": any(replicas.values()), "replicas": replicas}
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


def audio_response(out, extra: dict | None = None) -> Response:
    """An Encoded or Rendered file with its true rate (pcm 24 kHz, opus 48 kHz, else the vocoder's)."""
    headers = {"X-Sample-Rate": str(out.sample_rate), "X-Audio-Duration": f"{out.duration_s:.3f}", **(extra or {})}
    return Response(out.data, media_type=out.media_type, headers=headers)


def job_view(job: dict, results) -> JobView:
    done = job["status"] == "succeeded"
    result_url = (results.url(job["result"]) or f"/v1/jobs/{job['id']}/result") if done else None
    return JobView(id=job["id"], status=job["status"], created_at=job["created_at"], updated_at=job["updated_at"],
                   attempts=job["attempts"], error=job["error"], status_url=f"/v1/jobs/{job['id']}",
                   result_url=result_url, webhook=job["webhook_status"])


async def streamed(pipe: Pipeline, text: str, emb, vocoder, seed, fmt: str) -> StreamingResponse:
    encoder, chunks = await open_speech_stream(pipe, text, emb, fmt, vocoder, seed)
    return StreamingResponse(chunks, media_type=encoder.spec.media_type,
                             headers={"X-Sample-Rate": str(encoder.sample_rate)})


def voice_view(v: dict, with_embedding: bool = False) -> Voice:
    return Voice(id=v["id"], name=v["name"], source=v["source"], created_at=v["created_at"],
                 embedding=v["embedding"].tolist() if with_embedding else None)


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

    @app.post("/v1/clone", tags=["clone"], response_class=Response,
              responses={200: {"content": {m: {} for m in AUDIO_MEDIA_TYPES}}})
    async def clone(request: Request, reference_audio: UploadFile = File(...), text: str = Form(...),
                    format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                    seed: int | None = Form(None), stream: bool = Form(False)):
        """Speak `text` in the voice of `reference_audio` (wav/flac/ogg/mp3, a few seconds of speech).
        `stream=true` sends the format's bytes sentence by sentence as each is ready (not ogg)."""
        check_text(settings, text)
        start = time.perf_counter()
        emb, cached = await pipeline(request).embed_audio_file(await read_upload(reference_audio),
                                                               reference_audio.filename or "reference")
        if stream:
            return await streamed(pipeline(request), text, emb, backend(vocoder), seed, format)
        out = await pipeline(request).speak_encoded(text, emb, format, backend(vocoder), seed=seed)
        STAGE_LATENCY.labels("orchestrator", "clone").observe(time.perf_counter() - start)
        return audio_response(out, {"X-Embedding-Cached": str(cached).lower(), "X-Stopped": str(out.stopped).lower()})

    @app.post("/v1/clone/preview", tags=["clone"], response_model=ClonePreview)
    async def clone_preview(request: Request, reference_audio: UploadFile = File(...), text: str = Form(...),
                            vocoder: Backend | None = Form(None), seed: int | None = Form(None)):
        """Like /v1/clone, but JSON with the audio (base64 WAV), the mel and the attention alignments,
        for the web page's pictures."""
        check_text(settings, text)
        emb, cached = await pipeline(request).embed_audio_file(await read_upload(reference_audio),
                                                               reference_audio.filename or "reference")
        speech = await pipeline(request).speak(text, emb, backend(vocoder), alignments=True, seed=seed)
        wav = await run_blocking(encode, speech.wav, speech.sample_rate, "wav")
        return ClonePreview(audio_wav_base64=base64.b64encode(wav.data).decode(), duration_s=wav.duration_s,
                            mel=encode_array(speech.mels[0], True), sentences=speech.sentences,
                            alignments=[encode_array(a, True) for a in speech.alignments[0]],
                            stopped=speech.stopped, embedding_cached=cached)

    @app.post("/v1/studio/speak", tags=["clone"], response_class=StreamingResponse,
              responses={200: {"content": {"text/event-stream": {}}}})
    async def studio_speak(request: Request, text: str = Form(...), voice: str | None = Form(None),
                           reference_audio: UploadFile | None = File(None), format: AudioFormat = Form("wav"),
                           speed: float = Form(1.0, ge=0.25, le=4.0), seed: int | None = Form(None),
                           vocoder: Backend | None = Form(None)):
        """The web page's Speak: a built-in or saved `voice`, or a new `reference_audio`; server-sent progress
        events as each stage runs, then the audio with its mel and alignments (see orchestrator_svc.studio)."""
        check_input(text)
        if reference_audio is not None:
            reference, embedding = (await read_upload(reference_audio), reference_audio.filename or "reference"), None
        elif voice:
            reference, embedding = None, resolve_voice(voice, request.app.state.store)
        else:
            raise bad_request("give a `voice` or a `reference_audio`")
        return StreamingResponse(studio_events(pipeline(request), text, format, backend(vocoder), seed, speed,
                                               embedding, reference), media_type="text/event-stream")

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
        return SeedInferenceResponse(wav=speech.wav.tolist(), sr=speech.sample_rate)

    @app.post("/v1/voices", tags=["voices"], response_model=Voice, status_code=201, openapi_extra={"requestBody": {
        "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "name": {"type": "string"}}}},
            "application/json": {"schema": VoiceImport.model_json_schema()}}}})
    async def enroll(request: Request):
        """Enroll from reference audio (multipart `file`, `name`) or import an embedding (JSON)."""
        store = request.app.state.store
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise bad_request("multipart body needs an audio `file` field")
            data = await read_upload(upload)
            emb, _ = await pipeline(request).embed_audio_file(data, upload.filename or "reference")
            name = str(form.get("name") or upload.filename or "voice")[:200]
            voice = store.add(name, emb, "audio", hashlib.sha256(data).hexdigest())
        else:
            body = parse_body(VoiceImport, await request.body())
            emb = check_embedding(decode_array(body.embedding, "embedding", ndim=(1,)))
            voice = store.add(body.name, emb, "embedding")
        return voice_view(voice)

    @app.get("/v1/voices", tags=["voices"], response_model=VoiceList)
    async def list_voices(request: Request, limit: int = 100, offset: int = 0):
        return VoiceList(voices=[voice_view(v) for v in request.app.state.store.list(min(limit, 1000), offset)])

    def get_voice(request: Request, voice_id: str) -> dict:
        voice = request.app.state.store.get(voice_id)
        if voice is None:
            raise APIError(404, "voice_not_found", f"no voice with id {voice_id!r}")
        return voice

    @app.get("/v1/voices/{voice_id}", tags=["voices"], response_model=Voice)
    async def read_voice(voice_id: str, request: Request, include_embedding: bool = True):
        return voice_view(get_voice(request, voice_id), include_embedding)

    @app.patch("/v1/voices/{voice_id}", tags=["voices"], response_model=Voice)
    async def rename_voice(voice_id: str, body: VoiceRename, request: Request):
        """Rename a saved voice."""
        voice = request.app.state.store.rename(voice_id, body.name)
        if voice is None:
            raise APIError(404, "voice_not_found", f"no voice with id {voice_id!r}")
        return voice_view(voice)

    @app.delete("/v1/voices/{voice_id}", tags=["voices"], status_code=204, response_class=Response)
    async def delete_voice(voice_id: str, request: Request):
        if not request.app.state.store.delete(voice_id):
            raise APIError(404, "voice_not_found", f"no voice with id {voice_id!r}")
        return Response(status_code=204)

    @app.post("/v1/tts", tags=["clone"], response_class=Response)
    async def tts(body: TTSRequest, request: Request):
        """Speak with a saved voice (`voice_id`) or a given `embedding`."""
        check_text(settings, body.text)
        if body.voice_id:
            emb = get_voice(request, body.voice_id)["embedding"]
        elif body.embedding is not None:
            emb = decode_array(body.embedding, "embedding", ndim=(1,))
        else:
            raise bad_request("give `voice_id` or `embedding`")
        return audio_response(await render(pipeline(request), body.text, emb, body.format, backend(body.vocoder),
                                           body.seed, body.speed))

    @app.post("/v1/jobs", tags=["jobs"], status_code=202, response_model=JobView)
    async def submit_job(request: Request, reference_audio: UploadFile = File(...), text: str = Form(...),
                         format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                         seed: int | None = Form(None), webhook_url: str | None = Form(None)):
        """Queue a clone (same inputs as /v1/clone); poll `GET /v1/jobs/{id}` or get a signed webhook."""
        check_text(settings, text)
        if webhook_url and not webhook_url.startswith(("http://", "https://")):
            raise bad_request("webhook_url must be an http(s) URL")
        data = await read_upload(reference_audio)
        if not data:
            raise bad_request("reference_audio: the uploaded file is empty")
        params = {"text": text, "format": format, "vocoder": backend(vocoder), "seed": seed,
                  "webhook_url": webhook_url, "filename": reference_audio.filename or "reference"}
        jobs = request.app.state.jobs
        jid = await asyncio.to_thread(jobs.create, data, params)
        return job_view(await asyncio.to_thread(jobs.get, jid), request.app.state.results)

    async def find_job(request: Request, job_id: str) -> dict:
        job = await asyncio.to_thread(request.app.state.jobs.get, job_id)
        if job is None:
            raise APIError(404, "job_not_found", f"no job with id {job_id!r}")
        return job

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], response_model=JobView)
    async def job_status(job_id: str, request: Request):
        return job_view(await find_job(request, job_id), request.app.state.results)

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"], response_class=Response,
             responses={200: {"content": {"audio/wav": {}}}, 307: {"description": "presigned S3 URL"}})
    async def job_result(job_id: str, request: Request):
        """The job's audio; with S3 storage, a redirect to a presigned URL."""
        job = await find_job(request, job_id)
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

    app.include_router(openai_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    return app
