from typing import Literal

from pydantic import BaseModel, Field

from common.audio_encode import AudioFormat
from common.wire import ArrayIn

Backend = Literal["hifigan", "wavernn", "griffinlim"]


class SeedInferenceRequest(BaseModel):
    """Either a reference waveform (`wav`, `sr`) or a ready embedding (`embed`), plus the text."""
    text: str
    wav: ArrayIn | None = None
    sr: int | None = None
    embed: ArrayIn | None = None


class SeedInferenceResponse(BaseModel):
    wav: list[float]
    sr: int = 16000


class VoiceImport(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    embedding: ArrayIn


class VoiceRename(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class Voice(BaseModel):
    id: str
    name: str
    source: Literal["audio", "embedding"]
    created_at: float
    embedding: list[float] | None = None


class VoiceList(BaseModel):
    voices: list[Voice]


class TTSRequest(BaseModel):
    text: str
    voice_id: str | None = None
    embedding: ArrayIn | None = None
    format: AudioFormat = "wav"
    vocoder: Backend | None = None
    seed: int | None = None
    speed: float = Field(1.0, ge=0.25, le=4.0, description="pitch-preserving tempo change")


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
