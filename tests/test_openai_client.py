"""The official `openai` client against the real four-process stack; every audio answer is decoded by the
system's ffmpeg (an independent decoder, not the PyAV that encoded it) and checked for codec, rate and length."""
import base64
import json
import shutil
import subprocess

import httpx
import numpy as np
import pytest

from orchestrator_svc.builtin_voices import builtin_voices
from tests.sse import data_events

openai = pytest.importorskip("openai")
FFMPEG, FFPROBE = shutil.which("ffmpeg"), shutil.which("ffprobe")
TEXT = "The birch canoe slid on the smooth planks."
TWO = "Glue the sheet to the dark blue background. It is easy to tell the depth of a well."
OPENAI_NAMES = ["alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse",
                "marin", "cedar"]
CODECS = {"mp3": ("mp3", "mp3"), "opus": ("opus", "ogg"), "aac": ("aac", "aac"), "flac": ("flac", "flac"),
          "wav": ("pcm_s16le", "wav")}
MEDIA = {"mp3": "audio/mpeg", "opus": "audio/ogg; codecs=opus", "aac": "audio/aac", "flac": "audio/flac",
         "wav": "audio/wav", "pcm": "audio/pcm"}


@pytest.fixture(scope="module")
def client(urls):
    if FFMPEG is None or FFPROBE is None:
        pytest.fail("ffmpeg/ffprobe are not installed (apt-get install ffmpeg)")
    return openai.OpenAI(base_url=urls["orchestrator"] + "/v1", api_key="unused", timeout=300, max_retries=0)


@pytest.fixture(scope="module")
def vocoder_rate(urls) -> int:
    return httpx.get(urls["vocoder"] + "/v1/info").json()["sample_rate"]


def probe(data: bytes, fmt: str) -> dict:
    """ffprobe's codec and container, and ffmpeg's decoded samples (rate, seconds)."""
    raw = ["-f", "s16le", "-ar", "24000", "-ac", "1"] if fmt == "pcm" else []
    info = json.loads(subprocess.run([FFPROBE, "-v", "error", *raw, "-show_streams", "-show_format", "-of", "json",
                                      "-i", "pipe:0"], input=data, capture_output=True, check=True).stdout)
    stream = info["streams"][0]
    rate = int(stream["sample_rate"])
    pcm = subprocess.run([FFMPEG, "-v", "error", *raw, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-"],
                         input=data, capture_output=True, check=True).stdout
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    return {"codec": stream["codec_name"], "container": info["format"]["format_name"], "rate": rate,
            "seconds": len(samples) / rate, "peak": float(np.abs(samples).max()), "samples": samples}


def speak(client, fmt="wav", voice="alloy", text=TEXT, **kw):
    kw.setdefault("extra_body", {"seed": 7})
    return client.audio.speech.create(model="tts-1", voice=voice, input=text, response_format=fmt, **kw)


@pytest.fixture(scope="module")
def reference(client):
    r = speak(client, "wav")
    return float(r.response.headers["x-audio-duration"]), probe(r.content, "wav")


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_format_is_a_true_encoding(client, vocoder_rate, reference, fmt):
    seconds, _ = reference
    r = speak(client, fmt)
    assert r.response.headers["content-type"] == MEDIA[fmt]
    got = probe(r.content, fmt)
    if fmt != "pcm":
        assert (got["codec"], got["container"]) == CODECS[fmt]
    # OpenAI's pcm is 24 kHz; every Opus decoder gives 48 kHz; the rest keep the vocoder's own rate.
    want_rate = {"pcm": 24000, "opus": 48000}.get(fmt, vocoder_rate)
    assert got["rate"] == want_rate == int(r.response.headers["x-sample-rate"])
    # same seed, same speech: codecs add at most an encoder delay and a frame of padding (AAC in ADTS:
    # two 1024-sample frames, 0.128 s at 16 kHz)
    assert abs(got["seconds"] - seconds) < 0.15, (fmt, got["seconds"], seconds)
    assert got["peak"] > 0.05
    if fmt == "pcm":
        assert len(r.content) == 2 * round(seconds * 24000) or abs(len(r.content) / 48000 - seconds) < 0.01


def test_wav_rate_and_duration_are_the_vocoders(reference, vocoder_rate):
    seconds, got = reference
    assert got["rate"] == vocoder_rate and abs(got["seconds"] - seconds) < 1e-3
    assert len(TEXT) / 25 < seconds < len(TEXT) / 6


def test_every_builtin_voice_speaks(client, urls):
    listed = httpx.get(urls["orchestrator"] + "/v1/audio/voices").json()["voices"]
    names = [v["id"] for v in listed if v["type"] in ("builtin", "openai")]
    assert set(OPENAI_NAMES) <= set(names) and set(builtin_voices()) <= set(names)
    heard = {}
    for name in names:
        r = speak(client, "wav", voice=name, text="Hello there.")
        got = probe(r.content, "wav")
        assert got["peak"] > 0.05 and 0.3 < got["seconds"] < 3, name
        heard[name] = got["samples"]
    # an OpenAI name speaks with the built-in it maps to; different built-ins sound different
    for v in builtin_voices().values():
        for alias in v.openai_names:
            assert np.array_equal(heard[alias], heard[v.name])
    assert not np.array_equal(heard["alloy"], heard["nova"])
    genders = {v["id"]: v.get("gender") for v in listed}
    assert genders["nova"] == "female" and genders["onyx"] == "male"


def test_voice_by_saved_id_and_id_object(client, urls, ref_wav_bytes):
    saved = httpx.post(urls["orchestrator"] + "/v1/voices", files={"file": ("slt.wav", ref_wav_bytes)},
                       data={"name": "openai-test"}, timeout=60).json()
    by_id = speak(client, "wav", voice=saved["id"], text="Yes.")
    by_obj = speak(client, "wav", voice={"id": saved["id"]}, text="Yes.")
    assert by_id.content == by_obj.content and len(by_id.content) > 1000
    listed = httpx.get(urls["orchestrator"] + "/v1/audio/voices").json()["voices"]
    assert {"id": saved["id"], "name": "openai-test", "type": "saved"}.items() <= next(
        v for v in listed if v["id"] == saved["id"]).items()


def test_models_listing(client):
    ids = [m.id for m in client.models.list()]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "voxclone-1"} <= set(ids)
    assert client.models.retrieve("tts-1-hd").id == "tts-1-hd"
    for model in ("tts-1-hd", "gpt-4o-mini-tts", "voxclone-1"):
        assert len(client.audio.speech.create(model=model, voice="echo", input="Hi.", response_format="wav").content) > 1000


def pitch(samples: np.ndarray, rate: int) -> float:
    import librosa
    f0 = librosa.yin(samples, fmin=60, fmax=400, sr=rate)
    return float(np.median(f0))


@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_changes_tempo_not_pitch(client, reference, speed):
    seconds, base = reference
    r = speak(client, "wav", speed=speed)
    got = probe(r.content, "wav")
    assert abs(got["seconds"] - seconds / speed) < 0.05 * seconds / speed + 0.05
    assert abs(pitch(got["samples"], got["rate"]) / pitch(base["samples"], base["rate"]) - 1) < 0.1


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3", "opus", "aac"])
def test_stream_format_audio_sends_each_sentence_as_made(client, vocoder_rate, fmt):
    whole = float(speak(client, "wav", text=TWO).response.headers["x-audio-duration"])
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=TWO, response_format=fmt, stream_format="audio",
            extra_body={"seed": 7}) as r:
        assert r.headers["content-type"] == MEDIA[fmt]
        chunks = list(r.iter_bytes())
    assert len(chunks) >= 2, "the first sentence came out before the second was made"
    got = probe(b"".join(chunks), fmt)
    assert got["rate"] == {"pcm": 24000, "opus": 48000}.get(fmt, vocoder_rate)
    # streamed sentences are made one by one with 0.15 s between them; the whole text is one batch
    assert abs(got["seconds"] - whole) < 0.5 + 0.15, (got["seconds"], whole)


def sse_events(client, fmt: str, text: str) -> list[dict]:
    with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="nova", input=text, response_format=fmt, stream_format="sse",
            instructions="Speak calmly.", extra_body={"seed": 7}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        return data_events(r.iter_lines())


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_stream_format_sse(client, fmt):
    events = sse_events(client, fmt, TWO)
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 2 and events[-1]["type"] == "speech.audio.done"
    assert [e["type"] for e in events].count("speech.audio.done") == 1
    got = probe(b"".join(base64.b64decode(e["audio"]) for e in deltas), fmt)
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == len(TWO) and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert abs(usage["output_tokens"] / 80 - got["seconds"]) < 0.15


def error_of(call) -> tuple[int, dict]:
    with pytest.raises(openai.APIStatusError) as info:
        call()
    return info.value.status_code, info.value.body


@pytest.mark.parametrize("change,param,words", [
    ({"input": "a" * 4097}, "input", "4096"),
    ({"voice": "nobody"}, "voice", "nobody"),
    ({"model": "dall-e-3"}, "model", "dall-e-3"),
    ({"speed": 5.0}, "speed", "4"),
    ({"response_format": "ogg"}, "response_format", "mp3"),
    ({"input": "..."}, "input", "nothing to speak"),
])
def test_errors_have_openais_shape(client, change, param, words):
    args = {"model": "tts-1", "voice": "alloy", "input": "Hi.", **change}
    status, body = error_of(lambda: client.audio.speech.create(**args))
    assert status == 400
    assert body["type"] == "invalid_request_error" and body["param"] == param and body["code"]
    assert words in body["message"]


def test_input_of_4096_characters_is_accepted_and_unknown_fields_ignored(client, urls):
    text = "Hello there." + " " * (4096 - 12)  # the limit exactly, cheap to speak
    r = httpx.post(urls["orchestrator"] + "/v1/audio/speech", timeout=600, json={
        "model": "tts-1", "voice": "shimmer", "input": text, "response_format": "mp3", "speed": 4.0,
        "instructions": "Cheerful.", "not_an_openai_field": {"x": 1}, "vocoder": "griffinlim"})
    assert r.status_code == 200, r.text[:300]
    assert 0.1 < probe(r.content, "mp3")["seconds"] < 1.5
    status, body = error_of(lambda: speak(openai.OpenAI(base_url=urls["orchestrator"] + "/v1", api_key="x"),
                                          text="Hi.", voice={"name": "alloy"}))
    assert status == 400 and body["param"] == "voice"
