from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from common.audio_encode import AudioFormat
from common.openapi import setting
from common.wire import SEED_MAX, STRICT, json_int, shaped

# (80, T): RTVC's mel bands, at least 2 frames, at most MAX_MEL_FRAMES (runtime.validate_mel).
Mel = shaped(((80, 80), (2, setting("max_mel_frames"))))


class MelRequest(BaseModel):
    """What every vocoding request says: the mel, the backend and its seed."""
    model_config = STRICT
    mel: Mel = Field(description="(80, T) log-mel in [-4, 4], 16 kHz, hop 200")
    backend: Literal["hifigan", "wavernn", "griffinlim"] | None = Field(None, description="default: the service setting")
    sample_rate: Annotated[json_int(), WithJsonSchema({"type": "integer", "enum": [16000]})] = Field(
        16000, description="rate the mel was made at; only 16000 is supported")
    seed: json_int(ge=0, le=SEED_MAX) | None = Field(0,
                             description="Griffin-Lim phase seed / WaveRNN sampling seed (null: random)")


class VocodeRequest(MelRequest):
    compact: bool = False
    format: AudioFormat = Field("wav", description="for audio responses (Accept: audio/*)")


class VocodeStreamRequest(MelRequest):
    first_chunk_frames: json_int(ge=0, le=4096) = Field(
        0, description="hifigan: generator frames (11.6 ms each) in the first piece, growing by half up to the "
                       "service's HIFIGAN_CHUNK_FRAMES; 0: that size throughout. Other backends send one piece")


class VocodeResponse(BaseModel):
    wav: list[float] | dict
    sample_rate: int = Field(description="rate of `wav`: 22050 for hifigan, 16000 for wavernn and griffinlim")
    backend: str


class SeedInferenceRequest(BaseModel):
    model_config = STRICT
    spec: Mel


class SeedInferenceResponse(BaseModel):
    wav: list[float]
    sr: int = Field(16000, description="rate of `wav` (the default backend's)")
