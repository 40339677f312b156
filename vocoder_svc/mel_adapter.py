"""RTVC mel (16 kHz, hop 200, 55-7600 Hz, symmetric dB in [-4, 4], pre-emphasised) -> HiFi-GAN's mel
(22.05 kHz, n_fft 1024, hop 256, 0-8000 Hz, natural log of the magnitude), analytically, no learned parts.

Per RTVC frame: undo the [-4, 4] dB normalisation -> mel magnitudes; invert RTVC's filterbank back to a
401-bin linear magnitude spectrum; divide out the pre-emphasis filter's gain; re-read that spectrum on the
generator's 513-bin grid; apply the generator's filterbank; natural log. Then the frame axis is resampled
from RTVC's 12.5 ms hop to the generator's 11.61 ms hop. Everything up to the log is linear in the mel
magnitudes, so the frequency part is one precomputed (80, 80) matrix (`frequency_map`).

`hifigan_mel` is the generator-side mel of audio (the features HiFi-GAN was trained on); the adapter is
measured against it on real recordings in tests/test_mel_adapter.py.
"""
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import torch
from scipy.signal import resample_poly

from common import audio
from vocoder_svc.hifigan import HiFiGANConfig

GENERATOR = HiFiGANConfig()


@dataclass(frozen=True)
class AdapterChoice:
    # pinv vs NNLS for the filterbank inverse, measured on 6 LibriSpeech clips (mean abs log error vs the
    # generator's own mel): see bench/RESULTS.md. pinv makes the whole frequency part one matrix.
    inverse: str = "pinv"
    # A harmonic's STFT peak grows with the window's sum (800 -> 1024 samples: x1.28).
    window_gain: float = 1024 / 800
    # Bands below RTVC's 55 Hz / above 7600 Hz carry no information: hold the nearest known bin's level.
    hold_edges: bool = True


CHOICE = AdapterChoice()


def bin_frequencies(sample_rate: int, n_fft: int) -> np.ndarray:
    return np.linspace(0, sample_rate / 2, n_fft // 2 + 1)


@lru_cache(maxsize=1)
def generator_mel_basis() -> np.ndarray:
    g = GENERATOR
    return librosa.filters.mel(sr=g.sample_rate, n_fft=g.n_fft, n_mels=g.n_mels, fmin=g.fmin, fmax=g.fmax)


def deemphasis_gain(freqs: np.ndarray, k: float = audio.HP.preemphasis, sample_rate: int = audio.HP.sample_rate):
    """|1 - k e^{-jw}| at each frequency: what pre-emphasis multiplied each bin's magnitude by."""
    w = 2 * np.pi * freqs / sample_rate
    return np.sqrt(1 - 2 * k * np.cos(w) + k * k)


def held_range() -> tuple[float, float]:
    """Centres of RTVC's first and last mel filters: outside them pinv's spectrum fades along the filter
    slopes, so the level there is read at the centre instead (measured: top band error 2.4 -> see RESULTS)."""
    centres = librosa.mel_frequencies(audio.HP.num_mels + 2, fmin=audio.HP.fmin, fmax=audio.HP.fmax)
    return float(centres[1]), float(centres[-2])


def regrid_matrix(choice: AdapterChoice = CHOICE) -> np.ndarray:
    """(513, 401): RTVC linear bins (pre-emphasised, 20 Hz apart) -> generator bins (21.5 Hz apart), plain."""
    hp, g = audio.HP, GENERATOR
    src, dst = bin_frequencies(hp.sample_rate, hp.n_fft), bin_frequencies(g.sample_rate, g.n_fft)
    # Linear interpolation in frequency as a matrix: each destination bin mixes its two source neighbours.
    lo, hi = held_range() if choice.hold_edges else (0.0, src[-1])
    target = np.clip(dst, lo, hi)
    position = np.interp(target, src, np.arange(len(src)))
    left = np.floor(position).astype(int).clip(0, len(src) - 2)
    frac = position - left
    matrix = np.zeros((len(dst), len(src)))
    matrix[np.arange(len(dst)), left] = 1 - frac
    matrix[np.arange(len(dst)), left + 1] = frac
    if not choice.hold_edges:
        matrix[dst > src[-1]] = 0
    # Pre-emphasis boosted highs: divide it out at the frequency each destination bin was read from.
    return matrix / deemphasis_gain(target)[:, None] * choice.window_gain


@lru_cache(maxsize=4)
def frequency_map(choice: AdapterChoice = CHOICE) -> np.ndarray:
    """(80, 80) float32: RTVC mel magnitudes -> generator mel magnitudes (pinv inverse)."""
    return (generator_mel_basis() @ regrid_matrix(choice) @ audio.inv_mel_basis()).astype(np.float32)


def rtvc_mel_magnitude(mel: np.ndarray) -> np.ndarray:
    """[-4, 4] normalised dB -> RTVC's mel filterbank output (magnitude, linear)."""
    return audio.db_to_amp(audio.denormalize(mel) + audio.HP.ref_level_db)


def nnls_linear(mel_magnitude: np.ndarray) -> np.ndarray:
    """Non-negative least-squares inverse of RTVC's filterbank (slow; kept to measure against pinv)."""
    return librosa.util.nnls(audio.mel_basis(), mel_magnitude)


def generator_frames(rtvc_frames: int) -> tuple[int, int]:
    """(generator frames, output samples) for an RTVC mel of `rtvc_frames`: the audio lasts what RTVC's
    vocoders make of it, (T - 1) hops of 12.5 ms, at the generator's rate."""
    hp, g = audio.HP, GENERATOR
    samples = round((rtvc_frames - 1) * hp.hop_size * g.sample_rate / hp.sample_rate)
    return max(1, -(-samples // g.hop_length)), samples


def resample_frames(log_mel: np.ndarray, n_frames: int) -> np.ndarray:
    """Read the (80, T) RTVC-timed log mel at the generator's frame centres by linear interpolation.

    RTVC frame i is centred at i * 12.5 ms (librosa, center=True); the generator's frame j renders samples
    [j * 256, (j + 1) * 256), centred at (j + 0.5) * 11.61 ms."""
    hp, g = audio.HP, GENERATOR
    centres = (np.arange(n_frames) + 0.5) * g.hop_length / g.sample_rate * hp.sample_rate / hp.hop_size
    source = np.arange(log_mel.shape[1])
    return np.stack([np.interp(centres, source, band) for band in log_mel]).astype(np.float32)


def sharpen(mel: np.ndarray, factor: float) -> np.ndarray:
    """Global-variance compensation, the classic post-filter against over-smoothed synthetic spectra: each
    band's deviation from its mean over the utterance is scaled by `factor` (in RTVC's dB scale, so in log
    magnitude), then clipped to [-4, 4]. 1.0 leaves the mel as it is. Our synthesizer's mels reach the floor
    in 0.1-0.4% of cells against 7-9% in real speech (models/README.md): quiet parts are too loud and
    harmonics too flat, which a factor above 1 partly restores."""
    if factor == 1.0:
        return mel
    mean = mel.mean(axis=1, keepdims=True)
    limit = audio.HP.max_abs_value
    return np.clip(mean + factor * (mel - mean), -limit, limit).astype(np.float32)


def adapt(mel: np.ndarray, choice: AdapterChoice = CHOICE) -> np.ndarray:
    """(80, T) RTVC mel in [-4, 4] -> (80, T') float32 natural-log generator mel, T' = generator_frames(T)[0]."""
    magnitude = rtvc_mel_magnitude(np.asarray(mel, dtype=np.float64))
    if choice.inverse == "nnls":
        linear = regrid_matrix(choice) @ nnls_linear(magnitude)
        generator = generator_mel_basis() @ linear
    else:
        generator = frequency_map(choice) @ magnitude.astype(np.float32)
    log_mel = np.log(np.maximum(generator, GENERATOR.log_floor))
    return resample_frames(log_mel, generator_frames(mel.shape[1])[0])


def resample_to_generator(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == GENERATOR.sample_rate:
        return np.asarray(wav, dtype=np.float32)
    gcd = np.gcd(int(sample_rate), GENERATOR.sample_rate)
    return resample_poly(wav, GENERATOR.sample_rate // gcd, int(sample_rate) // gcd).astype(np.float32)


def hifigan_mel(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """The mel HiFi-GAN was trained on: reflect-pad (n_fft - hop) / 2, uncentred Hann STFT, magnitude,
    Slaney mel 0-8 kHz, ln(max(1e-5, .)). Frame j covers output samples [j * 256, (j + 1) * 256)."""
    spec = generator_magnitude(torch.from_numpy(resample_to_generator(wav, sample_rate))[None])[0].numpy()
    return np.log(np.maximum(generator_mel_basis() @ spec, GENERATOR.log_floor)).astype(np.float32)


def generator_magnitude(wav: torch.Tensor) -> torch.Tensor:
    """(B, samples) at the generator's rate -> (B, n_fft // 2 + 1, samples // hop) STFT magnitude on the
    generator's own frame grid (reflect-padded by (n_fft - hop) / 2, uncentred Hann); differentiable, for training
    losses too, on the samples' device."""
    g = GENERATOR
    pad = (g.n_fft - g.hop_length) // 2
    y = torch.nn.functional.pad(wav[:, None], (pad, pad), mode="reflect")[:, 0]
    window = torch.hann_window(g.win_length, device=wav.device)
    return torch.stft(y, g.n_fft, g.hop_length, g.win_length, window, center=False, return_complex=True).abs()
