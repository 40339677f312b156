from typing import Literal

from pydantic import BaseModel, Field

from common.wire import ArrayIn


class VocodeRequest(BaseModel):
    mel: ArrayIn = Field(description="(80, T) log-mel in [-4, 4], 16 kHz, hop 200")
    backend: Literal["hifigan", "wavernn", "griffinlim"] | None = Field(None, description="default: the service setting")
    sample_rate: int = Field(16000, description="rate the mel was made at; only 16000 is supported")
    compact: bool = False
    format: Literal["wav", "flac", "ogg", "mp3"] = Field("wav", description="for audio responses (Accept: audio/*)")
    seed: int | None = Field(0, description="Griffin-Lim phase seed / WaveRNN sampling seed (null: random)")


class VocodeResponse(BaseModel):
    wav: list[float] | dict
    sample_rate: int = Field(description="rate of `wav`: 22050 for hifigan, 16000 for wavernn and griffinlim")
    backend: str


class SeedInferenceRequest(BaseModel):
    spec: ArrayIn


class SeedInferenceResponse(BaseModel):
    wav: list[float]
    sr: int = Field(16000, description="rate of `wav` (the default backend's)")
