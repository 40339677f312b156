"""WaveRNN generation: RTVC's per-sample loop (batched, target 8000 / overlap 800) vs our fast sampler,
same RTVC-size weights and mel. Method: greedy decoding with identical folding must give identical
classes (asserted); sampled decoding follows the same random stream (tested against RTVC's golden)."""
import time

import numpy as np
import soundfile as sf
import torch

from common import audio
from vocoder_svc.fast_sampling import sample_classes_fast
from vocoder_svc.model import WaveRNN, classes_to_wave, fold_with_overlap


def _classes(model, mel, target, overlap, fast, greedy=True):
    mels, aux = model.conditioning(mel)
    mels, aux = fold_with_overlap(mels, target, overlap), fold_with_overlap(aux, target, overlap)
    start = time.perf_counter()
    classes = (sample_classes_fast(model, mels, aux, greedy=greedy) if fast
               else model.sample_classes(mels, aux, greedy=greedy))
    return classes, time.perf_counter() - start, mels.shape[0]


def run(reference_wav: str, seconds: float = 2.0) -> list[dict]:
    torch.manual_seed(0)
    model = WaveRNN().eval()  # RTVC size, random init: speed does not depend on training
    wav, _ = sf.read(reference_wav, dtype="float32")
    mel = torch.from_numpy(audio.melspectrogram(wav[: int(16000 * seconds)]).astype(np.float32)[None] / 4)
    n = (mel.shape[-1] - 1) * 200
    ref, t_ref, f_ref = _classes(model, mel, 8000, 800, fast=False)
    same, t_same, _ = _classes(model, mel, 8000, 800, fast=True)
    assert torch.equal(ref, same), "fast sampler left the reference's greedy path"
    more, t_more, f_more = _classes(model, mel, 1000, 100, fast=True)
    wav_ref = classes_to_wave(ref.numpy(), model.cfg, n, 8000, 800, True)
    wav_more = classes_to_wave(more.numpy(), model.cfg, n, 1000, 100, True)
    # Quality cost of extra folds, as log-mel distance to the reference folding (random weights: indicative).
    cost = float(np.mean(np.abs(audio.melspectrogram(wav_more) - audio.melspectrogram(wav_ref))))
    rows = [
        {"variant": "RTVC loop, 8000/800", "folds": f_ref, "seconds": f"{t_ref:.2f}", "speedup": "1.00x",
         "greedy path": "reference", "mel L1 vs ref": "0"},
        {"variant": "fast sampler, 8000/800", "folds": f_ref, "seconds": f"{t_same:.2f}",
         "speedup": f"{t_ref / t_same:.2f}x", "greedy path": "identical", "mel L1 vs ref": "0"},
        {"variant": "fast sampler, 1000/100", "folds": f_more, "seconds": f"{t_more:.2f}",
         "speedup": f"{t_ref / t_more:.2f}x", "greedy path": "refolded", "mel L1 vs ref": f"{cost:.3f}"},
    ]
    return rows
