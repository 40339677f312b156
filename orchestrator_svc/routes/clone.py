"""Cloning routes: /v1/clone, /v1/clone/preview, /v1/tts and the seed projects' /inference."""
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from orchestrator_svc import speaking
from orchestrator_svc.deps import Authorized, Pipe, Settings, Voices, read_upload
from orchestrator_svc.routes.replies import AUDIO_TYPES, audio_response
from orchestrator_svc.schemas import (
    AudioFormat,
    Backend,
    ClonePreview,
    SeedInferenceRequest,
    SeedInferenceResponse,
    TTSRequest,
)
from orchestrator_svc.voice_library import voice_embedding

router = APIRouter(tags=["clone"], dependencies=[Authorized])


@router.post("/v1/clone", response_class=Response, responses={200: {"content": AUDIO_TYPES}})
async def clone(pipe: Pipe, settings: Settings, reference_audio: UploadFile = File(...), text: str = Form(...),
                format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                seed: int | None = Form(None), stream: bool = Form(False)):
    """Speak `text` in the voice of `reference_audio` (wav/flac/ogg/mp3, a few seconds of speech).
    `stream=true` sends WAV sentence by sentence as each is ready (format must be wav)."""
    speaking.check_text(settings, text)
    data = await read_upload(reference_audio, settings.max_upload_bytes)
    return audio_response(await speaking.clone(pipe, settings, data, reference_audio.filename or "reference", text,
                                               format, vocoder, seed, stream))


@router.post("/v1/clone/preview", response_model=ClonePreview)
async def clone_preview(pipe: Pipe, settings: Settings, reference_audio: UploadFile = File(...),
                        text: str = Form(...), vocoder: Backend | None = Form(None), seed: int | None = Form(None)):
    """Like /v1/clone, but JSON with the audio (base64 WAV), the mel and the attention alignments,
    for the web page's pictures."""
    speaking.check_text(settings, text)
    data = await read_upload(reference_audio, settings.max_upload_bytes)
    return await speaking.clone_preview(pipe, settings, data, reference_audio.filename or "reference", text,
                                        vocoder, seed)


@router.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
async def inference(body: SeedInferenceRequest, pipe: Pipe, settings: Settings):
    """Seed shape: `{wav, sr, text}` or `{embed, text}` -> `{wav, sr}`."""
    wav = await speaking.seed_inference(pipe, settings, body)
    return SeedInferenceResponse(wav=wav.tolist())


@router.post("/v1/tts", response_class=Response)
async def tts(body: TTSRequest, pipe: Pipe, settings: Settings, voices: Voices):
    """Speak with a saved voice (`voice_id`) or a given `embedding`."""
    return audio_response(await speaking.tts(pipe, settings, body, lambda vid: voice_embedding(voices, vid)))
