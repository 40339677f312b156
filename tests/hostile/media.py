"""Audio files made in the test: decompression bombs (written block by block, never whole in memory) and
browser-recorder formats (m4a/aac, opus, webm) encoded with PyAV."""
import io

import av
import numpy as np
import soundfile as sf

from tests.conftest import DATA


def sndfile_bytes(fmt: str, subtype: str, channels: int, rate: int, seconds: float, amplitude: float = 0.0) -> bytes:
    buf, block = io.BytesIO(), 1 << 15
    tone = (amplitude * np.sin(2 * np.pi * 440 * np.arange(block) / rate)).astype(np.float32)
    frames = np.repeat(tone[:, None], channels, axis=1)
    with sf.SoundFile(buf, "w", rate, channels, format=fmt, subtype=subtype) as f:
        left = int(seconds * rate)
        while left > 0:
            f.write(frames[:min(left, block)])
            left -= block
    return buf.getvalue()


def reference() -> np.ndarray:
    wav, rate = sf.read(DATA / "ref_slt.wav", dtype="float32")
    assert rate == 16000
    return wav


def av_bytes(container: str, codec: str, wav: np.ndarray, rate: int = 16000) -> bytes:
    """Mono 16 kHz float audio encoded at 48 kHz (opus) or as given, as MediaRecorder would send it."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray((wav[None] * 32767).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buf.getvalue()
