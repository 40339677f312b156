"""How close the analytic RTVC -> HiFi-GAN mel adapter comes to the generator's own mel of real speech.

`python -m bench.mel_adapter_error [FOLDER]` (default: tests/data's LibriSpeech clip; the RESULTS.md figures
used six LibriSpeech train-clean-100 clips from Resemblyzer's audio_data, kept outside the repo). For every
adapter choice: mean absolute log error (nats) of adapt(RTVC mel of the clip) vs hifigan_mel(clip), its
mean signed bias, and the adapter's compute time.
"""
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.util import table
from common import audio
from vocoder_svc import mel_adapter

CHOICES = {
    "pinv, window gain 1.28, edges held (default)": mel_adapter.AdapterChoice(),
    "pinv, edges not held": mel_adapter.AdapterChoice(hold_edges=False),
    "pinv, noise gain sqrt(1.28)": mel_adapter.AdapterChoice(window_gain=(1024 / 800) ** 0.5),
    "NNLS, window gain 1.28, edges held": mel_adapter.AdapterChoice(inverse="nnls"),
}


def run(folder: Path) -> list[dict]:
    clips = sorted(folder.glob("*.flac"))  # real speech only: tests/data's .wav files are synthetic voices
    audio_s = 0.0
    loaded = []
    for path in clips:
        wav, sr = sf.read(path, dtype="float32")
        if sr != audio.HP.sample_rate:
            continue
        loaded.append((wav, audio.melspectrogram(wav).astype(np.float32), mel_adapter.hifigan_mel(wav, sr)))
        audio_s += len(wav) / sr
    rows = []
    for name, choice in CHOICES.items():
        errors, biases, seconds = [], [], 0.0
        for _, mel, target in loaded:
            start = time.perf_counter()
            adapted = mel_adapter.adapt(mel, choice)
            seconds += time.perf_counter() - start
            n = min(adapted.shape[1], target.shape[1])
            diff = adapted[:, :n] - target[:, :n]
            errors.append(np.abs(diff).mean())
            biases.append(diff.mean())
        rows.append({"adapter": name, "clips": len(loaded), "mean abs log error": f"{np.mean(errors):.3f}",
                     "bias": f"{np.mean(biases):+.3f}", "RTF": f"{seconds / audio_s:.4f}"})
    return rows


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "data"
    result = run(target)
    print(table(result, list(result[0])))
