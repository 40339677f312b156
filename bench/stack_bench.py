"""Benchmarks against the running four-process stack: inter-service overhead, concurrency, memory."""
import concurrent.futures
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from common import audio
from common.stack import plan_stack, start_stack
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.inference import load_synthesizer, synthesize
from common.paths import DEFAULT_SYNTHESIZER
from vocoder_svc.inference import vocode_griffinlim

TEXT = "The birch canoe slid on the smooth planks."


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def clone(base: str, ref: bytes, text: str = TEXT, seed: int = 0) -> float:
    start = time.perf_counter()
    r = httpx.post(base + "/v1/clone", files={"reference_audio": ("r.wav", ref)},
                   data={"text": text, "vocoder": "griffinlim", "seed": str(seed)}, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - start


def first_audio_byte(open_stream) -> dict:
    """Seconds until the first audio sample (past the 44-byte WAV header) and until the end."""
    start = time.perf_counter()
    first, received = None, 0
    with open_stream() as r:
        r.raise_for_status()
        for chunk in r.iter_raw():
            received += len(chunk)
            if first is None and received > 44:
                first = time.perf_counter() - start
    return {"first_audio_s": first, "total_s": time.perf_counter() - start}


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
        voice_id = httpx.post(base + "/v1/voices", files={"file": ("r.wav", ref)}, data={"name": "bench"}).json()["id"]
        http_s = np.median([clone(base, ref, seed=i) for i in range(3)])
        # The same work in-process (cached embedding, same seed): what is left is HTTP + serialisation.
        enc, syn = load_encoder(), load_synthesizer(str(DEFAULT_SYNTHESIZER))
        emb = embed_reference(enc, wav)[0].embedding

        def local(i):
            start = time.perf_counter()
            mel = np.concatenate(synthesize(syn, [TEXT], emb[None], max_frames=1000, seed=i).mels, axis=1)
            vocode_griffinlim(mel, n_iter=32)
            return time.perf_counter() - start
        local_s = np.median([local(i) for i in range(3)])

        start = time.perf_counter()
        for i in range(8):
            clone(base, ref, seed=i)
        seq_s = time.perf_counter() - start
        peak = dict(rest)
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(clone, base, ref, TEXT, i) for i in range(8)]
            while not all(f.done() for f in futures):
                peak = {n: max(peak[n], rss_mb(s.proc.pid)) for n, s in svc.items()}
                time.sleep(0.2)
            [f.result() for f in futures]
        conc_s = time.perf_counter() - start

        three = "The first sentence is here. A second sentence follows it. And this is the third one."
        ttfb = {name: first_audio_byte(fn) for name, fn in (
            ("/v1/clone stream", lambda: httpx.stream("POST", base + "/v1/clone", timeout=600,
                                                       files={"reference_audio": ("r.wav", ref)},
                                                       data={"text": three, "stream": "true", "seed": "0"})),
            ("/v1/clone whole", lambda: httpx.stream("POST", base + "/v1/clone", timeout=600,
                                                      files={"reference_audio": ("r.wav", ref)},
                                                      data={"text": three, "seed": "0"})),
            ("/v1/audio/speech stream", lambda: httpx.stream("POST", base + "/v1/audio/speech", timeout=600, json={
                "input": three, "voice": voice_id, "response_format": "wav", "stream": True})),
            ("/v1/audio/speech whole", lambda: httpx.stream("POST", base + "/v1/audio/speech", timeout=600, json={
                "input": three, "voice": voice_id, "response_format": "wav"})))}

        after_warm = {n: rss_mb(s.proc.pid) for n, s in svc.items()}
        mel = audio.melspectrogram(wav).astype(np.float32)[:, :40].tolist()
        emb_list = emb.tolist()
        with httpx.Client(timeout=120) as http:
            for i in range(requests_for_memory):
                http.post(svc["encoder-0" if "encoder-0" in svc else "encoder"].url + "/v1/embed",
                          json={"wav": wav[:16000].tolist(), "sample_rate": 16000})
                http.post(svc["vocoder-0"].url + "/v1/vocode", json={"mel": mel, "backend": "griffinlim"})
                if i % 10 == 0:
                    http.post(svc["synthesizer-0"].url + "/v1/synthesize",
                              json={"text": "Hi.", "embedding": emb_list, "seed": i})
                http.get(base + "/v1/voices")
        after = {n: rss_mb(s.proc.pid) for n, s in svc.items()}
        return {
            "overhead": {"http_s": http_s, "local_s": local_s, "overhead": (http_s - local_s) / http_s},
            "throughput": {"sequential_s": seq_s, "concurrent_s": conc_s, "ratio": seq_s / conc_s},
            "ttfb": ttfb,
            "memory": [{"service": n, "at rest MB": f"{rest[n]:.0f}", "peak under load MB": f"{peak[n]:.0f}",
                        "after warm-up MB": f"{after_warm[n]:.0f}",
                        f"after {requests_for_memory} more requests MB": f"{after[n]:.0f}",
                        "growth": f"{(after[n] - after_warm[n]) / after_warm[n] * 100:+.1f}%"} for n in svc],
        }
    finally:
        stack.stop()
