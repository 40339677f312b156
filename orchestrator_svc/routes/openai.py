"""OpenAI-compatible speech: POST /v1/audio/speech."""
from fastapi import APIRouter
from fastapi.responses import Response

from orchestrator_svc import speaking
from orchestrator_svc.deps import Authorized, Pipe, Settings, Voices
from orchestrator_svc.routes.replies import audio_response
from orchestrator_svc.schemas import SpeechRequest
from orchestrator_svc.voice_library import voice_embedding

router = APIRouter(tags=["openai-compatible"], dependencies=[Authorized])


@router.post("/v1/audio/speech", response_class=Response)
async def openai_speech(body: SpeechRequest, pipe: Pipe, settings: Settings, voices: Voices):
    """Drop-in for OpenAI's speech endpoint; `voice` must be an id from `/v1/voices`."""
    reply = await speaking.openai_speech(pipe, settings, body, lambda vid: voice_embedding(voices, vid))
    return audio_response(reply)
