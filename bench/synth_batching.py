"""What per-item batching costs: the default synthesizer on sentences of mixed length, as one batch with
each item hidden from the others (the default), as one RTVC batch (padding leaks), and one at a time."""
import time

import numpy as np

from common.paths import DEFAULT_SYNTHESIZER
from synthesizer_svc.inference import load_synthesizer, synthesize

SENTENCES = ["Hi there.", "The quick brown fox jumps over the lazy dog.", "Where are you going tonight?",
             "Please call Stella and ask her to bring these things with her from the store.", "Yes.",
             "A rainbow is a division of white light into many beautiful colors.", "Thank you very much.",
             "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother."]


def run(repeats: int = 3) -> list[dict]:
    model = load_synthesizer(str(DEFAULT_SYNTHESIZER))
    emb = np.random.RandomState(0).randn(len(SENTENCES), 256).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)

    def synth(texts, embeddings, **kw):
        return synthesize(model, texts, embeddings, seed=0, max_frames=600, **kw)
    ways = {
        "one batch, each item alone (default)": lambda: synth(SENTENCES, emb),
        "one batch, RTVC padding": lambda: synth(SENTENCES, emb, rtvc_padding=True),
        "one sentence at a time": lambda: [synth([s], emb[i:i + 1]) for i, s in enumerate(SENTENCES)],
    }
    ways["one batch, each item alone (default)"]()  # warm-up
    times = {k: [] for k in ways}
    for _ in range(repeats):  # interleaved, so drift hits every way alike
        for k, f in ways.items():
            start = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - start)
    base = np.median(times["one batch, each item alone (default)"])
    return [{"8 sentences": k, "median s": f"{np.median(v):.2f}", "vs default": f"{np.median(v) / base:.2f}x"}
            for k, v in times.items()]


if __name__ == "__main__":
    from bench.util import table
    rows = run()
    print(table(rows, list(rows[0])))
