"""common.audio_encode checked by the system's ffmpeg (independent of the PyAV that encodes), at the rates of
both kinds of vocoder; then the same formats through /v1/tts, jobs and the vocoder of the real stack."""
import json
import shutil
import subprocess

import httpx
import numpy as np
import pytest

from common.audio_encode import FORMATS, STREAMABLE, AudioEncoder, encode
from orchestrator_svc.rendering import text_chunks
from tests.waiting import wait_for

CODEC = {"wav": "pcm_s16le", "pcm": "pcm_s16le", "mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac",
         "ogg": "vorbis"}


def decode(data: bytes, fmt: str) -> tuple[str, int, np.ndarray]:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed (apt-get install ffmpeg)")
    raw = ["-f", "s16le", "-ar", "24000", "-ac", "1"] if fmt == "pcm" else []
    stream = json.loads(subprocess.run(["ffprobe", "-v", "error", *raw, "-show_streams", "-of", "json", "-i", "pipe:0"],
                                       input=data, capture_output=True, check=True).stdout)["streams"][0]
    pcm = subprocess.run(["ffmpeg", "-v", "error", *raw, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-"],
                         input=data, capture_output=True, check=True).stdout
    return stream["codec_name"], int(stream["sample_rate"]), np.frombuffer(pcm, "<i2").astype(np.float32) / 32768


def tone(rate: int, seconds: float, hz: float = 220.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


@pytest.mark.parametrize("rate", [16000, 22050])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_whole_file_is_a_true_encoding_at_the_right_rate(fmt, rate):
    out = encode(tone(rate, 1.5), rate, fmt)
    codec, got_rate, samples = decode(out.data, fmt)
    assert codec == CODEC[fmt] and got_rate == out.sample_rate == {"pcm": 24000, "opus": 48000}.get(fmt, rate)
    # AAC in ADTS cannot signal the encoder's 1024-sample priming, nor the last frame's padding: up to
    # two 1024-sample frames more (0.128 s at 16 kHz)
    assert abs(len(samples) / got_rate - 1.5) < 0.15 and out.duration_s == 1.5
    assert abs(dominant_hz(samples, got_rate) - 220) < 5  # resampled, not sped up or slowed down


@pytest.mark.parametrize("fmt", STREAMABLE)
def test_streamed_pieces_decode_as_one_file(fmt):
    enc = AudioEncoder(fmt, 22050, streaming=True)
    pieces = [enc.write(tone(22050, 1.0)) for _ in range(3)] + [enc.finish()]
    assert all(pieces[:3]), "each piece's bytes come out when it is written"
    codec, rate, samples = decode(b"".join(pieces), fmt)
    assert codec == CODEC[fmt] and rate == enc.sample_rate
    assert abs(len(samples) / rate - 3.0) < 0.15


def test_text_chunks_keep_sentences_whole_under_the_limit():
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = text_chunks(text, 300)
    assert all(len(c) <= 300 for c in chunks) and " ".join(chunks) == text and len(chunks) > 10


def test_formats_on_tts_jobs_and_vocoder(urls, ref_wav_bytes):
    base = urls["orchestrator"]
    rate = httpx.get(urls["vocoder"] + "/v1/info").json()["sample_rate"]
    r = httpx.post(base + "/v1/tts", timeout=300, json={"voice_id": "voice_none", "text": "Hi."})
    assert r.status_code == 404
    emb = [0.0625] * 256
    r = httpx.post(base + "/v1/tts", timeout=300, json={"embedding": emb, "text": "Good day.", "format": "aac",
                                                        "speed": 1.5, "seed": 1})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/aac"
    codec, got_rate, samples = decode(r.content, "aac")
    assert codec == "aac" and got_rate == rate and abs(len(samples) / rate - float(r.headers["x-audio-duration"])) < 0.1
    job = httpx.post(base + "/v1/jobs", files={"reference_audio": ("r.wav", ref_wav_bytes)},
                     data={"text": "Queued.", "format": "opus"}, timeout=60).json()
    wait_for(lambda: httpx.get(base + job["status_url"]).json()["status"] == "succeeded", 300, what="the opus job")
    r = httpx.get(base + f"/v1/jobs/{job['id']}/result")
    assert r.headers["content-type"] == "audio/ogg; codecs=opus" and decode(r.content, "opus")[:2] == ("opus", 48000)
    mel = np.zeros((80, 40), dtype=np.float32).tolist()
    r = httpx.post(urls["vocoder"] + "/v1/vocode", json={"mel": mel, "format": "pcm", "backend": "griffinlim"},
                   headers={"accept": "audio/pcm"}, timeout=60)
    assert r.status_code == 200 and r.headers["x-sample-rate"] == "24000" and len(r.content) % 2 == 0
