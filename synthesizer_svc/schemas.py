from pydantic import BaseModel, Field

from common.wire import SEED_MAX, ArrayIn


class SynthesizeRequest(BaseModel):
    text: str | list[str] = Field(description="one text or a batch; long texts are split at sentence ends")
    embedding: ArrayIn = Field(description="speaker embedding (256,) for all texts, or one per text (N, 256)")
    return_alignments: bool = False
    compact: bool = Field(False, description="return arrays in the compact base64 form")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="fix the pre-net dropout noise for repeatable output")
    max_frames: int | None = Field(None, ge=10, description="frame cap per sentence (default: service setting)")


class SynthesizedMel(BaseModel):
    mel: list[list[float]] | dict = Field(description="(80, T) log-mel in [-4, 4]")
    length: int
    stopped: bool = Field(description="every sentence ended by its stop token (no run-on to the frame cap)")
    sentences: list[str]
    alignments: list[list[list[float]]] | list[dict] | None = None


class SynthesizeResponse(BaseModel):
    mels: list[SynthesizedMel]
    sample_rate: int = 16000
    hop_length: int = 200
    n_mels: int = 80


class SeedInferenceRequest(BaseModel):
    embed: ArrayIn
    text: str


class SeedInferenceResponse(BaseModel):
    spec: list[list[float]]
