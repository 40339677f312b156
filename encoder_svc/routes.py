"""The encoder's HTTP routes: parse the request, one call into the runtime, shape the response."""
from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.audio_decode import DecodeLimits, read_audio_upload
from common.cancel import request_work
from common.errors import APIError, parse_body
from common.openapi import error_responses
from common.service import run_model
from common.stage_results import SpeakerEmbedding
from common.wire import decode_array, encode_array
from encoder_svc.deps import Runtime
from encoder_svc.runtime import embed_waveform
from encoder_svc.schemas import EmbedRequest, EmbedResponse, SeedInferenceRequest, SeedInferenceResponse

router = APIRouter(tags=["encoder"], responses=error_responses(415, 499, 503, 504))
EMBED_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": EmbedRequest.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "preprocess": {"type": "boolean"},
        "return_partials": {"type": "boolean"}, "compact": {"type": "boolean"}}}}}}}


@router.get("/v1/info")
async def info(runtime: Runtime):
    return runtime.info


def embed_response(result: SpeakerEmbedding, return_partials: bool, compact: bool) -> EmbedResponse:
    return EmbedResponse(embedding=encode_array(result.embedding, compact), vad_trimmed=result.vad_trimmed,
                         partials=encode_array(result.partials, compact) if return_partials else None,
                         duration_s=round(result.duration_s, 3))


async def read_embed_request(request: Request, limits: DecodeLimits):
    """(wav, sample rate, options) from JSON `{wav, sample_rate}` or a multipart `file` upload."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form = await request.form()
        except StarletteHTTPException as exc:  # Starlette's 400 for a body that is not multipart at all
            raise APIError(422, "invalid_multipart", f"the multipart body does not parse: {exc.detail}") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise APIError(422, "invalid_request", "multipart body needs an audio `file` field")
        data = await upload.read()
        wav = await read_audio_upload(data, limits, "file")  # on the decoding threads, under the limits
        opts = {k: str(form.get(k, d)).lower() in ("1", "true", "yes")
                for k, d in (("preprocess", True), ("return_partials", False), ("compact", False))}
        return wav, 16000, opts
    body = parse_body(EmbedRequest, await request.body())
    wav = decode_array(body.wav, "wav", ndim=(1,))
    return wav, body.sample_rate, body.model_dump(include={"preprocess", "return_partials", "compact"})


@router.post("/v1/embed", response_model=EmbedResponse, openapi_extra=EMBED_BODY)
async def embed(request: Request, runtime: Runtime):
    """JSON `{wav, sample_rate}` or a multipart upload `file` (wav/flac/ogg/mp3, any rate)."""
    wav, rate, opts = await read_embed_request(request, runtime.settings.decode_limits())
    async with request_work(request, runtime.settings.compute_deadline_s, "encoder"):
        result = await run_model(embed_waveform, runtime, wav, rate, opts["preprocess"])
    return embed_response(result, opts["return_partials"], opts["compact"])


@router.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
async def inference(body: SeedInferenceRequest, request: Request, runtime: Runtime):
    """The seed projects' shape: `{wav: [float], sr}` -> `{embed: [float]}`."""
    wav = decode_array(body.wav, "wav", ndim=(1,))
    async with request_work(request, runtime.settings.compute_deadline_s, "encoder"):
        result = await run_model(embed_waveform, runtime, wav, body.sr, True)
    return SeedInferenceResponse(embed=result.embedding.tolist())
