"""The envelope lock after HiFi-GAN, on a real LibriSpeech clip's mel blurred the way our synthesizer's are."""
import numpy as np
import pytest
import soundfile as sf
from scipy.ndimage import uniform_filter

from common import audio
from tests.conftest import DATA
from vocoder_svc import envelope_lock, mel_adapter
from vocoder_svc.envelope_lock import LockParams
from vocoder_svc.hifigan_runtime import load_hifigan_vocoder

REAL_CLIP = DATA / "librispeech_19-198-0000.flac"


@pytest.fixture(scope="module")
def smooth_mel():
    wav, _ = sf.read(REAL_CLIP, dtype="float32")
    # a Tacotron-like mel: harmonics and onsets blurred over 5 bands and 3 frames
    return uniform_filter(audio.melspectrogram(wav).astype(np.float32), size=(5, 3), mode="nearest")


@pytest.fixture(scope="module")
def vocoder():
    return load_hifigan_vocoder("lite", engine="torch", chunk_frames=0, envelope_lock_strength=0.0)


CENTRES_HZ = mel_adapter.generator_mel_basis().argmax(axis=1) * 22050 / 1024


def _band_error(wav, log_mel, below_hz):
    """(mean |asked - the audio's own generator mel| over the bands centred below `below_hz`, the audio's own
    mel in the bands centred above 4 kHz, well clear of the lock's 3 kHz edge)."""
    own = mel_adapter.hifigan_mel(wav, 22050)
    n = min(own.shape[1], log_mel.shape[1])
    low = CENTRES_HZ < below_hz
    return float(np.abs(log_mel[low, :n] - own[low, :n]).mean()), own[CENTRES_HZ > 4000, :n]


def test_off_returns_the_audio_untouched(vocoder, smooth_mel):
    log_mel, samples = vocoder.prepare(smooth_mel)
    wav = vocoder.generate(log_mel)[:samples]
    assert envelope_lock.lock(wav, log_mel, LockParams(strength=0.0)) is wav


def test_lock_pulls_the_low_bands_to_the_asked_mel_and_leaves_the_top_alone(vocoder, smooth_mel):
    log_mel, samples = vocoder.prepare(smooth_mel)
    wav = vocoder.generate(log_mel)[:samples]
    locked = envelope_lock.lock(wav, log_mel, LockParams(strength=1.0, max_gain_db=12.0, top_hz=3000.0,
                                                         keep_energy=False))
    assert locked.shape == wav.shape and np.isfinite(locked).all()
    before, top_before = _band_error(wav, log_mel, 2500)
    after, top_after = _band_error(locked, log_mel, 2500)
    assert after < before * 0.7            # measured here: 0.52 -> 0.26 nats
    high = slice(None), slice(2, -2)       # the bands well above 3 kHz keep their level (edge frames aside)
    assert np.abs(top_after[high] - top_before[high]).mean() < 0.01   # measured: 2e-6


def test_gain_is_bounded_by_max_gain(vocoder, smooth_mel):
    log_mel, samples = vocoder.prepare(smooth_mel)
    wav = vocoder.generate(log_mel)[:samples]
    silent_ask = np.full_like(log_mel, np.log(1e-5))      # asks for silence: every band is cut, by 6 dB at most
    cut = envelope_lock.lock(wav, silent_ask, LockParams(strength=1.0, max_gain_db=6.0, top_hz=11025.0,
                                                         keep_energy=False))
    ratio = np.sqrt((cut[2048:-2048] ** 2).mean() / (wav[2048:-2048] ** 2).mean())
    assert 10 ** (-6.5 / 20) < ratio < 10 ** (-5.5 / 20)


def test_kept_energy_moves_the_shape_not_the_loudness(vocoder, smooth_mel):
    log_mel, samples = vocoder.prepare(smooth_mel)
    wav = vocoder.generate(log_mel)[:samples]
    locked = envelope_lock.lock(wav, log_mel, LockParams(strength=1.0))
    assert LockParams().keep_energy
    rms = lambda x: float(np.sqrt((x[2048:-2048] ** 2).mean()))
    assert abs(20 * np.log10(rms(locked) / rms(wav))) < 0.5     # measured -0.05 dB
    assert np.abs(locked).max() < 1.1 * np.abs(wav).max()   # no louder peaks for int16 output to clip (0.69 / 0.70)
    low = CENTRES_HZ < 2500
    own_before, own_after = (mel_adapter.hifigan_mel(x, 22050)[low] for x in (wav, locked))
    n = min(own_before.shape[1], log_mel.shape[1])
    shape = lambda m: m[:, :n] - m[:, :n].mean(axis=0)  # each frame's envelope about its own level
    asked = shape(log_mel[low])
    # measured 0.44 -> 0.26 nats
    assert np.abs(asked - shape(own_after)).mean() < 0.8 * np.abs(asked - shape(own_before)).mean()


def test_chunked_rendering_with_the_lock_joins_like_the_whole_mel(smooth_mel):
    whole = load_hifigan_vocoder("lite", engine="torch", chunk_frames=0, envelope_lock_strength=1.0)
    chunked = load_hifigan_vocoder("lite", engine="torch", chunk_frames=64, envelope_lock_strength=1.0)
    a, b = whole.vocode(smooth_mel), chunked.vocode(smooth_mel)
    assert a.shape == b.shape
    assert np.abs(a - b).max() < 1e-4   # measured: 9e-7 (peak 2.4)


def test_each_generator_gets_its_own_lock_unless_one_is_set():
    from vocoder_svc.hifigan_runtime import ENVELOPE_LOCK
    from vocoder_svc.settings import VocoderSettings
    for voice in ("lite", "universal"):
        assert load_hifigan_vocoder(voice, engine="torch").info()["envelope_lock"]["strength"] == ENVELOPE_LOCK[voice]
    assert load_hifigan_vocoder("lite", engine="torch", envelope_lock_strength=0.5).lock.strength == 0.5
    assert VocoderSettings().hifigan_envelope_lock is None
