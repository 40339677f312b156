"""`python -m bench` runs every benchmark side by side in one run, prints one report and writes
bench/RESULTS.md. `--quick` skips the slow WaveRNN parts and uses fewer memory-test requests."""
import argparse
import datetime
from pathlib import Path

from bench import rtf, stack_bench, synth_batching, wavernn_speed, wire
from bench.util import REFERENCE, machine, table

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args(argv)
    parts = [(f"# voxclone benchmarks\n\nMeasured {datetime.date.today()} on {machine()}.\n"
              "Every figure is a ratio or a time measured side by side in the same run.\n")]

    def section(title, body, note=""):
        text = f"## {title}\n\n{note}\n\n{body}\n" if note else f"## {title}\n\n{body}\n"
        print(text, flush=True)
        parts.append(text)

    w = wire.run(REFERENCE)
    section("Wire format", table(w, list(w[0])),
            "JSON lists vs compact base64 (`{dtype, shape, data}`), encode + decode including json.dumps/loads.")
    voc = rows = wavernn_speed.run(REFERENCE, seconds=1.0 if args.quick else 2.0)
    section("WaveRNN generation speed", table(rows, list(rows[0])),
            "RTVC-size WaveRNN (random weights), greedy decoding. 'identical' = same class at every sample as "
            "RTVC's loop with the same folding (asserted). The fast sampler precomputes every input that does "
            "not depend on the previous sample; more folds shorten the sequential loop.")
    rtfs = rows = rtf.run(REFERENCE, with_wavernn=not args.quick)
    cols = sorted({k for r in rows for k in r}, key=lambda k: list(rows[-1]).index(k) if k in rows[-1] else 99)
    section("Real-time factor (in-process)", table(rows, cols),
            "RTF = compute seconds / audio seconds (below 1 is faster than real time). Random-init synthesizer "
            "capped at 6 frames per character. WaveRNN uses the fast sampler at RTVC's 8000/800 folding.")
    rows = synth_batching.run(REFERENCE)
    section("Synthesizer batching", table(rows, list(rows[0])),
            "Default synthesizer, 8 sentences of mixed length, one reference voice, the same seed, median of 5. "
            "By default each item of a batch is encoded alone and padding gets no attention, so it comes out "
            "as it would alone; RTVC's padded batch lets the padding leak into the shorter items.")
    stack = stack_bench.run(REFERENCE, requests_for_memory=100 if args.quick else 500)
    rows = stack["overhead"]
    section("Inter-service overhead", table(rows, list(rows[0])),
            "/v1/clone over HTTP (4 processes, compact arrays, pooled client) vs the same stages in one process, "
            "median of 7 interleaved runs each; same text, seeds and default models. The reference embedding is "
            "cached after the warm-up, so both sides run synthesizer + Griffin-Lim; the HTTP side also parses "
            "the upload and returns a WAV. 'Outside the models': client time minus the model time every stage "
            "reports (voxclone_stage_seconds) over the same requests.")
    rows = stack["batching"]
    section("Concurrency and micro-batching", table(rows, list(rows[0])),
            "8 unseeded requests (seeded requests always run alone, so they stay reproducible) one after another "
            "vs from 8 concurrent clients, with the stages' micro-batching on (MICRO_BATCH_ITEMS=8) and off (1).")
    ttfb = [{"request (3 sentences)": k, "first audio byte s": f"{v['first_audio_s']:.2f}",
             "complete s": f"{v['total_s']:.2f}"} for k, v in stack["ttfb"].items()]
    section("Time to first audio", table(ttfb, list(ttfb[0])),
            "Sentence-chunked streaming vs the whole file, same text, seed and models (Griffin-Lim).")
    section("Memory (RSS)", table(stack["memory"], list(stack["memory"][0])))
    summary = summarize(w, voc, rtfs, stack)
    print(table(summary, list(summary[0])))
    parts.insert(1, "## Summary\n\nEach target of the performance issue, with the figure measured below.\n\n"
                 + table(summary, list(summary[0])) + "\n")
    args.out.write_text("\n".join(parts))
    print(f"wrote {args.out}")


def _num(text: str) -> float:
    return float(str(text).split()[0].rstrip("x%"))


def summarize(wire_rows, voc, rtfs, stack) -> list[dict]:
    """One row per target: the figure measured in this run and whether it meets the target."""
    fp32 = [r for r in voc if "int8" not in r["variant"] and "requests" not in r["variant"]]
    fastest = max(fp32, key=lambda r: _num(r["speedup"]))
    int8 = max((r for r in voc if "int8" in r["variant"]), key=lambda r: _num(r["speedup"]))
    same_path = next(r for r in voc if r["greedy path"] == "identical" and "requests" not in r["variant"]
                     and "RTVC" not in r["variant"])
    overhead = {r["text"]: r["difference"] for r in stack["overhead"]}
    worst_overhead = max(_num(v) for v in overhead.values())
    batching = {(r["pipeline"], r["micro-batching"]): r["throughput ratio"] for r in stack["batching"]}
    ttfb = stack["ttfb"]
    growth = max(abs(_num(r["growth"])) for r in stack["memory"])
    long_gl = next(r for r in rtfs if r["models"] == "default" and r["text"] == "long")
    return [
        {"target": "WaveRNN >= 4x RTVC's loop (8000/800)", "measured": f"{fastest['speedup']} ({fastest['variant']}); "
         f"same folding, identical greedy path: {same_path['speedup']}; int8 {int8['speedup']} "
         f"({int8['variant'].split(', ')[-1]})", "met": "yes" if _num(fastest["speedup"]) >= 4
         else "no"},
        {"target": "compact wire form vs JSON (10 s reference)", "measured": f"{wire_rows[0]['size ratio']} smaller, "
         f"{wire_rows[0]['time ratio']} faster", "met": "-"},
        {"target": "inter-service overhead < 3%", "measured": "; ".join(f"{k}: {v}" for k, v in overhead.items()),
         "met": "yes" if worst_overhead < 3 else "no" if all(_num(v) >= 3 for v in overhead.values()) else "partly"},
        {"target": "8 concurrent clients vs sequential, micro-batching",
         "measured": "; ".join(f"{p.split(',')[0]} {m}: {v}" for (p, m), v in batching.items()), "met": "-"},
        {"target": "streaming: first audio byte (3 sentences)",
         "measured": f"/v1/clone {ttfb['/v1/clone stream']['first_audio_s']:.2f} s vs whole "
                     f"{ttfb['/v1/clone whole']['total_s']:.2f} s; /v1/audio/speech "
                     f"{ttfb['/v1/audio/speech stream']['first_audio_s']:.2f} s vs "
                     f"{ttfb['/v1/audio/speech whole']['total_s']:.2f} s", "met": "-"},
        {"target": "no memory growth over the request run", "measured": f"largest RSS change {growth:.1f}%",
         "met": "yes" if growth < 5 else "no"},
        {"target": "end-to-end RTF, default models, Griffin-Lim, long text", "measured": long_gl["e2e GL RTF"],
         "met": "-"},
    ]


if __name__ == "__main__":
    main()
