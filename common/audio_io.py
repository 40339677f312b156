"""Waveform checks and resampling (decoding uploads: common.audio_decode; encoding files: common.audio_encode)."""

import librosa
import numpy as np
import soundfile as sf

from common.errors import APIError, bad_request

SAMPLE_RATE = 16000
MIN_RATE, MAX_RATE = 4000, 192000
# Below one step of 16-bit audio nothing is audible, and the encoder's volume normalisation would need a gain
# past float32's range (a wav at 1e-30 came back as 256 NaNs, issue 27).
MIN_PEAK = 2.0 ** -15
# Samples belong in [-1, 1]; int16-scaled floats still pass. Far beyond that the encoder's power mel
# overflows float32 (a wav times 1e30 came back as 256 NaNs).
MAX_PEAK = 2.0 ** 15


def check_waveform(wav: np.ndarray, sample_rate: int, max_seconds: float, name: str = "audio") -> np.ndarray:
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise bad_request(f"{name}: sample_rate {sample_rate} is outside {MIN_RATE}..{MAX_RATE} Hz")
    if wav.ndim != 1 or wav.size == 0:
        raise bad_request(f"{name}: expected a non-empty mono waveform")
    if not np.all(np.isfinite(wav)):
        raise bad_request(f"{name}: contains NaN or infinite samples")
    seconds = wav.size / sample_rate
    if seconds > max_seconds:
        raise APIError(413, "audio_too_long", f"{name}: {seconds:.1f} s is longer than the {max_seconds:g} s limit")
    if seconds < 0.1:
        raise bad_request(f"{name}: {seconds * 1000:.0f} ms is too short (need at least 0.1 s)")
    peak = float(np.max(np.abs(wav)))
    if peak == 0.0:
        raise bad_request(f"{name}: is silent (all zeros)")
    if peak < MIN_PEAK:
        raise bad_request(f"{name}: is silent (peak {peak:.3g} is below 16-bit resolution, {MIN_PEAK:.3g})")
    return check_peak(wav, name, peak)


def check_peak(wav: np.ndarray, name: str = "audio", peak: float | None = None) -> np.ndarray:
    """Within MAX_PEAK (what the schemas state); the orchestrator checks a `wav` it does not forward too.
    `peak`: max |wav| when the caller has it already."""
    peak = float(np.max(np.abs(wav))) if peak is None else peak
    if peak > MAX_PEAK:
        raise bad_request(f"{name}: peak {peak:.3g} is out of range (samples belong in [-1, 1])")
    return wav


def read_16k(source) -> np.ndarray:
    """A sound file (a path or a file object: WAV, FLAC, NIST SPHERE...) as 16 kHz mono float32, its channels
    averaged."""
    wav, sr = sf.read(source, dtype="float32", always_2d=True)
    return to_16k(wav.mean(axis=1), sr)


def to_16k(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == SAMPLE_RATE:
        return wav.astype(np.float32)
    return librosa.resample(wav.astype(np.float32), orig_sr=sample_rate, target_sr=SAMPLE_RATE)

