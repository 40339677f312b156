"""Uploaded audio -> 16 kHz mono float32, under limits read from the header before anything is decoded.

A compressed file can expand enormously: a 28 KB FLAC of 8 channels at 655 kHz decodes to 100 MB a
second (issue 27 measured 2.7 GB for one upload). So channels, sample rate, frames and the number of decoded
samples are checked from the container header first, then the file is decoded in blocks that are mixed to
mono and resampled to 16 kHz as they come: memory stays near the size of the 16 kHz output whatever the
input's rate or channel count, and a header that lies about its length is caught while decoding.

wav/flac/ogg/mp3 go through libsndfile; m4a/aac, opus and webm (what browsers' MediaRecorder produce)
through PyAV's bundled FFmpeg, with the container chosen from the file's magic bytes out of a short list:
FFmpeg's auto-detection would also accept playlists and other formats that open further files or URLs.
"""
import asyncio
import io
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from common.audio_io import MAX_RATE, MIN_RATE, SAMPLE_RATE, check_waveform
from common.errors import APIError, bad_request

BLOCK_FRAMES = 1 << 15
# Containers PyAV may open, by their leading bytes, and the audio codecs it may decode inside them.
AV_CONTAINERS = (((4, b"ftyp"), "mov"), ((0, b"\x1a\x45\xdf\xa3"), "matroska"), ((0, b"OggS"), "ogg"),
                 ((0, b"\xff\xf1"), "aac"), ((0, b"\xff\xf9"), "aac"))
AV_CODECS = {"aac", "opus", "vorbis", "mp3", "mp3float", "flac", "pcm_s16le", "pcm_f32le"}
READABLE = "wav, flac, ogg, mp3, m4a/aac, opus or webm"
# Two decodes at once at most: each holds its input and its 16 kHz output (about 8 MB for 120 s).
DECODE_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")


@dataclass(frozen=True)
class DecodeLimits:
    max_seconds: float = 120.0
    max_channels: int = 8
    # Decoded samples over all channels, the decoder's CPU work: 2 channels at 192 kHz for 120 s is 46 M.
    max_samples: int = 64_000_000


class _Mono16k:
    """Blocks of (frames, channels) at `rate` -> one 16 kHz mono array, counting what was decoded."""

    def __init__(self, rate: int, limits: DecodeLimits, name: str):
        self.rate, self.limits, self.name = rate, limits, name
        self.frames, self.samples, self.parts = 0, 0, []
        self.stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") \
            if rate != SAMPLE_RATE else None

    def add(self, block: np.ndarray) -> None:
        self.frames += block.shape[0]
        self.samples += block.size
        check_size(self.frames, block.shape[1], self.rate, self.limits, self.name)
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0].astype(np.float32)
        self.parts.append(self.stream.resample_chunk(mono) if self.stream else mono)

    def result(self) -> np.ndarray:
        if self.stream is not None:
            self.parts.append(self.stream.resample_chunk(np.zeros(0, np.float32), last=True))
        wav = np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)
        # The length librosa.resample gives (same soxr HQ filter, same samples: checked bit for bit).
        length = math.ceil(self.frames * SAMPLE_RATE / self.rate)
        return np.pad(wav, (0, max(0, length - len(wav))))[:length]


def check_header(channels: int, rate: int, frames: int | None, limits: DecodeLimits, name: str) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise bad_request(f"{name}: sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
    if not 1 <= channels <= limits.max_channels:
        raise bad_request(f"{name}: {channels} channels (at most {limits.max_channels})")
    if frames is not None:
        check_size(frames, channels, rate, limits, name)


def check_size(frames: int, channels: int, rate: int, limits: DecodeLimits, name: str) -> None:
    seconds = frames / rate
    if seconds > limits.max_seconds * 1.01 + 1:
        raise APIError(413, "audio_too_long",
                       f"{name}: {seconds:.1f} s is longer than the {limits.max_seconds:g} s limit")
    if frames * channels > limits.max_samples:
        raise APIError(413, "audio_too_large", f"{name}: {frames * channels} decoded samples exceed the "
                                               f"{limits.max_samples} limit (too many channels at this rate)")


def _decode_sndfile(f: sf.SoundFile, limits: DecodeLimits, name: str) -> np.ndarray:
    # libsndfile only estimates some formats' frame counts (mp3), so the block loop checks again as it reads.
    check_header(f.channels, f.samplerate, f.frames, limits, name)
    out = _Mono16k(f.samplerate, limits, name)
    for block in f.blocks(BLOCK_FRAMES, dtype="float32", always_2d=True):
        out.add(block)
    return check_waveform(out.result(), SAMPLE_RATE, limits.max_seconds, name)


def _av_format(data: bytes) -> str | None:
    return next((fmt for (offset, magic), fmt in AV_CONTAINERS if data[offset:offset + len(magic)] == magic), None)


def _decode_av(data: bytes, limits: DecodeLimits, name: str) -> np.ndarray:
    import av  # PyAV bundles FFmpeg; imported here so services that never decode do not load it
    fmt = _av_format(data)
    if fmt is None:
        raise APIError(415, "unsupported_audio", f"{name}: not a readable audio file ({READABLE})")
    try:
        with av.open(io.BytesIO(data), format=fmt, mode="r") as container:
            if not container.streams.audio:
                raise APIError(415, "unsupported_audio", f"{name}: the file has no audio track")
            stream = container.streams.audio[0]
            codec = stream.codec_context
            if codec.name not in AV_CODECS:
                raise APIError(415, "unsupported_audio", f"{name}: audio codec {codec.name} is not supported")
            frames = int(container.duration * codec.sample_rate / 1e6) if container.duration else None
            check_header(codec.channels, codec.sample_rate, frames, limits, name)
            out = _Mono16k(codec.sample_rate, limits, name)
            for frame in container.decode(stream):
                out.add(_frame_samples(frame))
    except av.FFmpegError:
        raise APIError(415, "unsupported_audio", f"{name}: not a readable audio file ({READABLE})") from None
    return check_waveform(out.result(), SAMPLE_RATE, limits.max_seconds, name)


def _frame_samples(frame) -> np.ndarray:
    """A decoded PyAV frame as float32 (frames, channels) in [-1, 1], whatever its sample format."""
    x = frame.to_ndarray()
    x = x if frame.format.is_planar else x.reshape(-1, len(frame.layout.channels)).T
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / np.float32(np.iinfo(x.dtype).max + 1)
    return np.ascontiguousarray(x.T, dtype=np.float32)


def decode_audio(data: bytes, limits: DecodeLimits = DecodeLimits(), name: str = "audio") -> np.ndarray:
    """Decode an uploaded file to 16 kHz mono float32 (blocking: call `read_audio_upload` from a route)."""
    if not data:
        raise bad_request(f"{name}: the uploaded file is empty")
    try:
        f = sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return _decode_av(data, limits, name)
    try:
        with f:
            return _decode_sndfile(f, limits, name)
    except (sf.LibsndfileError, RuntimeError):
        raise APIError(415, "unsupported_audio", f"{name}: the audio data is damaged") from None


async def read_audio_upload(data: bytes, limits: DecodeLimits = DecodeLimits(), name: str = "audio") -> np.ndarray:
    """`decode_audio` on a decoding thread, two at a time, so the event loop keeps answering meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(DECODE_POOL, decode_audio, data, limits, name)
