"""The orchestrator's request and response models. Requests take JSON's own types only (common.wire.STRICT,
json_int), and each schema states what the route enforces: text limits, array shapes and bounds, seeds, and
which fields must come together (`anyOf` of `required`), so schema and server agree on every request.

A field that may be left out but not sent as null is typed without `None` (its default is None): an explicit
null was treated as absent, so a request the schema refuses was accepted (schemathesis' negative data).
"""
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from common.accents import ACCENT_DESCRIPTION, Accent
from common.audio_encode import AudioFormat
from common.audio_io import MAX_PEAK, MAX_RATE, MIN_RATE
from common.openapi import setting
from common.voicing import speaker_emphasis_field
from common.wire import EMBEDDING_BOUND, SEED_MAX, STRICT, json_int, shaped

Backend = Literal["hifigan", "wavernn", "griffinlim"]
# What check_text lets through: at most MAX_TEXT_CHARS (413 beyond) with a letter or digit somewhere
# ([^\W_] is str.isalnum, as Python's \w has it).
SPOKEN_TEXT = {"type": "string", "maxLength": setting("max_text_chars"), "pattern": r"[^\W_]"}
Text = Annotated[str, WithJsonSchema(SPOKEN_TEXT)]
Seed = json_int(ge=0, le=SEED_MAX)  # the stages' bound (numpy's RandomState), refused here rather than there
EMBEDDING_SIZE = 256  # GE2E's (pipeline.check_embedding)
Embedding = shaped(((EMBEDDING_SIZE, EMBEDDING_SIZE),), low=-EMBEDDING_BOUND, high=EMBEDDING_BOUND,
                   description="speaker embedding (256,), unit-norm so within [-1, 1]")
# Mono samples within the encoder's peak bound; their duration against `sr` is the encoder's check (413 / 422).
Waveform = shaped(((1, 50_000_000),), low=-MAX_PEAK, high=MAX_PEAK, description="mono waveform in [-1, 1]")
SAVED_VOICE_ID = r"^voice_[0-9a-f]{16}$"  # VoiceStore.add's ids
MAX_NAME_CHARS = 200
# A URL the outbound policy can parse (common.outbound.parse_url): http(s), no spaces or control characters,
# no credentials. Whether its host and port are well-formed, and what the network says, no pattern states.
URL = {"type": "string", "minLength": 1, "pattern": r"^https?://[^\x00-\x20\x7f@/?#]+(?:[/?#][^\x00-\x20\x7f]*)?$"}


def needs_one_of(*groups: tuple[str, ...]) -> ConfigDict:
    """Strict, and the schema says which fields must come together: at least one of `groups`, whole."""
    return ConfigDict(strict=True, json_schema_extra={"anyOf": [{"required": list(g)} for g in groups]})


class SeedInferenceRequest(BaseModel):
    """Either a reference waveform (`wav`, `sr`) or a ready embedding (`embed`), plus the text."""
    model_config = needs_one_of(("embed",), ("wav", "sr"))
    text: Text
    wav: Waveform = None
    sr: json_int(ge=MIN_RATE, le=MAX_RATE) = None
    embed: Embedding = None


class SeedInferenceResponse(BaseModel):
    wav: list[float]
    sr: int = 16000


class VoiceImport(BaseModel):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    embedding: Embedding


class VoiceRename(BaseModel):
    model_config = STRICT
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)


class Voice(BaseModel):
    id: str
    name: str
    source: Literal["audio", "embedding"]
    created_at: float
    embedding: list[float] | None = None


class VoiceList(BaseModel):
    voices: list[Voice]


class TTSRequest(BaseModel):
    model_config = needs_one_of(("voice_id",), ("embedding",))
    text: Text
    voice_id: Annotated[str, WithJsonSchema({"type": "string", "pattern": SAVED_VOICE_ID})] = Field(
        None, description="a saved voice (another id: 404); used when given with an `embedding` too")
    embedding: Embedding = None
    format: AudioFormat = "wav"
    vocoder: Backend | None = None
    seed: Seed | None = None
    speed: float = Field(1.0, ge=0.25, le=4.0, description="pitch-preserving tempo change")
    accent: Accent = Field("auto", description=ACCENT_DESCRIPTION)
    speaker_emphasis: float | None = speaker_emphasis_field()


class ClonePreview(BaseModel):
    audio_wav_base64: str
    duration_s: float
    mel: dict = Field(description="(80, T) mel, compact array form")
    alignments: list[dict] = Field(description="one (steps, characters) attention matrix per sentence")
    sentences: list[str]
    stopped: bool
    embedding_cached: bool


class JobView(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: float
    updated_at: float
    attempts: int
    error: str | None = None
    status_url: str
    result_url: str | None = None
    webhook: str | None = Field(None, description="delivered / failed, when a webhook_url was given")


class OrchestratorInfo(BaseModel):
    service: Literal["orchestrator"] = "orchestrator"
    version: str
    python: str
    stages: dict[str, int] = Field(description="replica count per stage (the URLs themselves are not shown)")
    job_queue: Literal["sqlite", "redis"]
    job_workers: int = Field(description="job workers inside this process")
    job_ttl_s: int
    webhooks_enabled: bool = Field(description="false when WEBHOOK_SECRET is not set")
    auth_required: bool
    limits: dict[str, float]
    accents: list[str] | None = Field(None, description="the `accent` values the synthesizer serves (auto first); "
                                                        "null when it does not answer")
