"""Every synthesizer setting, from the environment (see README "Settings")."""
from pydantic import Field

from common.config import StageSettings
from common.paths import DEFAULT_SYNTHESIZER


class SynthesizerSettings(StageSettings):
    port: int = 8002
    synthesizer_checkpoint: str = str(DEFAULT_SYNTHESIZER)
    max_frames_per_sentence: int = 1000
    max_batch_texts: int = 32
    sentence_chars: int = 200
    micro_batch_items: int = Field(8, description="unseeded concurrent requests synthesized in one batch (1: off)")
    micro_batch_window_ms: float = Field(2.0, description="how long a request waits for company when idle")
    sentences_per_turn: int = Field(8, ge=1, description="sentences of one request per model call; a longer "
                                                         "request takes turns with the others (synthesizer_svc.work)")
