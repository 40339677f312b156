"""The synthesizer's HTTP routes: parse the request, one call into the runtime, shape the response."""
from fastapi import APIRouter

from common.wire import decode_array, encode_array
from synthesizer_svc.deps import Runtime
from synthesizer_svc.runtime import synthesize_request, validate_inputs
from synthesizer_svc.schemas import (
    SeedInferenceRequest,
    SeedInferenceResponse,
    SynthesizedMel,
    SynthesizeRequest,
    SynthesizeResponse,
)

router = APIRouter(tags=["synthesizer"])


@router.get("/v1/info")
async def info(runtime: Runtime):
    return runtime.info


def synthesize_response(results, return_alignments: bool, compact: bool) -> SynthesizeResponse:
    mels = []
    for mel, stopped, sentences, aligns in results:
        mels.append(SynthesizedMel(
            mel=encode_array(mel, compact), length=mel.shape[1], stopped=stopped, sentences=sentences,
            alignments=[encode_array(a, compact) for a in aligns] if return_alignments else None))
    return SynthesizeResponse(mels=mels)


@router.post("/v1/synthesize", response_model=SynthesizeResponse)
async def synthesize(body: SynthesizeRequest, runtime: Runtime):
    texts = [body.text] if isinstance(body.text, str) else body.text
    emb = decode_array(body.embedding, "embedding", ndim=(1, 2))
    emb = validate_inputs(runtime.settings, texts, emb, runtime.model.cfg.speaker_embedding_size)
    results = await synthesize_request(runtime, texts, emb, body.seed, body.max_frames)
    return synthesize_response(results, body.return_alignments, body.compact)


@router.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
async def inference(body: SeedInferenceRequest, runtime: Runtime):
    """The seed projects' shape: `{embed, text}` -> `{spec}` (80 x T)."""
    emb = decode_array(body.embed, "embed", ndim=(1,))
    emb = validate_inputs(runtime.settings, [body.text], emb, runtime.model.cfg.speaker_embedding_size)
    (mel, *_), = await synthesize_request(runtime, [body.text], emb)
    return SeedInferenceResponse(spec=mel.tolist())
