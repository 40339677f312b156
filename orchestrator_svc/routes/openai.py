"""OpenAI-compatible routes: /v1/audio/speech, /v1/audio/voices, /v1/models. Errors here have OpenAI's shape."""
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute

from common.errors import APIError
from common.service import run_blocking
from common.voicing import Voicing
from orchestrator_svc import openai_speech as oa
from orchestrator_svc.deps import Authorized, Pipe, Settings, Voices
from orchestrator_svc.rendering import open_speech_stream, render
from orchestrator_svc.speaking import vocoder_choice
from orchestrator_svc.voice_library import MAX_LIST


class OpenAIRoute(APIRoute):
    """Turns validation and API errors into OpenAI's `{"error": {message, type, param, code}}`."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return oa.validation_error(exc)
            except APIError as exc:
                return oa.openai_error(exc.status, exc.code, exc.message, getattr(exc, "param", None))
        return handle


router = APIRouter(tags=["openai-compatible"], route_class=OpenAIRoute, dependencies=[Authorized])


@router.post("/v1/audio/speech", response_class=Response, responses={200: {"content": {
    "audio/mpeg": {}, "audio/ogg; codecs=opus": {}, "audio/aac": {}, "audio/flac": {}, "audio/wav": {},
    "audio/pcm": {}, "text/event-stream": {}}}})
async def speech(body: oa.SpeechRequest, pipe: Pipe, settings: Settings, voices: Voices):
    """Drop-in for OpenAI's speech endpoint. `voice`: a built-in name (OpenAI's or ours), a saved voice id,
    or `{"id": ...}`. `stream_format` audio/sse streams sentence by sentence; without it the whole file
    comes at once (with its duration in `X-Audio-Duration`)."""
    oa.check_model(body.model)
    text = oa.check_input(body.input)
    emb = await run_blocking(oa.resolve_voice, body.voice, voices)
    backend = vocoder_choice(settings, body.vocoder)
    if body.stream_format or body.stream:
        encoder, chunks = await open_speech_stream(pipe, text, emb, body.response_format, backend, body.seed,
                                                   body.speed, Voicing(body.accent, body.speaker_emphasis))
        headers = {"X-Sample-Rate": str(encoder.sample_rate)}
        if body.stream_format == "sse":
            events = oa.sse_events(chunks, text, lambda: encoder.samples_in / encoder.input_rate)
            return StreamingResponse(events, media_type="text/event-stream", headers=headers)
        return StreamingResponse(chunks, media_type=encoder.spec.media_type, headers=headers)
    out = await render(pipe, text, emb, body.response_format, backend, body.seed, body.speed,
                       Voicing(body.accent, body.speaker_emphasis))
    return Response(out.data, media_type=out.media_type, headers={
        "X-Sample-Rate": str(out.sample_rate), "X-Audio-Duration": f"{out.duration_s:.3f}"})


@router.get("/v1/audio/voices")
async def list_voices(voices: Voices, limit: int = Query(MAX_LIST, ge=1, le=MAX_LIST)):
    """Built-in voices (with source and licence), OpenAI's names mapped onto them, and saved voices."""
    return oa.voice_listing(await run_blocking(voices.list, limit, 0))  # the Query bounds it to 1..MAX_LIST


@router.get("/v1/models")
async def models():
    return oa.model_listing()


@router.get("/v1/models/{model_id}")
async def model(model_id: str):
    return oa.find_model(model_id)
