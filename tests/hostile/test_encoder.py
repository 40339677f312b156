"""Hostile input to the encoder over real HTTP: decompression bombs, odd containers, values at the edges
of float32. Each case states the status and the words of the message it must get."""
import base64
import time

import httpx
import numpy as np
import pytest

from tests.hostile.media import av_bytes, reference, sndfile_bytes
from tests.hostile.stages import InFlight, expect_error, memory_mib, reset_peak
from tests.waiting import wait_for


def upload(data: bytes, name: str = "upload.bin"):
    return {"files": {"file": (name, data)}}


def wav_json(wav, **extra):
    return {"json": {"wav": np.asarray(wav, dtype=np.float64).tolist(), "sample_rate": 16000, **extra}}


def compact(values: np.ndarray, dtype: str, shape=None):
    arr = np.asarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": shape or list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode()}


REF = reference()
CASES = {
    # Bombs: refused from the header, before anything is decoded.
    "flac_8ch_655khz": (lambda: upload(sndfile_bytes("FLAC", "PCM_16", 8, 655350, 5)), 422, "sample rate 655350"),
    "ogg_64_channels": (lambda: upload(sndfile_bytes("OGG", "VORBIS", 64, 16000, 5)), 422, "64 channels"),
    "too_long": (lambda: upload(sndfile_bytes("FLAC", "PCM_16", 1, 8000, 130)), 413, "longer than"),
    "empty_file": (lambda: upload(b""), 422, "empty"),
    "not_audio": (lambda: upload(b"hello, I am text" * 10), 415, "not a readable audio file"),
    "playlist": (lambda: upload(b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/x.aac\n"), 415, "not a readable"),
    "mp4_without_audio": (lambda: upload(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64), 415, "audio"),
    # Amplitudes the model cannot use.
    "amplitude_1e-30": (lambda: wav_json(REF * 1e-30), 422, "silent"),
    "amplitude_times_1e30": (lambda: wav_json(REF * 1e30), 422, "out of range"),
    "float32_overflow": (lambda: {"json": {"wav": compact(np.full(16000, 1e39), "float64")}}, 422, "float32"),
    "shape_product_overflow": (lambda: {"json": {"wav": {"dtype": "float32", "shape": [2 ** 40, 2 ** 40],
                                                         "data": ""}}}, 422, "shape"),
    "negative_shape": (lambda: {"json": {"wav": {"dtype": "float32", "shape": [-1], "data": ""}}}, 422, "shape"),
    "sample_rate_zero": (lambda: wav_json(REF, sample_rate=0), 422, "sample_rate"),
    "silent_upload": (lambda: upload(sndfile_bytes("WAV", "PCM_16", 1, 16000, 2)), 422, "silent"),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_input_gets_a_clear_4xx(encoder, case):
    build, status, needle = CASES[case]
    r = httpx.post(encoder.url + "/v1/embed", timeout=120, **build())
    expect_error(r, status, needle)
    assert httpx.get(encoder.url + "/healthz").status_code == 200


@pytest.mark.parametrize("container,codec", [("mp4", "aac"), ("adts", "aac"), ("ogg", "libopus"),
                                             ("webm", "libopus")])
def test_browser_recorder_formats_embed_like_the_wav(encoder, container, codec):
    as_wav = httpx.post(encoder.url + "/v1/embed", timeout=120, **wav_json(REF)).json()["embedding"]
    r = httpx.post(encoder.url + "/v1/embed", timeout=120, **upload(av_bytes(container, codec, REF)))
    assert r.status_code == 200, r.text[:300]
    # Lossy codecs change the audio a little; the speaker stays the same.
    assert float(np.dot(as_wav, r.json()["embedding"])) > 0.95


def peak_cost_mib(encoder, data: bytes) -> tuple[float, httpx.Response]:
    pid = encoder.proc.pid
    before = memory_mib(pid)["VmRSS"]
    reset_peak(pid)
    r = httpx.post(encoder.url + "/v1/embed", timeout=300, **upload(data))
    return memory_mib(pid)["VmHWM"] - before, r


@pytest.mark.parametrize("bomb", ["flac_8ch_655khz_20s", "ogg_64ch"])
def test_bombs_cost_under_100_mib(encoder, bomb):
    data = (sndfile_bytes("FLAC", "PCM_16", 8, 655350, 20) if bomb.startswith("flac")
            else sndfile_bytes("OGG", "VORBIS", 64, 16000, 60))
    cost, r = peak_cost_mib(encoder, data)
    assert cost < 100, f"{bomb} ({len(data)} bytes) raised the encoder's peak memory by {cost:.0f} MiB"
    expect_error(r, 422, "sample rate" if bomb.startswith("flac") else "channels")


def test_large_legal_upload_is_decoded_in_bounded_memory_off_the_event_loop(encoder):
    """2 channels at 192 kHz for 119 s (87 KB of FLAC, 183 MB as float32 samples) is within every limit:
    it is decoded in blocks to 16 kHz mono, and /healthz keeps answering while it is."""
    data = sndfile_bytes("FLAC", "PCM_16", 2, 192000, 119, amplitude=0.0)
    pid = encoder.proc.pid
    before = memory_mib(pid)["VmRSS"]
    reset_peak(pid)
    bomb = InFlight(lambda: httpx.post(encoder.url + "/v1/embed", timeout=300, **upload(data)))
    answered = []
    while bomb.alive():
        start = time.monotonic()
        if httpx.get(encoder.url + "/healthz", timeout=60).status_code == 200 and bomb.alive():
            answered.append(time.monotonic() - start)
    cost = memory_mib(pid)["VmHWM"] - before
    r = bomb.join(1)
    expect_error(r, 422, "silent")  # decoded all the way: all its samples are zero
    assert cost < 100, f"decoding raised the encoder's peak memory by {cost:.0f} MiB"
    took = bomb.ended - bomb.started
    assert answered, "no /healthz answer while the upload was decoded: decoding blocks the event loop"
    assert max(answered) < took / 2, (max(answered), took)
    wait_for(lambda: httpx.get(encoder.url + "/healthz").status_code == 200, 10, what="encoder alive")

