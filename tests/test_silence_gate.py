"""The silence gate after HiFi-GAN, on a real LibriSpeech clip's mel with a pause of RTVC's silence put in."""
import numpy as np
import pytest
import soundfile as sf

from common import audio
from tests.conftest import DATA
from vocoder_svc import mel_adapter, silence_gate
from vocoder_svc.hifigan_runtime import SILENCE_GATE, load_hifigan_vocoder
from vocoder_svc.silence_gate import GateParams

REAL_CLIP = DATA / "librispeech_19-198-0000.flac"
PAUSE = 60   # RTVC frames of silence (0.75 s) in the middle of the clip


@pytest.fixture(scope="module")
def paused_mel():
    wav, _ = sf.read(REAL_CLIP, dtype="float32")
    # 10 dB up, to our synthesizer's level: its mels' loud level (95th percentile of frame energy) is 14-32 dB,
    # median 25, on the real-voice clones; this clip's is 14, and RTVC's silence lies 44 dB under that, where the
    # gate only begins to close
    mel = audio.melspectrogram(wav * 10 ** 0.5).astype(np.float32)
    half = mel.shape[1] // 2
    silence = np.full((mel.shape[0], PAUSE), -audio.HP.max_abs_value, dtype=np.float32)
    return np.concatenate([mel[:, :half], silence, mel[:, half:]], axis=1)


def _frame_db(wav, hop=256):
    frames = wav[:len(wav) // hop * hop].reshape(-1, hop)
    return 10 * np.log10((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-20)


def test_gains_close_only_the_frames_far_under_the_loud_level(paused_mel):
    log_mel = mel_adapter.adapt(paused_mel)
    gains = silence_gate.frame_gains_db(log_mel, GateParams(depth_db=20.0))
    energy = 20 * np.log10(np.exp(log_mel).sum(axis=0))
    loud = np.percentile(energy, silence_gate.LOUD_PERCENTILE)
    assert gains.max() <= 0.0 and gains.min() == pytest.approx(-20.0)   # the pause, fully closed
    # a frame whose smoothing neighbours all lie within 45 dB of the loud level keeps its gain exactly
    open_ = np.convolve(energy > loud - 45.0, np.ones(3), mode="same") == 3
    assert open_.mean() > 0.5 and np.all(gains[open_] == 0.0)
    assert np.all(silence_gate.frame_gains_db(log_mel, GateParams(depth_db=0.0)) == 0.0)


def test_gate_turns_the_pause_down_and_leaves_speech_alone(paused_mel):
    plain_vocoder = load_hifigan_vocoder("lite", engine="torch", chunk_frames=0, silence_gate_db=0.0)
    plain = plain_vocoder.vocode(paused_mel)
    gated = load_hifigan_vocoder("lite", engine="torch", chunk_frames=0, silence_gate_db=20.0).vocode(paused_mel)
    assert plain.shape == gated.shape
    log_mel, _ = plain_vocoder.prepare(paused_mel)   # the post-filtered mel the gate reads
    gains = silence_gate.frame_gains_db(log_mel, GateParams(depth_db=20.0))
    n = min(len(gains), len(plain) // 256)
    shut, open_ = gains[:n] <= -19.99, gains[:n] == 0.0
    assert shut.sum() >= PAUSE and open_.sum() >= 60   # measured 125 and 97 of 233
    drop = _frame_db(plain)[:n] - _frame_db(gated)[:n]
    assert np.median(drop[shut]) == pytest.approx(20.0, abs=0.5)
    # frames whose gain and both neighbours' are 0 are the generator's audio, sample for sample
    untouched = np.convolve(open_, np.ones(3), mode="same") == 3
    pieces = lambda w: w[:n * 256].reshape(n, 256)[untouched]
    assert np.array_equal(pieces(plain), pieces(gated))


def test_chunked_rendering_with_the_gate_joins_like_the_whole_mel(paused_mel):
    whole = load_hifigan_vocoder("lite", engine="torch", chunk_frames=0, silence_gate_db=20.0)
    chunked = load_hifigan_vocoder("lite", engine="torch", chunk_frames=48, silence_gate_db=20.0)
    a, b = whole.vocode(paused_mel), chunked.vocode(paused_mel)
    assert a.shape == b.shape
    assert np.abs(a - b).max() < 1e-4   # the generator's own chunk seams; the gains are the whole mel's


def test_each_generator_gets_its_own_gate_unless_one_is_set():
    from vocoder_svc.settings import VocoderSettings
    assert set(SILENCE_GATE) == {"lite", "universal", "LJSpeech"}
    for voice in ("lite", "universal"):
        info = load_hifigan_vocoder(voice, engine="torch").info()
        assert info["silence_gate"]["depth_db"] == SILENCE_GATE[voice]
    assert load_hifigan_vocoder("lite", engine="torch", silence_gate_db=12.0).gate.depth_db == 12.0
    assert VocoderSettings().hifigan_silence_gate is None
