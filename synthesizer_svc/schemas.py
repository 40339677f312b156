from typing import Annotated

from pydantic import BaseModel, Field, WithJsonSchema

from common.accents import ACCENT_DESCRIPTION, Accent
from common.openapi import setting
from common.voicing import speaker_emphasis_field
from common.wire import EMBEDDING_BOUND, SEED_MAX, STRICT, json_int, shaped

EMBEDDING = 256  # GE2E's, the size every RTVC synthesizer takes (validate_inputs checks the model's own)
# Something to speak: a letter or digit somewhere (Python's \w is str.isalnum or "_", as unspeakable_reason has it).
ONE_TEXT = {"type": "string", "maxLength": setting("max_text_chars"), "pattern": r"[^\W_]"}
Texts = Annotated[str | list[str], WithJsonSchema({"anyOf": [ONE_TEXT, {
    "type": "array", "minItems": 1, "maxItems": setting("max_batch_texts"), "items": ONE_TEXT}]})]
Text = Annotated[str, WithJsonSchema(ONE_TEXT)]


class SynthesizeRequest(BaseModel):
    model_config = STRICT
    text: Texts = Field(description="one text or a batch; long texts are split at sentence ends")
    embedding: shaped(((EMBEDDING, EMBEDDING),), ((1, setting("max_batch_texts")), (EMBEDDING, EMBEDDING)),
                      low=-EMBEDDING_BOUND, high=EMBEDDING_BOUND) = Field(
        description="speaker embedding (256,) for all texts, or one per text (N, 256); unit-norm, so in [-1, 1]")
    return_alignments: bool = False
    compact: bool = Field(False, description="return arrays in the compact base64 form")
    seed: json_int(ge=0, le=SEED_MAX) | None = Field(None, description="fix the pre-net dropout noise for repeatable output")
    max_frames: json_int(ge=10) | None = Field(None, description="frame cap per sentence (default: service setting)")
    accent: Accent = Field("auto", description=ACCENT_DESCRIPTION)
    speaker_emphasis: float | None = speaker_emphasis_field()


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
    model_config = STRICT
    embed: shaped(((EMBEDDING, EMBEDDING),), low=-EMBEDDING_BOUND, high=EMBEDDING_BOUND)
    text: Text


class SeedInferenceResponse(BaseModel):
    spec: list[list[float]]


def state_accents(schema: dict, available: list[str]) -> dict:
    """The schema's `accent` lists the accents this server has a checkpoint for (its settings), as its limits
    come from its settings: a schema-valid request is never refused with accent_unavailable."""
    schema["components"]["schemas"]["SynthesizeRequest"]["properties"]["accent"]["enum"] = available
    return schema
