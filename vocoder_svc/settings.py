"""Every vocoder setting, from the environment (see README "Settings")."""
from pydantic import Field

from common.config import ServiceSettings
from common.paths import DEFAULT_VOCODER


class VocoderSettings(ServiceSettings):
    port: int = 8003
    vocoder_checkpoint: str = str(DEFAULT_VOCODER)
    default_backend: str = "auto"      # auto: wavernn when weights are present, else griffinlim
    griffin_lim_iters: int = 32
    wavernn_target: int = 8000
    wavernn_overlap: int = 800
    wavernn_int8: bool = Field(False, description="int8 weights in the sampling loop: faster, slightly "
                                                  "different audio (see bench/RESULTS.md)")
    micro_batch_items: int = Field(8, description="unseeded concurrent WaveRNN requests sampled in one loop (1: off)")
    micro_batch_window_ms: float = Field(2.0, description="how long a request waits for company when idle")
