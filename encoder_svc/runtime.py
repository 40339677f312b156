"""The loaded encoder and what a request does with it: check and resample the audio, embed, time it."""
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from common.audio_io import check_waveform, to_16k
from common.checkpoints import file_sha256
from common.metrics import MODEL_LOAD, STAGE_LATENCY
from common.stage_results import SpeakerEmbedding
from encoder_svc.inference import default_encoder_checkpoint, embed_reference, load_encoder
from encoder_svc.model import SpeakerEncoder
from encoder_svc.settings import EncoderSettings


@dataclass
class EncoderRuntime:
    settings: EncoderSettings
    model: SpeakerEncoder
    info: dict


def load_runtime(settings: EncoderSettings) -> EncoderRuntime:
    path = settings.encoder_checkpoint or default_encoder_checkpoint()
    start = time.perf_counter()
    model = load_encoder(path)
    MODEL_LOAD.labels("encoder", "ge2e").set(time.perf_counter() - start)
    # The file's name and checksum, never its path: /v1/info must not map the server's file system.
    info = {"model": "ge2e-speaker-encoder", "checkpoint": os.path.basename(path), "sha256": file_sha256(path),
            "hparams": asdict(model.cfg), "sample_rate": 16000}
    return EncoderRuntime(settings, model, info)


def embed_waveform(runtime: EncoderRuntime, wav: np.ndarray, sample_rate: int, preprocess: bool) -> SpeakerEmbedding:
    """Runs on the model thread (run_model): resampling and the GE2E forward pass both block."""
    wav = to_16k(check_waveform(wav, sample_rate, runtime.settings.max_audio_seconds, "wav"), sample_rate)
    start = time.perf_counter()
    result = embed_reference(runtime.model, wav, preprocess)
    STAGE_LATENCY.labels("encoder", "embed").observe(time.perf_counter() - start)
    return result
