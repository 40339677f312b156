"""Neural vocoder speed and quality, side by side in one run: Griffin-Lim, HiFi-GAN V1 variants, and piper's
CPU voice (joe, a whole TTS: text -> audio) on the same sentences as the reference point.

`python -m bench.vocoder_speed` prints the table and replaces its section in bench/RESULTS.md.
Quality is the log-spectral distance of each variant's audio from the fp32 torch output: mean absolute
difference of the generator-side log-mels (nats), 0 = the same audio.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from bench.rtf import TEXTS
from bench.util import machine, replace_section, table
from common.paths import DEFAULT_HIFIGAN_LITE, DEFAULT_SYNTHESIZER
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.inference import load_synthesizer, synthesize
from vocoder_svc import mel_adapter
from vocoder_svc.hifigan_runtime import HiFiGANVocoder, load_hifigan_vocoder
from vocoder_svc.inference import vocode_griffinlim

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Neural vocoder speed (HiFi-GAN)"


def sentence_mels(reference_wav: str) -> dict[str, np.ndarray]:
    """The default synthesizer's RTVC mels of the bench sentences, in the reference's voice."""
    wav, _ = sf.read(reference_wav, dtype="float32")
    embedding = embed_reference(load_encoder(), wav).embedding
    synthesizer = load_synthesizer(str(DEFAULT_SYNTHESIZER))
    return {name: np.concatenate(synthesize(synthesizer, [text], embedding[None], max_frames=1000, seed=0).mels, 1)
            for name, text in TEXTS.items() if name == "medium"}  # one 4 s sentence: the machine is shared


class Bf16Autocast:
    """HiFi-GAN with torch's CPU bf16 autocast around the generator (AVX512-BF16 where the CPU has it)."""

    def __init__(self, vocoder: HiFiGANVocoder):
        self.vocoder = vocoder

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.vocoder.vocode(mel)


def variants(threads: int) -> dict:
    torch_whole = load_hifigan_vocoder(engine="torch", chunk_frames=0)
    return {
        "HiFi-GAN torch fp32 (folded weight norm, inference_mode)": torch_whole,
        "HiFi-GAN torch bf16 autocast": Bf16Autocast(load_hifigan_vocoder(engine="torch", chunk_frames=0)),
        "HiFi-GAN OpenVINO fp32, 256-frame chunks (service default)": load_hifigan_vocoder(threads=threads),
        "HiFi-GAN OpenVINO fp32, 64-frame chunks (streaming)": load_hifigan_vocoder(chunk_frames=64,
                                                                                      threads=threads),
        "HiFi-GAN OpenVINO fp32, 1024-frame chunks": load_hifigan_vocoder(chunk_frames=1024, threads=threads),
        "HiFi-GAN ONNX Runtime fp32, 256-frame chunks": load_hifigan_vocoder(engine="onnxruntime", threads=threads),
        "HiFi-GAN ONNX Runtime fp32, 64-frame chunks": load_hifigan_vocoder(engine="onnxruntime", chunk_frames=64,
                                                                            threads=threads),
        **lite_variants(threads),
    }


def lite_variants(threads: int) -> dict:
    """The distilled generator (training.distill_vocoder), when models/ ships it."""
    if not DEFAULT_HIFIGAN_LITE.exists():
        return {}
    return {
        "HiFi-GAN lite (distilled, kernel-3 branch only) OpenVINO fp32, 256-frame chunks":
            load_hifigan_vocoder("lite", threads=threads),
        "HiFi-GAN lite OpenVINO fp32, 64-frame chunks (streaming)":
            load_hifigan_vocoder("lite", chunk_frames=64, threads=threads),
        "HiFi-GAN lite ONNX Runtime fp32, 256-frame chunks":
            load_hifigan_vocoder("lite", engine="onnxruntime", threads=threads),
        "HiFi-GAN lite + envelope lock 1 (HIFIGAN_ENVELOPE_LOCK=1), 256-frame chunks":
            load_hifigan_vocoder("lite", threads=threads, envelope_lock_strength=1.0),
    }


def log_spectral_distance(wav: np.ndarray, reference: np.ndarray) -> float:
    a, b = (mel_adapter.hifigan_mel(w, 22050) for w in (wav, reference))
    n = min(a.shape[1], b.shape[1])
    return float(np.abs(a[:, :n] - b[:, :n]).mean())


def timed_call(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def run(reference_wav: str, threads: int = 2, repeats: int = 5) -> list[dict]:
    """Each variant's median over `repeats` rounds; every round times every variant in turn, so a change in the
    machine's load falls on all of them alike."""
    torch.set_num_threads(threads)
    mel = sentence_mels(reference_wav)["medium"]
    vocoders = {"Griffin-Lim, 32 iterations (16 kHz)": None, **variants(threads)}
    audio_s = (mel.shape[1] - 1) * 200 / 16000
    for vocoder in vocoders.values():
        if vocoder is not None:
            vocoder.vocode(mel[:, :40])  # warm-up: allocations, oneDNN / OpenVINO / ORT kernel choice
    seconds, audio = {name: [] for name in vocoders}, {}
    for _ in range(repeats):
        for name, vocoder in vocoders.items():
            if vocoder is None:
                audio[name], s = timed_call(vocode_griffinlim, mel, 0, 32)
            else:
                audio[name], s = timed_call(vocoder.vocode, mel)
            seconds[name].append(s)
    gl_s = float(np.median(seconds["Griffin-Lim, 32 iterations (16 kHz)"]))
    reference = audio["HiFi-GAN torch fp32 (folded weight norm, inference_mode)"]
    rows = []
    for name, vocoder in vocoders.items():
        s = float(np.median(seconds[name]))
        distance = "-" if vocoder is None else f"{log_spectral_distance(audio[name], reference):.4f}"
        rows.append({"variant": name, "RTF": f"{s / audio_s:.3f}", "vs Griffin-Lim": f"{s / gl_s:.2f}x",
                     "log-spectral distance vs fp32 (nats)": distance})
    rows.append(piper_row(gl_s))
    return rows


def piper_row(gl_s: float) -> dict:
    from training.engines import _piper_voice
    voice = _piper_voice()
    list(voice.synthesize("Warm up."))
    seconds, audio_s = 0.0, 0.0
    for name, text in TEXTS.items():
        if name != "medium":
            continue
        chunks, s = timed_call(lambda t: list(voice.synthesize(t)), text)
        seconds += s
        audio_s += sum(len(c.audio_float_array) for c in chunks) / chunks[0].sample_rate
    return {"variant": "piper joe-medium, whole TTS text -> audio (22.05 kHz, reference point)",
            "RTF": f"{seconds / audio_s:.3f}", "vs Griffin-Lim": f"{seconds / gl_s:.2f}x (own audio length)",
            "log-spectral distance vs fp32 (nats)": "-"}


def write_section(rows: list[dict], out: Path, load: str) -> str:
    text = (f"{SECTION}\n\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
            f"load average at start {load} (the machine is shared with other jobs: read the ratios, not the "
            "absolute RTFs). Sentence: bench/rtf.py's medium text, the default synthesizer's mels in "
            "the tests/data/ref_slt.wav voice. RTF = compute s / audio s, the median of the rounds (each round times "
            "every variant in turn). `python -m bench.vocoder_speed`.\n\n"
            + table(rows, list(rows[0])) + "\n")
    replace_section(out, SECTION, text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5, help="rounds; each variant's median is reported")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = ap.parse_args(argv)
    load = open("/proc/loadavg").read().split()[0]
    print(write_section(run(str(ROOT / "tests" / "data" / "ref_slt.wav"), args.threads, args.repeats), args.out, load))


if __name__ == "__main__":
    main()
