"""Orchestrator: end-to-end cloning over the stage services, voice library, OpenAI-compatible speech."""
import base64
import hashlib
import time
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from common.audio_io import write_audio_bytes
from common.config import ServiceSettings
from common.errors import APIError, bad_request, parse_body
from common.metrics import STAGE_LATENCY
from common.service import create_app
from common.wire import decode_array, encode_array
from orchestrator_svc.clients import StagePool
from orchestrator_svc.pipeline import Pipeline, check_embedding
from orchestrator_svc.schemas import (AudioFormat, Backend, ClonePreview, SeedInferenceRequest, SeedInferenceResponse,
                                      SpeechRequest, TTSRequest, Voice, VoiceImport, VoiceList)
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


def _urls(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


async def _startup(app: FastAPI) -> None:
    s: OrchestratorSettings = app.state.settings
    client = httpx.AsyncClient(timeout=httpx.Timeout(s.stage_timeout_s, connect=5.0),
                               limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
    pools = {name: StagePool(name, _urls(urls), client, retries=s.stage_retries, api_key=s.stage_api_key)
             for name, urls in (("encoder", s.encoder_urls), ("synthesizer", s.synthesizer_urls),
                                ("vocoder", s.vocoder_urls))}
    app.state.client = client
    app.state.store = VoiceStore(f"{s.data_dir}/voices.sqlite3")
    app.state.pipeline = Pipeline(pools["encoder"], pools["synthesizer"], pools["vocoder"], app.state.store)


async def _shutdown(app: FastAPI) -> None:
    await app.state.client.aclose()
    app.state.store.close()


async def _ready(app: FastAPI) -> dict:
    p: Pipeline = app.state.pipeline
    checks = {}
    for name, pool in (("encoder", p.encoder), ("synthesizer", p.synthesizer), ("vocoder", p.vocoder)):
        replicas = await pool.healthy()
        checks[name] = {"ok": any(replicas.values()), "replicas": replicas}
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
              responses={200: {"content": {"audio/wav": {}, "audio/mpeg": {}, "audio/ogg": {}, "audio/flac": {}}}})
    async def clone(request: Request, reference_audio: UploadFile = File(...), text: str = Form(...),
                    format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                    seed: int | None = Form(None)):
        """Speak `text` in the voice of `reference_audio` (wav/flac/ogg/mp3, a few seconds of speech)."""
        check_text(settings, text)
        start = time.perf_counter()
        emb, cached = await pipeline(request).embed_audio_file(await read_upload(reference_audio),
                                                               reference_audio.filename or "reference")
        speech = await pipeline(request).speak(text, emb, backend(vocoder), seed=seed)
        STAGE_LATENCY.labels("orchestrator", "clone").observe(time.perf_counter() - start)
        return audio_response(speech.wav, format, {"X-Embedding-Cached": str(cached).lower(),
                                                   "X-Stopped": str(speech.stopped).lower()})

    @app.post("/v1/clone/preview", tags=["clone"], response_model=ClonePreview)
    async def clone_preview(request: Request, reference_audio: UploadFile = File(...), text: str = Form(...),
                            vocoder: Backend | None = Form(None), seed: int | None = Form(None)):
        """Like /v1/clone, but JSON with the audio (base64 WAV), the mel and the attention alignments,
        for the web page's pictures."""
        check_text(settings, text)
        emb, cached = await pipeline(request).embed_audio_file(await read_upload(reference_audio),
                                                               reference_audio.filename or "reference")
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
        speech = await pipeline(request).speak(body.text, emb, backend(body.vocoder), seed=body.seed)
        return audio_response(speech.wav, body.format)

    @app.post("/v1/audio/speech", tags=["openai-compatible"], response_class=Response)
    async def openai_speech(body: SpeechRequest, request: Request):
        """Drop-in for OpenAI's speech endpoint; `voice` must be an id from `/v1/voices`."""
        check_text(settings, body.input)
        emb = get_voice(request, body.voice)["embedding"]
        speech = await pipeline(request).speak(body.input, emb, backend(None))
        wav = speech.wav
        if body.speed != 1.0:
            import librosa
            wav = librosa.effects.time_stretch(wav, rate=body.speed)
        if body.response_format == "pcm":  # OpenAI's pcm is raw 16-bit little-endian; ours is at 16 kHz
            pcm = (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()
            return Response(pcm, media_type="audio/pcm", headers={"X-Sample-Rate": "16000"})
        fmt = {"opus": "ogg", "aac": "mp3"}.get(body.response_format, body.response_format)
        return audio_response(wav, fmt)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    return app
