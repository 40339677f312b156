"""Speaker emphasis arithmetic and the shipped mean (synthesizer_svc.speaker_emphasis, training.speaker_mean),
its tuned default, and the orchestrator passing it on."""
from pathlib import Path

import numpy as np
import pytest

from common.checkpoints import file_sha256
from common.paths import DEFAULT_SPEAKER_MEAN, DEFAULT_SYNTHESIZER
from synthesizer_svc.speaker_emphasis import TUNED_FACTORS, default_factor, emphasize, load_speaker_mean
from tests import sse

DATA = Path(__file__).parent / "data"


def unit_rows(n, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, 256)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_emphasis_scales_the_difference_from_the_mean_and_stays_unit_norm():
    mean = load_speaker_mean(str(DEFAULT_SPEAKER_MEAN), 256)
    e = (unit_rows(4) * 0.3 + mean)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert emphasize(e, mean, 1.0) is e
    toward_mean = (e @ mean) / np.linalg.norm(mean)
    for factor in (1.3, 1.6, 2.0):
        out = emphasize(e, mean, factor)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        assert np.all((out @ mean) / np.linalg.norm(mean) < toward_mean)  # further from the crowd
        # the direction is the mean plus the scaled difference, before normalising
        expected = mean + factor * (e - mean)
        np.testing.assert_allclose(out, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(emphasize(e, mean, 0.0), np.tile(mean / np.linalg.norm(mean), (4, 1)), atol=1e-5)


def test_a_row_that_would_vanish_is_left_as_it_was():
    mean = np.zeros(256, np.float32)
    mean[0] = 0.5
    e = np.zeros((1, 256), np.float32)
    e[0, 0] = -1.0  # mean + 1/3 * (e - mean) = 0
    np.testing.assert_array_equal(emphasize(e, mean, 1 / 3), e)


def test_the_shipped_mean_is_a_mean_of_unit_vectors(tmp_path):
    mean = load_speaker_mean(str(DEFAULT_SPEAKER_MEAN), 256)
    assert 0.5 < np.linalg.norm(mean) < 0.95  # GE2E embeddings of real speakers share a large common part
    np.save(tmp_path / "bad.npy", np.ones(256, np.float32))
    with pytest.raises(RuntimeError, match="norm"):
        load_speaker_mean(str(tmp_path / "bad.npy"), 256)
    with pytest.raises(RuntimeError, match="SYNTHESIZER_SPEAKER_MEAN"):
        load_speaker_mean(str(tmp_path / "missing.npy"), 256)


def test_speaker_mean_command_on_real_clips(tmp_path):
    from training.speaker_mean import main
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("19-198-0000.flac", "19-198-0001.flac"):  # one speaker, two clips: counted once
        (clips / name).write_bytes((DATA / "librispeech_19-198-0000.flac").read_bytes())
    (clips / "slt-1.wav").write_bytes((DATA / "ref_slt.wav").read_bytes())
    main(["--audio", str(clips), "--out", str(tmp_path / "mean.npy")])
    mean = np.load(tmp_path / "mean.npy")
    assert mean.shape == (256,) and mean.dtype == np.float32
    assert 0.3 < np.linalg.norm(mean) < 1.0  # two different speakers: the mean of two unit vectors
    main(["--audio", str(clips), "--out", str(tmp_path / "again.npy")])
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), mean)


def test_the_default_factor_is_the_setting_else_the_checkpoints_tuned_one_else_one():
    shipped = file_sha256(DEFAULT_SYNTHESIZER)
    # a new synthesizer in models/ needs its own factor measured (training.evaluate_real --speaker-emphasis)
    assert shipped in TUNED_FACTORS
    assert default_factor(None, shipped) == (TUNED_FACTORS[shipped], "tuned")
    assert default_factor(1.0, shipped) == (1.0, "SYNTHESIZER_SPEAKER_EMPHASIS")
    assert default_factor(None, "0" * 64) == (1.0, "untuned")  # RTVC's own checkpoint, a fine-tune: as given


def test_the_orchestrator_passes_speaker_emphasis_on_every_route(urls, ref_wav_bytes):
    """Over real HTTP to the test stack (shipped checkpoint, its tuned default): the clone preview's mel is the
    synthesizer's, seeded, so it shows which factor was applied; the other routes take the field, check its
    bounds, and send it on."""
    import httpx

    from orchestrator_svc.builtin_voices import find_builtin
    from tests.waiting import wait_for
    base = urls["orchestrator"]
    default = httpx.get(urls["synthesizer"] + "/v1/info").json()["speaker_emphasis"]["default"]
    clone = {"files": {"reference_audio": ("ref.wav", ref_wav_bytes)}, "timeout": 120}

    def preview_mel(**extra):
        r = httpx.post(base + "/v1/clone/preview", data={"text": "Good morning.", "seed": "3",
                                                         "vocoder": "griffinlim", **extra}, **clone)
        assert r.status_code == 200, r.text[:300]
        return r.json()["mel"]

    by_default = preview_mel()
    assert preview_mel(speaker_emphasis=str(default)) == by_default
    assert preview_mel(speaker_emphasis="1") != by_default

    embedding = find_builtin("slt").embedding.tolist()
    tts = {"text": "Hi there.", "embedding": embedding, "vocoder": "griffinlim", "seed": 5}
    audio = {}
    for value in (None, 1.0, 0.0):
        r = httpx.post(base + "/v1/tts", json={**tts, "speaker_emphasis": value}, timeout=120)
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav", r.text[:300]
        audio[value] = r.content
    assert len(set(audio.values())) == 3  # the mean voice, the voice as given and the default all differ
    for bad in (3.5, -1, "x"):
        r = httpx.post(base + "/v1/tts", json={**tts, "speaker_emphasis": bad}, timeout=60)
        assert r.status_code == 422 and "speaker_emphasis" in r.text, r.text[:300]
        r = httpx.post(base + "/v1/clone", data={"text": "Hi.", "speaker_emphasis": str(bad)}, **clone)
        assert r.status_code == 422 and "speaker_emphasis" in r.text, r.text[:300]

    speech = {"input": "Hi.", "voice": "alloy", "response_format": "wav"}
    r = httpx.post(base + "/v1/audio/speech", json={**speech, "speaker_emphasis": 1.0}, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    r = httpx.post(base + "/v1/audio/speech", json={**speech, "speaker_emphasis": 9}, timeout=60)
    assert r.status_code == 400 and "speaker_emphasis" in r.text  # OpenAI's shape on its route

    def studio_mel(**extra):  # the web page's route: server-sent events, the last one `done` with the mel
        events = sse.studio_events(base, text="Good morning.", voice="slt", seed="3", vocoder="griffinlim", **extra)
        assert events[-1]["stage"] == "done", events[-1]
        return events[-1]["mel"]

    assert studio_mel(speaker_emphasis="1") != studio_mel()
    r = httpx.post(base + "/v1/studio/speak", data={"text": "Hi.", "voice": "slt", "speaker_emphasis": "3.5"},
                   timeout=60)
    assert r.status_code == 422 and "speaker_emphasis" in r.text

    job = httpx.post(base + "/v1/jobs", data={"text": "Hi.", "vocoder": "griffinlim", "speaker_emphasis": "1"},
                     **clone).json()
    done = wait_for(lambda: (s := httpx.get(f"{base}/v1/jobs/{job['id']}").json())["status"] in ("succeeded", "failed")
                    and s, timeout=120, what="the job to finish")
    assert done["status"] == "succeeded", done
    r = httpx.post(base + "/v1/jobs", data={"text": "Hi.", "speaker_emphasis": "4"}, **clone)
    assert r.status_code == 422 and "speaker_emphasis" in r.text
