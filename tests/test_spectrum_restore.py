"""Spectrum restore (synthesizer_svc.spectrum_restore): its arithmetic in this process, then over real HTTP a
synthesizer with it (the test stack's, the shipped checkpoint's tuned weight) against one with it off
(SYNTHESIZER_SPECTRUM_RESTORE=0): same seed, so the mels differ by exactly the voice's measured difference
on their speech frames."""
import httpx
import numpy as np
import pytest

from common.checkpoints import file_sha256
from common.paths import DEFAULT_SPEAKER_MEAN, DEFAULT_SYNTHESIZER
from orchestrator_svc.builtin_voices import find_builtin
from synthesizer_svc import spectrum_restore as sr
from synthesizer_svc.inference import load_synthesizer
from synthesizer_svc.speaker_emphasis import TUNED_FACTORS, emphasize, load_speaker_mean
from tests.metrics_util import sample
from tests.processes import service

EMBEDDING = find_builtin("slt").embedding


def speech_like_mel(seed=0):
    """15 frames of floor-level silence, 90 of a voiced-looking band pattern, 15 of silence (a synthesized
    sentence's shape: its silences are a minority, below the speech quantile)."""
    rng = np.random.default_rng(seed)
    mel = np.full((80, 120), -4.0, np.float32)
    loudness = 1.2 * np.sin(np.linspace(0, 6 * np.pi, 90)) ** 2 - 0.6       # three syllables
    mel[:, 15:105] = np.linspace(1.5, -2.0, 80)[:, None] + loudness + 0.3 * rng.normal(size=(80, 90))
    return mel


def test_restore_moves_speech_frames_by_the_shift_and_leaves_silence_at_the_floor():
    mel, shift = speech_like_mel(), np.linspace(-0.3, 0.3, 80).astype(np.float32)
    out = sr.restore(mel, shift, weight=1.0)
    assert out.dtype == np.float32 and out.shape == mel.shape
    weight = sr.speech_weight(mel)
    np.testing.assert_allclose(out - mel, weight[None] * shift[:, None], atol=1e-5)
    level = mel.mean(axis=0)
    loud, silent = level > np.quantile(level, 0.3) + 1.0, level < -3.5
    assert loud.sum() >= 15 and silent.sum() == 30
    assert weight[loud].min() > 0.98 and weight[silent].max() < 1e-4   # speech moved all the way, silence not
    np.testing.assert_allclose(sr.restore(mel, shift, 0.5) - mel, 0.5 * (out - mel), atol=1e-5)
    assert sr.restore(mel, np.full(80, 9.0, np.float32)).max() == 4.0  # kept in the mel's range
    empty = np.zeros((80, 0), np.float32)
    assert sr.restore(empty, shift).shape == (80, 0)


def test_speech_spectrum_is_the_mean_over_the_speech_frames():
    mel = speech_like_mel()
    spectrum, speech = sr.speech_spectrum([mel, mel]), sr.speech_frames(mel)
    np.testing.assert_allclose(spectrum, mel[:, speech].mean(axis=1), atol=1e-5)
    assert speech[15:105].mean() > 0.85 and not speech[:15].any() and not speech[105:].any()


def test_shift_cache_keeps_the_most_recently_used_voices():
    cache, a, b = sr.ShiftCache(2), np.zeros(256, np.float32), np.ones(256, np.float32)
    keys = [sr.ShiftCache.key("auto", 0.55, a), sr.ShiftCache.key("auto", 0.55, b), sr.ShiftCache.key("auto", 0.7, a)]
    assert len(set(keys)) == 3 and sr.ShiftCache.key("british", 0.55, a) not in keys
    cache.put(keys[0], np.zeros(80))
    cache.put(keys[1], np.ones(80))
    assert cache.get(keys[0]) is not None   # now the most recent
    cache.put(keys[2], np.ones(80))         # evicts keys[1]
    assert cache.get(keys[1]) is None and cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    off = sr.ShiftCache(0)
    off.put(keys[0], np.zeros(80))
    assert off.get(keys[0]) is None


def test_the_weight_is_the_setting_else_the_checkpoints_tuned_one_else_off():
    shipped = file_sha256(DEFAULT_SYNTHESIZER)
    # tuned together: the shipped checkpoint's factor and weight (a new checkpoint needs both measured)
    assert shipped in sr.TUNED_WEIGHTS and shipped in TUNED_FACTORS
    assert sr.default_weight(None, shipped) == (sr.TUNED_WEIGHTS[shipped], "tuned")
    assert sr.default_weight(0.0, shipped) == (0.0, "SYNTHESIZER_SPECTRUM_RESTORE")
    assert sr.default_weight(None, "0" * 64) == (0.0, "untuned")


def test_calibration_sentences_stop_at_the_cap_whatever_the_request_allows():
    """The first calibration sentence runs ~412 frames, the others ~146: cut at CALIBRATION_MAX_FRAMES the batch
    ends with them (models/README.md, "the calibration cut at 150 frames"); a smaller cap still applies."""
    model, mean = load_synthesizer(str(DEFAULT_SYNTHESIZER)), load_speaker_mean(str(DEFAULT_SPEAKER_MEAN), 256)
    emphasized = emphasize(EMBEDDING[None], mean, 0.55)[0]
    capped = sr.calibrate(model, EMBEDDING, emphasized, max_frames=sr.CALIBRATION_MAX_FRAMES)
    np.testing.assert_array_equal(sr.calibrate(model, EMBEDDING, emphasized, max_frames=2000), capped)
    np.testing.assert_array_equal(sr.calibrate(model, EMBEDDING, emphasized), capped)
    assert np.abs(sr.calibrate(model, EMBEDDING, emphasized, max_frames=40) - capped).mean() > 1e-3


@pytest.fixture(scope="module")
def unrestored(tmp_path_factory):
    """A synthesizer process like the test stack's with the restore off."""
    svc = service("synthesizer", tmp_path_factory.mktemp("restore") / "synthesizer.log",
                  SYNTHESIZER_SPECTRUM_RESTORE="0").start()
    try:
        svc.wait_ready()
        yield svc.url
    finally:
        svc.stop()


def mel_of(url: str, embedding, **extra) -> np.ndarray:
    body = {"text": "Good morning, how are you?", "embedding": embedding.tolist(), "seed": 4, **extra}
    r = httpx.post(url + "/v1/synthesize", json=body, timeout=120)
    assert r.status_code == 200, r.text[:300]
    return np.array(r.json()["mels"][0]["mel"], np.float32)


def test_the_service_adds_the_voices_measured_difference_once_per_voice(urls, unrestored):
    url = urls["synthesizer"]
    info = httpx.get(url + "/v1/info").json()
    factor = info["speaker_emphasis"]["default"]
    assert info["spectrum_restore"]["weight"] == sr.TUNED_WEIGHTS[info["sha256"]] > 0 and factor < 1
    assert info["spectrum_restore"]["source"] == "tuned"
    off = httpx.get(unrestored + "/v1/info").json()["spectrum_restore"]
    assert off["weight"] == 0 and off["source"] == "SYNTHESIZER_SPECTRUM_RESTORE"

    voice = EMBEDDING * 0.9 + 0.1 * np.roll(EMBEDDING, 7)   # a voice no other test asks for: not cached yet
    voice = (voice / np.linalg.norm(voice)).astype(np.float32)
    before = sample(url, "voxclone_stage_seconds_count", service="synthesizer", stage="spectrum_calibration")
    restored, plain = mel_of(url, voice), mel_of(unrestored, voice)
    assert mel_of(url, voice).tolist() == restored.tolist()   # seeded: the same again, from the cache
    after = sample(url, "voxclone_stage_seconds_count", service="synthesizer", stage="spectrum_calibration")
    assert after - before == 1

    # The service added one difference per band, weighted frame by frame by the speech mask: recover it from
    # the two mels, then check it against the difference measured here as the service measures it (same
    # weights and calibration seed; autoregressive decoding on another thread count drifts by ~1e-2).
    weight = info["spectrum_restore"]["weight"] * sr.speech_weight(plain)
    assert plain.shape == restored.shape and weight.max() > 0.98 and weight.min() < 0.02
    inside = np.abs(restored) < 3.999                        # cells the restore did not clip
    added = np.where(inside, restored - plain, 0.0)
    served_shift = (added * weight).sum(1) / np.maximum((inside * weight ** 2).sum(1), 1e-9)
    np.testing.assert_allclose(added, np.where(inside, weight[None] * served_shift[:, None], 0.0), atol=1e-3)
    model, mean = load_synthesizer(str(DEFAULT_SYNTHESIZER)), load_speaker_mean(str(DEFAULT_SPEAKER_MEAN), 256)
    shift = sr.calibrate(model, voice, emphasize(voice[None], mean, factor)[0])
    assert 0.02 < np.abs(shift).mean() < 1.0
    assert np.abs(served_shift - shift).max() < 0.05 and np.abs(served_shift - shift).mean() < 0.01

    # At factor 1 nothing was taken away, so nothing is given back: both services say the same.
    assert mel_of(url, voice, speaker_emphasis=1).tolist() == mel_of(unrestored, voice, speaker_emphasis=1).tolist()
