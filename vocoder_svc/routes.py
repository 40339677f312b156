"""The vocoder's HTTP routes: parse the request, one call into the runtime, shape the response."""
from contextlib import AsyncExitStack

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from common.audio_encode import AUDIO_MEDIA_TYPES, encode
from common.cancel import WorkStopped, request_work
from common.metrics import WORK_STOPPED
from common.openapi import error_responses
from common.service import run_blocking
from common.wire import decode_array, encode_array
from vocoder_svc.deps import Runtime
from vocoder_svc.inference import backend_sample_rate
from vocoder_svc.runtime import validate_mel, vocode_pieces, vocode_request
from vocoder_svc.schemas import (
    SeedInferenceRequest,
    SeedInferenceResponse,
    VocodeRequest,
    VocodeResponse,
    VocodeStreamRequest,
)

router = APIRouter(tags=["vocoder"], responses=error_responses(409, 499, 503, 504))
AUDIO_TYPES = {media: {} for media in AUDIO_MEDIA_TYPES}


@router.get("/v1/info")
async def info(runtime: Runtime):
    return runtime.info


async def audio_file_response(wav: np.ndarray, rate: int, fmt: str, backend: str) -> Response:
    out = await run_blocking(encode, wav, rate, fmt)  # encoding (mp3 above all) blocks
    # X-Sample-Rate: of the encoded audio (pcm 24 kHz, opus 48 kHz); the duration is the audio's own.
    return Response(out.data, media_type=out.media_type, headers={
        "X-Sample-Rate": str(out.sample_rate), "X-Backend": backend, "X-Audio-Samples": str(len(wav)),
        "X-Audio-Duration": f"{out.duration_s:.3f}"})


@router.post("/v1/vocode", response_model=VocodeResponse, responses={200: {"content": AUDIO_TYPES}})
async def vocode(body: VocodeRequest, request: Request, runtime: Runtime):
    """JSON `{wav, sample_rate}` by default; audio bytes when the client sends `Accept: audio/...`."""
    mel = validate_mel(runtime.settings, decode_array(body.mel, "mel", ndim=(2,)), body.sample_rate)
    backend = body.backend or runtime.default_backend
    async with request_work(request, runtime.settings.compute_deadline_s, "vocoder") as token:
        wav = await vocode_request(runtime, mel, backend, body.seed, token)
    if request.headers.get("accept", "").startswith("audio/"):
        return await audio_file_response(wav, backend_sample_rate(backend), body.format, backend)
    return VocodeResponse(wav=encode_array(wav, body.compact), backend=backend,
                          sample_rate=backend_sample_rate(backend))


RAW_AUDIO = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


class WorkStream(StreamingResponse):
    """A streamed body whose request work is ended by `finish(exception or None)` however the response ends:
    sent, failed mid-body, or the client gone before or during it. (Ending it in the body generator missed one
    case: Starlette never starts the body when the headers cannot be sent, so the slot would stay taken.)"""

    def __init__(self, content, finish, **kwargs):
        super().__init__(content, **kwargs)
        self.finish = finish

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except BaseException as exc:
            await self.finish(exc)
            raise
        await self.finish(None)


@router.post("/v1/vocode/stream", response_class=StreamingResponse, responses={200: {"content": RAW_AUDIO}})
async def vocode_stream(body: VocodeStreamRequest, request: Request, runtime: Runtime):
    """The audio as raw little-endian float32 samples at `X-Sample-Rate`, sent piece by piece as it is made
    (hifigan: chunk by chunk, the first `first_chunk_frames` long), so a player starts before the mel is done.
    Errors before the first piece get their status; the work stops when the client goes away."""
    mel = validate_mel(runtime.settings, decode_array(body.mel, "mel", ndim=(2,)), body.sample_rate)
    backend = body.backend or runtime.default_backend
    work = AsyncExitStack()  # the request's work token lives as long as the streamed body, not the route call
    token = await work.enter_async_context(request_work(request, runtime.settings.compute_deadline_s, "vocoder"))
    pieces = vocode_pieces(runtime, mel, backend, body.seed, token, body.first_chunk_frames)

    sent_all = False

    async def finish(exc: BaseException | None) -> None:
        """No more chunks, then the token and the slot released (request_work counts a WorkStopped). Starlette
        ends a response whose client went away without an exception, hence `sent_all`."""
        if not sent_all and not isinstance(exc, WorkStopped):  # the client went away mid-stream
            WORK_STOPPED.labels("vocoder", "client_closed_request").inc()
        await pieces.aclose()
        await work.__aexit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
    try:
        first = await anext(pieces)
    except BaseException as exc:
        await pieces.aclose()
        await work.__aexit__(type(exc), exc, exc.__traceback__)  # an error status, not a stream: not counted
        raise

    async def samples():
        nonlocal sent_all
        yield first.astype("<f4").tobytes()
        async for piece in pieces:
            yield piece.astype("<f4").tobytes()
        sent_all = True
    return WorkStream(samples(), finish, media_type="application/octet-stream", headers={
        "X-Sample-Rate": str(backend_sample_rate(backend)), "X-Backend": backend})


@router.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
async def inference(body: SeedInferenceRequest, request: Request, runtime: Runtime):
    """The seed projects' shape: `{spec}` -> `{wav, sr}`."""
    mel = validate_mel(runtime.settings, decode_array(body.spec, "spec", ndim=(2,)), 16000)
    async with request_work(request, runtime.settings.compute_deadline_s, "vocoder") as token:
        wav = await vocode_request(runtime, mel, runtime.default_backend, 0, token)
    return SeedInferenceResponse(wav=wav.tolist(), sr=backend_sample_rate(runtime.default_backend))
