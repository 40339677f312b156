"""mel -> waveform, with WaveRNN (RTVC's `infer_waveform`) or Griffin-Lim."""
import numpy as np
import torch

from common import audio
from common.checkpoints import load_model
from vocoder_svc.fast_sampling import sample_classes_fast
from vocoder_svc.model import WaveRNN, WaveRNNConfig

def load_vocoder(path: str, hparams: dict | None = None) -> WaveRNN:
    return load_model(path, WaveRNN, WaveRNNConfig, hparams)


def vocode_wavernn(model: WaveRNN, mel: np.ndarray, target: int = 8000, overlap: int = 800, batched: bool = True,
                   greedy: bool = False, fast: bool = True) -> np.ndarray:
    """(80, T) mel in [-4, 4] -> float32 16 kHz audio of (T-1)*200 samples.

    `fast` uses the precomputed-input sampler (same classes as RTVC's loop for the same seed)."""
    x = torch.from_numpy(np.asarray(mel, dtype=np.float32)[None] / audio.HP.max_abs_value)
    return model.generate(x, batched=batched, target=target, overlap=overlap, greedy=greedy,
                          sampler=sample_classes_fast if fast else None).astype(np.float32)


def vocode_griffinlim(mel: np.ndarray, seed: int | None = 0, n_iter: int | None = None) -> np.ndarray:
    rng = np.random.RandomState(seed) if seed is not None else None
    return audio.griffin_lim(np.asarray(mel, dtype=np.float32), rng=rng, n_iter=n_iter).astype(np.float32)
