"""Audio out: true encodings of every format the API offers, whole files or streamed piece by piece.

MP3 (LAME), Ogg Opus (libopus), AAC in ADTS and FLAC come from FFmpeg's encoders through PyAV, whose wheel
bundles them, so a plain `pip install` is enough. WAV and raw PCM are written here; Ogg Vorbis goes through
libsndfile (PyAV's wheel has no libvorbis) and is offered whole only.

Rates: every format keeps the audio's own rate except `pcm`, which is OpenAI's 24 kHz (clients play it at
that rate), and `opus`, encoded at 48 kHz, the rate every Opus decoder gives back. Resampling uses FFmpeg's
stateful resampler, so a stream resampled sentence by sentence has no seams.
"""
import io
import struct
from dataclasses import dataclass, field
from typing import Literal

import av
import numpy as np
import soundfile as sf

from common.errors import bad_request


@dataclass(frozen=True)
class Format:
    media_type: str
    muxer: str | None = None          # FFmpeg muxer; None: written here (wav, pcm) or by libsndfile (ogg)
    codec: str | None = None
    rate: int | None = None           # fixed output rate; None: the audio's own
    bit_rate: int | None = None
    options: dict = field(default_factory=dict)


FORMATS = {
    "wav": Format("audio/wav"),
    "pcm": Format("audio/pcm", rate=24000),
    "mp3": Format("audio/mpeg", "mp3", "libmp3lame", bit_rate=64000),
    # Ogg holds pages back until a page spans page_duration (default 1 s, which held a whole first
    # sentence back); 0.1 s pages let a stream's bytes out as they are made.
    "opus": Format("audio/ogg; codecs=opus", "ogg", "libopus", rate=48000, bit_rate=48000,
                   options={"page_duration": "100000"}),
    "aac": Format("audio/aac", "adts", "aac", bit_rate=64000),
    "flac": Format("audio/flac", "flac", "flac"),
    "ogg": Format("audio/ogg"),
}
STREAMABLE = ("wav", "pcm", "mp3", "opus", "aac", "flac")
AudioFormat = Literal["wav", "mp3", "opus", "aac", "flac", "pcm", "ogg"]
AUDIO_MEDIA_TYPES = sorted({f.media_type for f in FORMATS.values()})


def media_type(fmt: str) -> str:
    return FORMATS[fmt].media_type


def check_format(fmt: str, streaming: bool = False) -> Format:
    names = STREAMABLE if streaming else tuple(FORMATS)
    if fmt not in names:
        raise bad_request(f"format must be one of {', '.join(names)}" + (" when streaming" if streaming else ""))
    return FORMATS[fmt]


def to_int16(wav: np.ndarray) -> np.ndarray:
    return (np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")


def wav_header(sample_rate: int, n_samples: int | None = None) -> bytes:
    """16-bit mono WAV header; without a length (a stream) the sizes are the maximum, as players expect."""
    data = 0xFFFFFFFF if n_samples is None else n_samples * 2
    riff = 0xFFFFFFFF if n_samples is None else 36 + data
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16) + b"data" + struct.pack("<I", data))


class _Sink:
    """Write-only, unseekable output: FFmpeg then writes each muxer's streaming form and we hand bytes on."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


class AudioEncoder:
    """Feed float32 mono audio with `write` (bytes ready so far come back), end with `finish`.

    `streaming=False` writes to a seekable buffer so muxers fill in lengths (FLAC's STREAMINFO, MP3's Xing
    frame) and all bytes come back from `finish`.
    """

    def __init__(self, fmt: str, sample_rate: int, streaming: bool = False):
        self.format, self.spec = fmt, check_format(fmt, streaming)
        self.input_rate, self.streaming = sample_rate, streaming
        self.sample_rate = self.spec.rate or sample_rate
        self.samples_in = 0
        self._started = False
        self._resampler = (av.AudioResampler(format="s16", layout="mono", rate=self.sample_rate)
                           if self.sample_rate != sample_rate or self.spec.muxer else None)
        self._container = None
        if self.spec.muxer:
            self._out = _Sink() if streaming else io.BytesIO()
            self._container = av.open(self._out, "w", format=self.spec.muxer, buffer_size=4096,
                                      container_options=self.spec.options)
            self._stream = self._container.add_stream(self.spec.codec, rate=self.sample_rate, layout="mono")
            if self.spec.bit_rate:
                self._stream.bit_rate = self.spec.bit_rate
        elif fmt == "ogg":
            self._pieces: list[np.ndarray] = []

    def _resampled(self, pcm: np.ndarray | None) -> list:
        if pcm is None:
            return self._resampler.resample(None)
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = self.input_rate
        return self._resampler.resample(frame)

    def _encode(self, frames: list) -> None:
        for frame in frames:
            self._container.mux(self._stream.encode(frame))

    def _take(self) -> bytes:
        return self._out.take() if self.streaming else b""

    def write(self, wav: np.ndarray) -> bytes:
        pcm = to_int16(wav)
        self.samples_in += len(pcm)
        if self.format == "ogg":
            self._pieces.append(pcm)
            return b""
        head = b""
        if self.format == "wav" and self.streaming and not self._started:
            head = wav_header(self.sample_rate)
        self._started = True
        if self._container is not None:
            self._encode(self._resampled(pcm))
            return self._take()
        if self._resampler is not None:
            pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in self._resampled(pcm)] or [pcm[:0]])
        return head + pcm.astype("<i2").tobytes()

    def finish(self) -> bytes:
        if self._container is not None:
            self._encode(self._resampled(None))
            self._container.mux(self._stream.encode(None))
            self._container.close()
            return self._out.take() if self.streaming else self._out.getvalue()
        if self.format == "ogg":
            buf = io.BytesIO()
            pcm = np.concatenate(self._pieces) if self._pieces else np.zeros(0, "<i2")
            sf.write(buf, pcm.astype(np.float32) / 32767, self.sample_rate, format="OGG", subtype="VORBIS")
            return buf.getvalue()
        tail = b""
        if self._resampler is not None:
            tail = np.concatenate([f.to_ndarray().reshape(-1) for f in self._resampled(None)]
                                  or [np.zeros(0, "<i2")]).astype("<i2").tobytes()
        return tail


@dataclass
class Encoded:
    data: bytes
    media_type: str
    sample_rate: int     # of the encoded audio (24000 for pcm, 48000 for opus)
    duration_s: float    # of the audio given, at its own rate


def encode(wav: np.ndarray, sample_rate: int, fmt: str = "wav") -> Encoded:
    """A whole file. Audio peaking above full scale (WaveRNN/Griffin-Lim overshoot) is scaled down, not
    clipped: clipping crackles."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > 1.0:
        wav = wav / peak
    enc = AudioEncoder(fmt, sample_rate)
    body = enc.write(wav)
    body += enc.finish()
    if fmt == "wav":
        body = wav_header(sample_rate, len(wav)) + body
    return Encoded(body, enc.spec.media_type, enc.sample_rate, len(wav) / sample_rate)
