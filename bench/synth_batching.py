"""What per-item batching costs: the default synthesizer on sentences of mixed length, as one batch with
each item hidden from the others (the default), as one RTVC batch (padding leaks), and one at a time; beside
them what a voice's first request adds where the spectrum restore is on (synthesizer_svc.spectrum_restore:
its calibration, once per voice, then cached)."""
import time

import numpy as np
import soundfile as sf

from common.checkpoints import file_sha256
from common.paths import DEFAULT_SPEAKER_MEAN, DEFAULT_SYNTHESIZER
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.inference import load_synthesizer, synthesize
from synthesizer_svc.speaker_emphasis import TUNED_FACTORS, emphasize, load_speaker_mean
from synthesizer_svc.spectrum_restore import calibrate

SENTENCES = ["Hi there.", "The quick brown fox jumps over the lazy dog.", "Where are you going tonight?",
             "Please call Stella and ask her to bring these things with her from the store.", "Yes.",
             "A rainbow is a division of white light into many beautiful colors.", "Thank you very much.",
             "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother."]


def run(reference_wav: str, repeats: int = 5) -> list[dict]:
    model = load_synthesizer(str(DEFAULT_SYNTHESIZER))
    ref = embed_reference(load_encoder(), sf.read(reference_wav, dtype="float32")[0]).embedding
    emb = np.repeat(ref[None], len(SENTENCES), axis=0)

    def synth(texts, embeddings, **kw):
        return synthesize(model, texts, embeddings, seed=0, max_frames=600, **kw)
    default = "one batch, each item alone (default)"
    ways = {
        default: lambda: synth(SENTENCES, emb),
        "one batch, RTVC padding": lambda: synth(SENTENCES, emb, rtvc_padding=True),
        "one sentence at a time": lambda: [synth([s], emb[i:i + 1]) for i, s in enumerate(SENTENCES)],
    }
    factor = TUNED_FACTORS.get(file_sha256(DEFAULT_SYNTHESIZER), 0.55)
    emphasized = emphasize(ref[None], load_speaker_mean(str(DEFAULT_SPEAKER_MEAN), len(ref)), factor)[0]
    ways[f"spectrum-restore calibration of a new voice (factor {factor})"] = \
        lambda: calibrate(model, ref, emphasized, max_frames=600)
    ways[default]()  # warm-up
    times = {k: [] for k in ways}
    for _ in range(repeats):  # interleaved, so drift hits every way alike
        for k, f in ways.items():
            start = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - start)
    base = np.median(times[default])
    return [{"8 sentences": k, "median s": f"{np.median(v):.2f}", "vs default": f"{np.median(v) / base:.2f}x"}
            for k, v in times.items()]


if __name__ == "__main__":
    from bench.util import REFERENCE, table
    rows = run(REFERENCE)
    print(table(rows, list(rows[0])))
