from pydantic import BaseModel, Field

from common.audio_io import MAX_PEAK, MAX_RATE, MIN_RATE
from common.wire import STRICT, json_int, shaped

# Mono samples within check_waveform's peak bound; its duration bounds depend on sample_rate too, which no
# JSON Schema can tie together (decode and check_waveform say so with a 413 / 422).
Wave = shaped(((1, 50_000_000),), low=-MAX_PEAK, high=MAX_PEAK, description="mono waveform in [-1, 1]")
Rate = json_int(ge=MIN_RATE, le=MAX_RATE)


class EmbedRequest(BaseModel):
    model_config = STRICT
    wav: Wave
    sample_rate: Rate = Field(16000, description="rate of `wav`; resampled to 16 kHz")
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
    model_config = STRICT
    wav: Wave
    sr: Rate


class SeedInferenceResponse(BaseModel):
    embed: list[float]
