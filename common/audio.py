"""RTVC's synthesizer/vocoder audio front end: 16 kHz, 80-band symmetric log-mel, Griffin-Lim, mu-law.

Every constant matches RTVC's published hparams, so mels made here feed RTVC's checkpoints unchanged.
"""
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
from scipy import signal


@dataclass(frozen=True)
class AudioParams:
    sample_rate: int = 16000
    n_fft: int = 800
    hop_size: int = 200
    win_size: int = 800
    num_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    preemphasis: float = 0.97
    min_level_db: float = -100.0
    ref_level_db: float = 20.0
    max_abs_value: float = 4.0
    power: float = 1.5
    griffin_lim_iters: int = 60


HP = AudioParams()


def preemphasis(wav: np.ndarray, k: float = HP.preemphasis) -> np.ndarray:
    return signal.lfilter([1, -k], [1], wav)


def inv_preemphasis(wav: np.ndarray, k: float = HP.preemphasis) -> np.ndarray:
    return signal.lfilter([1], [1, -k], wav)


def stft(y: np.ndarray, hp: AudioParams = HP) -> np.ndarray:
    # librosa >= 0.9 pads with zeros (center=True); RTVC's modern runs use the same.
    return librosa.stft(y=y, n_fft=hp.n_fft, hop_length=hp.hop_size, win_length=hp.win_size, pad_mode="constant")


def istft(spec: np.ndarray, hp: AudioParams = HP) -> np.ndarray:
    return librosa.istft(spec, hop_length=hp.hop_size, win_length=hp.win_size)


@lru_cache(maxsize=4)
def mel_basis(hp: AudioParams = HP) -> np.ndarray:
    return librosa.filters.mel(sr=hp.sample_rate, n_fft=hp.n_fft, n_mels=hp.num_mels, fmin=hp.fmin, fmax=hp.fmax)


@lru_cache(maxsize=4)
def inv_mel_basis(hp: AudioParams = HP) -> np.ndarray:
    return np.linalg.pinv(mel_basis(hp))


def amp_to_db(x: np.ndarray, hp: AudioParams = HP) -> np.ndarray:
    min_level = np.exp(hp.min_level_db / 20 * np.log(10))
    return 20 * np.log10(np.maximum(min_level, x))


def db_to_amp(x: np.ndarray) -> np.ndarray:
    return np.power(10.0, x * 0.05)


def normalize(S: np.ndarray, hp: AudioParams = HP) -> np.ndarray:
    m = hp.max_abs_value
    return np.clip(2 * m * ((S - hp.min_level_db) / -hp.min_level_db) - m, -m, m)


def denormalize(D: np.ndarray, hp: AudioParams = HP) -> np.ndarray:
    m = hp.max_abs_value
    return (np.clip(D, -m, m) + m) * -hp.min_level_db / (2 * m) + hp.min_level_db


def melspectrogram(wav: np.ndarray, hp: AudioParams = HP) -> np.ndarray:
    """float64 (80, T) mel in [-4, 4]; T = len(wav) // 200 + 1."""
    D = stft(preemphasis(wav, hp.preemphasis), hp)
    S = amp_to_db(np.dot(mel_basis(hp), np.abs(D)), hp) - hp.ref_level_db
    return normalize(S, hp)


def griffin_lim(mel: np.ndarray, hp: AudioParams = HP, rng: np.random.RandomState | None = None,
                n_iter: int | None = None, check=None) -> np.ndarray:
    """Invert a normalised mel to a waveform. `rng` defaults to numpy's global RNG, as RTVC does.
    `check()`, when given, runs before every iteration and raises to abandon the work (common.cancel)."""
    db = denormalize(mel, hp) + hp.ref_level_db
    S = np.maximum(1e-10, np.dot(inv_mel_basis(hp), db_to_amp(db))) ** hp.power
    rand = (rng or np.random).rand(*S.shape)
    S = np.abs(S).astype(np.complex128)
    y = istft(S * np.exp(2j * np.pi * rand), hp)
    for _ in range(hp.griffin_lim_iters if n_iter is None else n_iter):
        if check is not None:
            check()
        y = istft(S * np.exp(1j * np.angle(stft(y, hp))), hp)
    return inv_preemphasis(y, hp.preemphasis)


# ---- mu-law (vocoder, RAW mode) ----

def label_to_float(x, bits: float):
    return 2 * x / (2 ** bits - 1.0) - 1.0


def float_to_label(x, bits: int):
    x = (x + 1.0) * (2 ** bits - 1) / 2
    return x.clip(0, 2 ** bits - 1)


def encode_mu_law(x, mu: int):
    mu = mu - 1
    fx = np.sign(x) * np.log(1 + mu * np.abs(x)) / np.log(1 + mu)
    return np.floor((fx + 1) / 2 * mu + 0.5)


def decode_mu_law(y, mu: int, from_labels: bool = True):
    if from_labels:
        y = label_to_float(y, np.log2(mu))
    mu = mu - 1
    return np.sign(y) / mu * ((1 + mu) ** np.abs(y) - 1)
