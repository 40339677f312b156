"""Speech turned into what the client asked for: a file format, a speed, raw PCM or a WAV stream.

Everything here that encodes or resamples blocks (soundfile, lameenc, librosa): async callers use run_blocking.
"""
import struct

import numpy as np

from common.audio_io import write_audio_bytes
from common.stage_results import EncodedAudio

SAMPLE_RATE = 16000
# OpenAI's response_format names -> the container we write (opus goes in ogg; aac is served as mp3).
OPENAI_FORMATS = {"opus": "ogg", "aac": "mp3"}


def openai_format(response_format: str) -> str:
    return OPENAI_FORMATS.get(response_format, response_format)


def time_stretch(wav: np.ndarray, speed: float) -> np.ndarray:
    """`speed` times faster at the same pitch (OpenAI's `speed`)."""
    if speed == 1.0:
        return wav
    import librosa
    return librosa.effects.time_stretch(wav, rate=speed)


def pcm16(wav: np.ndarray) -> bytes:
    """Raw 16-bit little-endian mono samples (OpenAI's `pcm`; ours is at 16 kHz)."""
    return (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()


def wav_stream_header(sample_rate: int = SAMPLE_RATE) -> bytes:
    """A WAV header for a stream of unknown length (sizes set to the maximum, as streaming players expect)."""
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16) +
            b"data" + struct.pack("<I", 0xFFFFFFFF))


def encode_speech(wav: np.ndarray, fmt: str) -> EncodedAudio:
    """`fmt`: wav, mp3, ogg, flac, or pcm (raw samples)."""
    if fmt == "pcm":
        return EncodedAudio(pcm16(wav), "audio/pcm", len(wav))
    data, media = write_audio_bytes(wav, fmt)
    return EncodedAudio(data, media, len(wav))


def openai_audio(wav: np.ndarray, response_format: str, speed: float) -> EncodedAudio:
    """The OpenAI speech route's output: stretched to `speed`, in its `response_format`."""
    return encode_speech(time_stretch(wav, speed), openai_format(response_format))
