"""The vocoder's HTTP routes: parse the request, one call into the runtime, shape the response."""
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from common.audio_io import write_audio_bytes
from common.service import run_blocking
from common.wire import decode_array, encode_array
from vocoder_svc.deps import Runtime
from vocoder_svc.inference import backend_sample_rate
from vocoder_svc.runtime import validate_mel, vocode_request
from vocoder_svc.schemas import SeedInferenceRequest, SeedInferenceResponse, VocodeRequest, VocodeResponse

router = APIRouter(tags=["vocoder"])
AUDIO_TYPES = {"audio/wav": {}, "audio/flac": {}, "audio/ogg": {}, "audio/mpeg": {}}


@router.get("/v1/info")
async def info(runtime: Runtime):
    return runtime.info


async def audio_file_response(wav: np.ndarray, fmt: str, backend: str) -> Response:
    rate = backend_sample_rate(backend)
    data, media = await run_blocking(write_audio_bytes, wav, fmt, rate)  # encoding (mp3 above all) blocks
    return Response(data, media_type=media, headers={"X-Sample-Rate": str(rate), "X-Backend": backend,
                                                     "X-Audio-Samples": str(len(wav))})


@router.post("/v1/vocode", response_model=VocodeResponse, responses={200: {"content": AUDIO_TYPES}})
async def vocode(body: VocodeRequest, request: Request, runtime: Runtime):
    """JSON `{wav, sample_rate}` by default; audio bytes when the client sends `Accept: audio/...`."""
    mel = validate_mel(runtime.settings, decode_array(body.mel, "mel", ndim=(2,)), body.sample_rate)
    backend = body.backend or runtime.default_backend
    wav = await vocode_request(runtime, mel, backend, body.seed)
    if request.headers.get("accept", "").startswith("audio/"):
        return await audio_file_response(wav, body.format, backend)
    return VocodeResponse(wav=encode_array(wav, body.compact), backend=backend,
                          sample_rate=backend_sample_rate(backend))


@router.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
async def inference(body: SeedInferenceRequest, runtime: Runtime):
    """The seed projects' shape: `{spec}` -> `{wav, sr}`."""
    mel = validate_mel(runtime.settings, decode_array(body.spec, "spec", ndim=(2,)), 16000)
    wav = await vocode_request(runtime, mel, runtime.default_backend, 0)
    return SeedInferenceResponse(wav=wav.tolist(), sr=backend_sample_rate(runtime.default_backend))
