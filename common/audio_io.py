"""Audio files in and out: any rate, wav/flac/ogg/mp3 via libsndfile; everything else gets a clear 4xx."""
import io

import librosa
import numpy as np
import soundfile as sf

from common.errors import APIError, bad_request

SAMPLE_RATE = 16000
FORMATS = {"wav": ("WAV", "PCM_16", "audio/wav"), "flac": ("FLAC", "PCM_16", "audio/flac"),
           "ogg": ("OGG", "VORBIS", "audio/ogg"), "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg")}
MIN_RATE, MAX_RATE = 4000, 192000


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
    if float(np.max(np.abs(wav))) == 0.0:
        raise bad_request(f"{name}: is silent (all zeros)")
    return wav


def to_16k(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate == SAMPLE_RATE:
        return wav.astype(np.float32)
    return librosa.resample(wav.astype(np.float32), orig_sr=sample_rate, target_sr=SAMPLE_RATE)


def read_audio_bytes(data: bytes, max_seconds: float, name: str = "audio") -> np.ndarray:
    """Decode an uploaded file to 16 kHz mono float32."""
    if not data:
        raise bad_request(f"{name}: the uploaded file is empty")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = f.samplerate
            if f.frames > max_seconds * rate * 1.01 + rate:
                raise APIError(413, "audio_too_long",
                               f"{name}: {f.frames / rate:.1f} s is longer than the {max_seconds:g} s limit")
            wav = f.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        raise APIError(415, "unsupported_audio", f"{name}: not a readable audio file (wav, flac, ogg or mp3)") from None
    wav = wav.mean(axis=1)
    return to_16k(check_waveform(wav, rate, max_seconds, name), rate)


def write_audio_bytes(wav: np.ndarray, fmt: str = "wav", sample_rate: int = SAMPLE_RATE) -> tuple[bytes, str]:
    if fmt not in FORMATS:
        raise bad_request(f"format must be one of {', '.join(FORMATS)}")
    container, subtype, media = FORMATS[fmt]
    buf = io.BytesIO()
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > 1.0:
        wav = wav / peak  # WaveRNN/GL can overshoot; clipping would crackle
    sf.write(buf, np.asarray(wav, dtype=np.float32), sample_rate, format=container, subtype=subtype)
    return buf.getvalue(), media
