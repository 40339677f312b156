"""The synthesizer's HTTP routes: parse the request, one call into the runtime, shape the response."""
from fastapi import APIRouter, Request

from common.cancel import request_work
from common.openapi import error_responses
from common.stage_results import TextMel
from common.wire import decode_array, encode_array
from synthesizer_svc.deps import Runtime
from synthesizer_svc.runtime import validate_inputs
from synthesizer_svc.schemas import (
    SeedInferenceRequest,
    SeedInferenceResponse,
    SynthesizedMel,
    SynthesizeRequest,
    SynthesizeResponse,
)
from synthesizer_svc.work import synthesize_request

router = APIRouter(tags=["synthesizer"], responses=error_responses(499, 503, 504))


@router.get("/v1/info")
async def info(runtime: Runtime):
    return runtime.info


def synthesize_response(results: list[TextMel], return_alignments: bool, compact: bool) -> SynthesizeResponse:
    return SynthesizeResponse(mels=[SynthesizedMel(
        mel=encode_array(r.mel, compact), length=r.mel.shape[1], stopped=r.stopped, sentences=r.sentences,
        alignments=[encode_array(a, compact) for a in r.alignments] if return_alignments else None)
        for r in results])


@router.post("/v1/synthesize", response_model=SynthesizeResponse)
async def synthesize(body: SynthesizeRequest, request: Request, runtime: Runtime):
    texts = [body.text] if isinstance(body.text, str) else body.text
    emb = decode_array(body.embedding, "embedding", ndim=(1, 2))
    model = runtime.model_for(body.accent)
    emb = validate_inputs(runtime.settings, texts, emb, model.cfg.speaker_embedding_size)
    factor = runtime.factor_for(body.speaker_emphasis, body.accent)
    async with request_work(request, runtime.settings.compute_deadline_s, "synthesizer") as token:
        results = await synthesize_request(runtime, texts, emb, token, body.seed, body.max_frames, body.accent,
                                           factor)
    return synthesize_response(results, body.return_alignments, body.compact)


@router.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
async def inference(body: SeedInferenceRequest, request: Request, runtime: Runtime):
    """The seed projects' shape: `{embed, text}` -> `{spec}` (80 x T)."""
    emb = decode_array(body.embed, "embed", ndim=(1,))
    emb = validate_inputs(runtime.settings, [body.text], emb, runtime.model.cfg.speaker_embedding_size)
    async with request_work(request, runtime.settings.compute_deadline_s, "synthesizer") as token:
        (result,) = await synthesize_request(runtime, [body.text], emb, token, factor=runtime.factor_for(None))
    return SeedInferenceResponse(spec=result.mel.tolist())
