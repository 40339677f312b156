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


def _classes(model, mel, target, overlap, fast, greedy=True, int8=False, copies=1):
    mels, aux = model.conditioning(mel)
    mels, aux = fold_with_overlap(mels, target, overlap), fold_with_overlap(aux, target, overlap)
    mels, aux = mels.repeat(copies, 1, 1), aux.repeat(copies, 1, 1)  # `copies` requests sharing one loop
    start = time.perf_counter()
    classes = (sample_classes_fast(model, mels, aux, greedy=greedy, int8=int8) if fast
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
    q_same, t_q_same, _ = _classes(model, mel, 8000, 800, fast=True, int8=True)
    q_more, t_q_more, _ = _classes(model, mel, 1000, 100, fast=True, int8=True)
    shared, t_shared, f_shared = _classes(model, mel, 8000, 800, fast=True, copies=4)
    assert torch.equal(shared, ref.repeat(4, 1)), "a shared loop changed a request's greedy path"
    wav_ref = classes_to_wave(ref.numpy(), model.cfg, n, 8000, 800, True)

    def cost(classes, target, overlap):
        # Quality cost as log-mel distance to the reference's audio (random weights: indicative only).
        wav = classes_to_wave(classes.numpy(), model.cfg, n, target, overlap, True)
        return f"{float(np.mean(np.abs(audio.melspectrogram(wav) - audio.melspectrogram(wav_ref)))):.3f}"
    rows = [
        {"variant": "RTVC loop, 8000/800", "folds": f_ref, "seconds": f"{t_ref:.2f}", "speedup": "1.00x",
         "greedy path": "reference", "mel L1 vs ref": "0"},
        {"variant": "fast sampler, 8000/800", "folds": f_ref, "seconds": f"{t_same:.2f}",
         "speedup": f"{t_ref / t_same:.2f}x", "greedy path": "identical", "mel L1 vs ref": "0"},
        {"variant": "fast sampler, 1000/100", "folds": f_more, "seconds": f"{t_more:.2f}",
         "speedup": f"{t_ref / t_more:.2f}x", "greedy path": "refolded", "mel L1 vs ref": cost(more, 1000, 100)},
        {"variant": "fast sampler int8, 8000/800", "folds": f_ref, "seconds": f"{t_q_same:.2f}",
         "speedup": f"{t_ref / t_q_same:.2f}x", "greedy path": f"{float((q_same == ref).float().mean()):.1%} same",
         "mel L1 vs ref": cost(q_same, 8000, 800)},
        {"variant": "fast sampler int8, 1000/100", "folds": f_more, "seconds": f"{t_q_more:.2f}",
         "speedup": f"{t_ref / t_q_more:.2f}x", "greedy path": "refolded", "mel L1 vs ref": cost(q_more, 1000, 100)},
        {"variant": "4 requests in one loop, 8000/800", "folds": f_shared, "seconds": f"{t_shared:.2f}",
         "speedup": f"{4 * t_same / t_shared:.2f}x vs 4 fast runs", "greedy path": "identical", "mel L1 vs ref": "0"},
    ]
    return rows
