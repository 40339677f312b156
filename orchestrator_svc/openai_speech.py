"""OpenAI's speech API as plain functions: request model, voices, models, error shape, SSE events.

Matches https://platform.openai.com/docs/api-reference/audio/createSpeech: `input` up to 4096 characters,
`voice` a name or `{"id": ...}`, `response_format`, `speed` 0.25-4, `instructions`, `stream_format`
audio|sse; unknown fields are ignored as OpenAI's server does. `instructions` is accepted and has no effect:
our Tacotron has no style input (the voice comes only from the speaker embedding).
"""
import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import numpy as np
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from common.accents import ACCENT_DESCRIPTION, Accent
from common.errors import APIError
from common.voicing import speaker_emphasis_field
from common.wire import STRICT
from orchestrator_svc.builtin_voices import builtin_voices, find_builtin, voice_names
from orchestrator_svc.schemas import SAVED_VOICE_ID, Seed

MAX_INPUT_CHARS = 4096
OWN_MODEL = "voxclone-1"
# OpenAI's ids are aliases of our one model: any client's default `model` works unchanged.
MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15")
MODEL_IDS = (OWN_MODEL, *MODEL_ALIASES)
FRAMES_PER_SECOND = 80  # synthesizer mel frames per second of speech (hop 12.5 ms): the usage's output tokens


# What check_input lets through: OpenAI's limit, and a letter or digit somewhere (str.isalnum).
OPENAI_INPUT = {"type": "string", "maxLength": MAX_INPUT_CHARS, "pattern": r"[^\W_]"}
# A voice by name: a built-in's own or OpenAI's (resolve_voice takes any case and spacing too), or a saved
# voice's id, which may be absent (404). Any other name is a 400 as OpenAI answers one.
VOICE_NAME = {"anyOf": [{"type": "string", "enum": voice_names()}, {"type": "string", "pattern": SAVED_VOICE_ID}]}


class VoiceRef(BaseModel):
    model_config = STRICT
    id: Annotated[str, WithJsonSchema(VOICE_NAME)]


class SpeechRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    # The names are stated here; check_model refuses others with OpenAI's model_not_found.
    model: Annotated[str, WithJsonSchema({"type": "string", "enum": list(MODEL_IDS)})] = OWN_MODEL
    input: Annotated[str, WithJsonSchema(OPENAI_INPUT)]
    voice: Annotated[str | VoiceRef, WithJsonSchema({"anyOf": [*VOICE_NAME["anyOf"], VoiceRef.model_json_schema()],
        "description": "a built-in name (alloy, nova, ..., slt, lj, ...), a saved voice id, or {\"id\": ...}"})]
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0, description="pitch-preserving tempo change")
    instructions: str | None = Field(None, description="accepted; no effect (the model has no style input)")
    stream_format: Literal["audio", "sse"] | None = Field(
        None, description="audio: the format's bytes sentence by sentence; sse: speech.audio.delta events")
    stream: bool = Field(False, description="voxclone's older flag, same as stream_format=audio")
    seed: Seed | None = Field(None, description="voxclone extension: reproducible output")
    vocoder: Literal["hifigan", "wavernn", "griffinlim"] | None = Field(None, description="voxclone extension")
    accent: Accent = Field("auto", description=f"voxclone extension. {ACCENT_DESCRIPTION}")
    speaker_emphasis: float | None = speaker_emphasis_field("voxclone extension: ")


class OpenAIError(APIError):
    def __init__(self, status: int, code: str, message: str, param: str | None = None):
        super().__init__(status, code, message)
        self.param = param


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "invalid_request_error", 409: "invalid_request_error", 429: "rate_limit_error"}


def openai_error(status: int, code: str, message: str, param: str | None = None) -> JSONResponse:
    """OpenAI's error body; their client raises it with `message` shown. Our 422s are their 400s."""
    status = 400 if status in (413, 415, 422) else status
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}},
                        status_code=status)


def validation_error(exc) -> JSONResponse:
    first = exc.errors()[0]
    where = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = where[0] if where else None
    message = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
                        for e in exc.errors()[:5])
    code = "string_above_max_length" if first.get("type") == "string_too_long" else "invalid_value"
    return openai_error(400, code, message, param)


def check_input(text: str) -> str:
    if len(text) > MAX_INPUT_CHARS:
        raise OpenAIError(400, "string_above_max_length",
                          f"input: {len(text)} characters exceed the {MAX_INPUT_CHARS} limit", "input")
    if not any(c.isalnum() for c in text):
        raise OpenAIError(400, "invalid_value", "input: has nothing to speak", "input")
    return text


def check_model(model: str) -> str:
    if model not in MODEL_IDS:
        raise OpenAIError(400, "model_not_found", f"model: {model!r} is not one of {', '.join(MODEL_IDS)}", "model")
    return model


def resolve_voice(voice: str | VoiceRef, store) -> np.ndarray:
    """The embedding for a built-in name (OpenAI's or ours), or a saved voice's id (404 when none has it: the
    schema's pattern says what an id looks like, not which exist)."""
    key = voice.id if isinstance(voice, VoiceRef) else voice
    builtin = find_builtin(key)
    if builtin is not None:
        return builtin.embedding
    if re.match(SAVED_VOICE_ID, key):
        saved = store.get(key)
        if saved is None:
            raise OpenAIError(404, "voice_not_found", f"voice: no saved voice with id {key!r}", "voice")
        return saved["embedding"]
    raise OpenAIError(400, "voice_not_found", f"voice: {key!r} is neither a built-in voice "
                                              f"({', '.join(voice_names())}) nor a saved voice id (GET "
                                              "/v1/audio/voices lists them)", "voice")


def voice_listing(saved: list[dict]) -> dict:
    """Built-in voices, OpenAI's names (each says which built-in it speaks with), then saved voices."""
    voices = [{"id": v.name, "name": v.name, "type": "builtin", "gender": v.gender, "accent": v.accent,
               "source": v.source, "licence": v.licence, "openai_names": list(v.openai_names)}
              for v in builtin_voices().values()]
    voices += [{"id": alias, "name": alias, "type": "openai", "builtin": v.name, "gender": v.gender}
               for v in builtin_voices().values() for alias in v.openai_names]
    voices += [{"id": v["id"], "name": v["name"], "type": "saved", "created_at": v["created_at"]} for v in saved]
    return {"object": "list", "voices": voices}


def model_card(model_id: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "voxclone",
            **({"alias_of": OWN_MODEL} if model_id != OWN_MODEL else {})}


def model_listing() -> dict:
    return {"object": "list", "data": [model_card(m) for m in MODEL_IDS]}


def find_model(model_id: str) -> dict:
    if model_id not in MODEL_IDS:
        raise OpenAIError(404, "model_not_found", f"the model {model_id!r} does not exist", "model")
    return model_card(model_id)


def usage(text: str, seconds: float) -> dict:
    """Our model reads characters, so they are the input tokens; output tokens are mel frames."""
    frames = round(seconds * FRAMES_PER_SECOND)
    return {"input_tokens": len(text), "output_tokens": frames, "total_tokens": len(text) + frames}


def sse(event: dict) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


async def sse_events(chunks: AsyncIterator[bytes], text: str, duration_s) -> AsyncIterator[bytes]:
    """`speech.audio.delta` per encoded chunk, then one `speech.audio.done` with usage; `duration_s()` gives
    the seconds of speech made, read once the chunks are exhausted. A failure mid-stream is an `error` event."""
    try:
        async for chunk in chunks:
            yield sse({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()})
    except APIError as exc:
        yield sse({"type": "error", "error": {"message": exc.message, "type": "server_error", "code": exc.code}})
        return
    yield sse({"type": "speech.audio.done", "usage": usage(text, duration_s())})
