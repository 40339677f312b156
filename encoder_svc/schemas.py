from pydantic import BaseModel, Field

from common.wire import ArrayIn


class EmbedRequest(BaseModel):
    wav: ArrayIn = Field(description="mono waveform in [-1, 1]")
    sample_rate: int = Field(16000, description="rate of `wav`; resampled to 16 kHz")
    preprocess: bool = Field(True, description="volume-normalise and trim long silences first (as RTVC)")
    return_partials: bool = False
    compact: bool = Field(False, description="return arrays in the compact base64 form")


class EmbedResponse(BaseModel):
    embedding: list[float] | dict
    sample_rate: int = 16000
    partials: list[list[float]] | dict | None = None
    vad_trimmed: bool
    duration_s: float


class SeedInferenceRequest(BaseModel):
    wav: ArrayIn
    sr: int


class SeedInferenceResponse(BaseModel):
    embed: list[float]
