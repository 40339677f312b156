"""Benchmarks against the running four-process stack: inter-service overhead, concurrency, memory."""
import concurrent.futures
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from common import audio
from common.paths import DEFAULT_SYNTHESIZER
from common.stack import plan_stack, start_stack
from common.text import split_sentences
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.inference import load_synthesizer, synthesize_texts
from vocoder_svc.inference import vocode_griffinlim

TEXT = "The birch canoe slid on the smooth planks."
MEDIUM = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
          "It is easy to tell the depth of a well.")


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# One pooled client, as a real client keeps: a fresh httpx client per request costs ~45 ms here on its own.
HTTP = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=32))


def clone(base: str, ref: bytes, text: str = TEXT, seed: int | None = 0) -> float:
    start = time.perf_counter()
    data = {"text": text, "vocoder": "griffinlim", **({"seed": str(seed)} if seed is not None else {})}
    r = HTTP.post(base + "/v1/clone", files={"reference_audio": ("r.wav", ref)}, data=data)
    r.raise_for_status()
    return time.perf_counter() - start


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def throughput(call, n: int = 8) -> dict:
    """n calls one after another vs n concurrent clients."""
    start = time.perf_counter()
    for i in range(n):
        call(i)
    seq = time.perf_counter() - start
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        list(pool.map(call, range(n)))
    conc = time.perf_counter() - start
    return {"sequential_s": seq, "concurrent_s": conc, "ratio": seq / conc}


def batching_throughput(ref: bytes) -> list[dict]:
    """8 unseeded clones (batchable) sequentially vs concurrently, micro-batching on and off; and the same
    for a WaveRNN vocoder alone (RTVC-size random weights, 0.5 s mels, 1000/100 folding)."""
    import tempfile

    import torch

    from common.checkpoints import write_checkpoint
    from common.stack import ServiceProcess, free_port
    from common.wire import encode_array
    from vocoder_svc.model import WaveRNN
    rows = []
    for batching in ("8", "1"):
        stack = start_stack(plan_stack(None, env={"LOG_LEVEL": "WARNING", "MICRO_BATCH_ITEMS": batching},
                                       orchestrator_env={"DATA_DIR": "/tmp/voxclone-bench"}))
        try:
            base = stack.services["orchestrator"].url
            clone(base, ref)
            t = throughput(lambda i: clone(base, ref, f"Client number {i} says this sentence.",  # noqa: B023
                                           seed=None))  # (the lambda runs within this iteration)
            rows.append({"pipeline": "clone, Griffin-Lim (synthesizer batches)",
                         "micro-batching": "on" if batching != "1" else "off", **_fmt(t)})
        finally:
            stack.stop()
    torch.manual_seed(0)
    path = Path(tempfile.mkdtemp()) / "wavernn_random.pt"
    write_checkpoint(path, WaveRNN(), WaveRNN().cfg)
    mel = encode_array(np.random.RandomState(0).uniform(-4, 0, (80, 41)).astype(np.float32), compact=True)
    for batching in ("8", "1"):
        svc = ServiceProcess("vocoder", free_port(), {"LOG_LEVEL": "WARNING", "VOCODER_CHECKPOINT": str(path),
                                                      "WAVERNN_TARGET": "1000", "WAVERNN_OVERLAP": "100",
                                                      "MICRO_BATCH_ITEMS": batching}).start()
        try:
            svc.wait_ready()

            def vocode(i):
                HTTP.post(svc.url + "/v1/vocode",  # noqa: B023 - called in this iteration only
                          json={"mel": mel, "seed": None, "compact": True}).raise_for_status()
            vocode(0)
            rows.append({"pipeline": "vocoder alone, WaveRNN RTVC-size", "micro-batching":
                         "on" if batching != "1" else "off", **_fmt(throughput(vocode))})
        finally:
            svc.stop()
    return rows


def _fmt(t: dict) -> dict:
    return {"8 sequential s": f"{t['sequential_s']:.2f}", "8 concurrent s": f"{t['concurrent_s']:.2f}",
            "throughput ratio": f"{t['ratio']:.2f}x"}


def first_audio_byte(open_stream) -> dict:
    """Seconds until the first audio sample (past the 44-byte WAV header) and until the end, and how long a
    player that starts at the first sample would wait for audio not yet arrived (16-bit mono WAV stream)."""
    start = time.perf_counter()
    first, received, stall, runs_out = None, 0, 0.0, 0.0
    with open_stream() as r:
        r.raise_for_status()
        bytes_per_s = 2 * int(r.headers["x-sample-rate"])
        for chunk in r.iter_raw():
            now = time.perf_counter() - start
            audio_s = (max(0, received + len(chunk) - 44) - max(0, received - 44)) / bytes_per_s
            received += len(chunk)
            if audio_s <= 0:
                continue
            if first is None:
                first, runs_out = now, now
            stall += max(0.0, now - runs_out)        # the player ran dry before this chunk came
            runs_out = max(runs_out, now) + audio_s  # when what it holds now runs out
    return {"first_audio_s": first, "total_s": time.perf_counter() - start, "stall_s": stall}


def run(reference_wav: str, requests_for_memory: int = 500) -> dict:
    ref = Path(reference_wav).read_bytes()
    wav, _ = sf.read(reference_wav, dtype="float32")
    stack = start_stack(plan_stack(None, env={"LOG_LEVEL": "WARNING"},
                                   orchestrator_env={"DATA_DIR": "/tmp/voxclone-bench"}))
    try:
        svc = stack.services
        base = svc["orchestrator"].url
        rest = {n: rss_mb(s.proc.pid) for n, s in svc.items()}
        clone(base, ref)  # warm-up; also caches the reference embedding
        voice_id = HTTP.post(base + "/v1/voices", files={"file": ("r.wav", ref)}, data={"name": "bench"}).json()["id"]
        def compute_s() -> float:  # model time the stages report (voxclone_stage_seconds), all stages
            return sum(_metric(HTTP.get(s.url + "/metrics").text, "voxclone_stage_seconds_sum")
                       for n, s in svc.items() if n != "orchestrator")
        # The same work in-process (cached embedding, same seed): what is left is HTTP + serialisation.
        enc, syn = load_encoder(), load_synthesizer(str(DEFAULT_SYNTHESIZER))
        emb = embed_reference(enc, wav).embedding

        def local(text, i):
            start = time.perf_counter()
            res = synthesize_texts(syn, [text], emb[None], split=split_sentences, max_frames=1000, seed=i)
            vocode_griffinlim(res[0].mel, n_iter=32)
            return time.perf_counter() - start
        overhead = []
        for name, text in (("short (1 sentence)", TEXT), ("medium (3 sentences)", MEDIUM)):
            clone(base, ref, text)
            http_runs, local_runs, in_stages = [], [], 0.0
            for i in range(7):  # interleaved, so drift in machine load hits both sides alike
                before = compute_s()
                http_runs.append(clone(base, ref, text, seed=i))
                in_stages += compute_s() - before
                local_runs.append(local(text, i))
            http_s, local_s = np.median(http_runs), np.median(local_runs)
            overhead.append({"text": name, "HTTP s": f"{http_s:.3f}", "one process s": f"{local_s:.3f}",
                             "difference": f"{(http_s - local_s) / http_s * 100:.1f}%",
                             "outside the models": f"{(1 - in_stages / sum(http_runs)) * 100:.1f}%"})

        peak = dict(rest)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(clone, base, ref, TEXT, i) for i in range(8)]
            while not all(f.done() for f in futures):
                peak = {n: max(peak[n], rss_mb(s.proc.pid)) for n, s in svc.items()}
                time.sleep(0.2)
            [f.result() for f in futures]

        three = "The first sentence is here. A second sentence follows it. And this is the third one."
        ttfb = {name: first_audio_byte(fn) for name, fn in (
            ("/v1/clone stream", lambda: HTTP.stream("POST", base + "/v1/clone", timeout=600,
                                                       files={"reference_audio": ("r.wav", ref)},
                                                       data={"text": three, "stream": "true", "seed": "0"})),
            ("/v1/clone whole", lambda: HTTP.stream("POST", base + "/v1/clone", timeout=600,
                                                      files={"reference_audio": ("r.wav", ref)},
                                                      data={"text": three, "seed": "0"})),
            ("/v1/audio/speech stream", lambda: HTTP.stream("POST", base + "/v1/audio/speech", timeout=600, json={
                "input": three, "voice": voice_id, "response_format": "wav", "stream": True})),
            ("/v1/audio/speech whole", lambda: HTTP.stream("POST", base + "/v1/audio/speech", timeout=600, json={
                "input": three, "voice": voice_id, "response_format": "wav"})))}

        mel = audio.melspectrogram(wav).astype(np.float32)[:, :40].tolist()
        emb_list = emb.tolist()

        def mixed_requests(n):
            for i in range(n):
                HTTP.post(svc["encoder"].url + "/v1/embed", json={"wav": wav[:16000].tolist(), "sample_rate": 16000})
                HTTP.post(svc["vocoder-0"].url + "/v1/vocode", json={"mel": mel, "backend": "griffinlim"})
                if i % 10 == 0:
                    HTTP.post(svc["synthesizer-0"].url + "/v1/synthesize",
                              json={"text": "Hi.", "embedding": emb_list, "seed": i})
                HTTP.get(base + "/v1/voices")
        mixed_requests(20)  # every route warm before the baseline
        after_warm = {n: rss_mb(s.proc.pid) for n, s in svc.items()}
        mixed_requests(requests_for_memory)
        after = {n: rss_mb(s.proc.pid) for n, s in svc.items()}
        return {
            "overhead": overhead,
            "batching": batching_throughput(ref),
            "ttfb": ttfb,
            "memory": [{"service": n, "at rest MB": f"{rest[n]:.0f}", "peak under load MB": f"{peak[n]:.0f}",
                        "after warm-up MB": f"{after_warm[n]:.0f}",
                        f"after {requests_for_memory} more requests MB": f"{after[n]:.0f}",
                        "growth": f"{(after[n] - after_warm[n]) / after_warm[n] * 100:+.1f}%"} for n in svc],
        }
    finally:
        stack.stop()
