"""Cloning routes: /v1/clone, /v1/clone/preview, /v1/tts, the web page's /v1/studio/speak and the seed
projects' /inference."""
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response, StreamingResponse

from common.accents import ACCENT_DESCRIPTION, Accent
from common.outbound import MAX_URL_CHARS
from common.voicing import Voicing, speaker_emphasis_form
from common.wire import SEED_MAX
from orchestrator_svc import speaking, studio
from orchestrator_svc.deps import Authorized, Caller, Parts, Pipe, Settings, Voices, read_reference, reference_of
from orchestrator_svc.openai_speech import OPENAI_INPUT, VOICE_NAME
from orchestrator_svc.routes.replies import AUDIO_TYPES, audio_response
from orchestrator_svc.schemas import (
    SPOKEN_TEXT,
    URL,
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
async def clone(pipe: Pipe, settings: Settings, parts: Parts, caller: Caller,
                reference_audio: UploadFile | None = File(None), text: str = Form(..., json_schema_extra=SPOKEN_TEXT),
                format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                seed: int | None = Form(None, ge=0, le=SEED_MAX), stream: bool = Form(False),
                reference_url: str | None = Form(None, max_length=MAX_URL_CHARS, json_schema_extra=URL),
                accent: Accent = Form("auto", description=ACCENT_DESCRIPTION),
                speaker_emphasis: float | None = speaker_emphasis_form()):
    """Speak `text` in the voice of `reference_audio` (wav/flac/ogg/mp3, a few seconds of speech) or of the
    audio at `reference_url`. `stream=true` sends the format's bytes sentence by sentence as each is ready (any format but ogg)."""
    speaking.check_text(settings, text)
    data, filename = await reference_of(parts, reference_audio, reference_url, "reference_audio")
    return audio_response(await speaking.clone(pipe, settings, data, filename, text, format, vocoder, seed, stream,
                                               owner=caller.owner, voicing=Voicing(accent, speaker_emphasis)))


@router.post("/v1/clone/preview", response_model=ClonePreview)
async def clone_preview(pipe: Pipe, settings: Settings, caller: Caller, reference_audio: UploadFile = File(...),
                        text: str = Form(..., json_schema_extra=SPOKEN_TEXT), vocoder: Backend | None = Form(None),
                        seed: int | None = Form(None, ge=0, le=SEED_MAX),
                        accent: Accent = Form("auto", description=ACCENT_DESCRIPTION),
                        speaker_emphasis: float | None = speaker_emphasis_form()):
    """Like /v1/clone, but JSON with the audio (base64 WAV), the mel and the attention alignments,
    for the web page's pictures."""
    speaking.check_text(settings, text)
    data = await read_reference(reference_audio, settings.max_upload_bytes, "reference_audio")
    return await speaking.clone_preview(pipe, settings, data, reference_audio.filename or "reference", text,
                                        vocoder, seed, owner=caller.owner,
                                        voicing=Voicing(accent, speaker_emphasis))


@router.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
async def inference(body: SeedInferenceRequest, pipe: Pipe, settings: Settings):
    """Seed shape: `{wav, sr, text}` or `{embed, text}` -> `{wav, sr}`."""
    wav, rate = await speaking.seed_inference(pipe, settings, body)
    return SeedInferenceResponse(wav=wav.tolist(), sr=rate)


@router.post("/v1/tts", response_class=Response)
async def tts(body: TTSRequest, pipe: Pipe, settings: Settings, voices: Voices):
    """Speak with a saved voice (`voice_id`) or a given `embedding`."""
    return audio_response(await speaking.tts(pipe, settings, body, lambda vid: voice_embedding(voices, vid)))


@router.post("/v1/studio/speak", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def studio_speak(pipe: Pipe, settings: Settings, voices: Voices,
                       text: str = Form(..., json_schema_extra=OPENAI_INPUT),
                       voice: str | None = Form(None, json_schema_extra=VOICE_NAME),
                       reference_audio: UploadFile | None = File(None),
                       format: AudioFormat = Form("wav"), speed: float = Form(1.0, ge=0.25, le=4.0),
                       seed: int | None = Form(None, ge=0, le=SEED_MAX), vocoder: Backend | None = Form(None),
                       accent: Accent = Form("auto", description=ACCENT_DESCRIPTION),
                       speaker_emphasis: float | None = speaker_emphasis_form()):
    """The web page's Speak: a built-in or saved `voice`, or a new `reference_audio`; server-sent progress
    events as each stage runs, then the audio with its mel and alignments (see orchestrator_svc.studio)."""
    reference = None
    if reference_audio is not None:
        reference = (await read_reference(reference_audio, settings.max_upload_bytes, "reference_audio"),
                     reference_audio.filename or "reference")
    events = await studio.start(pipe, voices, text, voice, reference, format, speaking.vocoder_choice(settings, vocoder),
                                seed, speed, Voicing(accent, speaker_emphasis))
    return StreamingResponse(events, media_type="text/event-stream")
