"""Static int8 for HiFi-GAN's first three upsampling stages (HIFIGAN_PRECISION=int8; opt-in, not a default yet).

The generator's time is its resblock convs, and those of the last stage (32 channels at 22.05 kHz) are the ones
int8 hurts. Measured on V1 universal, one conv set quantized at a time (per-channel 7-bit weights, uint8
activations, MinMax ranges; log-spectral distance from fp32 on 8 held-out clips): stage 1 0.151 nats, stage 2
0.053, stage 3 0.101, stage 4 0.610 for almost no time. Stages 1-3 together: 0.207, and 1.61x fp32's speed in the
service's 256-frame chunks on OpenVINO (RTF 0.190 vs 0.306; 2-3 only: 1.30x). On the real-voice probe (80 clips)
cosine and WER stayed fp32's; DNSMOS fell 0.016 [-0.036, +0.005] with percentile ranges from 128-frame crops of
an earlier calibration set, but 0.094 (2.704 vs 2.798) with the ranges from the calibration file shipped here.

The quantized graph is made once from the fp32 ONNX export: activation ranges from calibration mels shipped in
models/ (our synthesizer's mels of LibriSpeech train-clean-100 speakers, none of the evaluation's), through the
served post-filter and adapter. It is cached beside the export under a key of the export, the calibration inputs
and the stages. 7-bit weights (reduce_range) keep CPUs without VNNI from saturating their u8 x s8 products, so
the int8 graph's numbers stay close to fp32's on any x86-64 CPU, though not bit-equal between them.
"""
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from common.checkpoints import file_sha256
from common.paths import MODELS

CALIBRATION_MELS = MODELS / "hifigan_int8_calibration.npz"   # training.hifigan_int8_calibration writes it
RANGES_DIR = MODELS            # shipped activation ranges, hifigan_int8_ranges-KEY.json, for the default voice
INT8_STAGES = (1, 2, 3)
# Ranges at the 99.999th percentile of each activation, from 128-frame crops (the percentile calibrator needs one
# shape): against MinMax ranges, log-spectral distance from fp32 0.166 vs 0.207 nats (8 held-out clips).
CROP_FRAMES = 128
PERCENTILE = 99.999
CALIBRATION_STRIDE = 8   # crops per ORT collect_data call (see int8_graph's Reader); crops past a multiple are left out


def calibration_mels(path: Path = CALIBRATION_MELS) -> list[np.ndarray]:
    """The shipped (80, T) RTVC mels, in file order."""
    with np.load(path) as saved:
        return [saved[k].astype(np.float32) for k in sorted(saved.files)]


def crops(log_mels: Iterable[np.ndarray], frames: int = CROP_FRAMES) -> list[np.ndarray]:
    """(1, 80, frames) pieces of each (80, T) generator log mel, every whole piece."""
    return [np.ascontiguousarray(m[None, :, i:i + frames], dtype=np.float32)
            for m in log_mels for i in range(0, m.shape[1] - frames + 1, frames)]


def stage_convs(graph, kernels_per_stage: int, stages: Iterable[int]) -> list[str]:
    """Names of the resblock Conv nodes of the 1-based upsampling `stages` in our ONNX export (resblock i
    belongs to stage i // kernels_per_stage + 1)."""
    wanted = set(stages)
    names = []
    for node in graph.graph.node:
        if node.op_type == "Conv" and "/resblocks." in node.name:
            block = int(node.name.split("/resblocks.")[1].split("/")[0])
            if block // kernels_per_stage + 1 in wanted:
                names.append(node.name)
    return names


def ranges_key(fp32_path: Path, mel_sharpen: float, stages: tuple[int, ...]) -> str:
    """What the activation ranges depend on: the export (its name holds the weights' checksum and torch's
    version), the calibration mels, the post-filter they pass through and the stages; the same on every CPU."""
    text = f"{fp32_path.name}|{file_sha256(CALIBRATION_MELS)}|{mel_sharpen!r}|{stages}|p{PERCENTILE}|c{CROP_FRAMES}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ranges_name(key: str) -> str:
    """The activation ranges' file name, shipped in RANGES_DIR or measured into the graph cache."""
    return f"hifigan_int8_ranges-{key}.json"


def int8_graph(fp32_path: Path, prepare: Callable[[np.ndarray], np.ndarray], kernels_per_stage: int,
               mel_sharpen: float, stages: tuple[int, ...] = INT8_STAGES) -> Path:
    """The QDQ int8 graph of `fp32_path` beside it, made on first use and written atomically (concurrent starts
    are safe). Its activation ranges are the shipped file for this key where there is one (a second's work);
    otherwise they are measured on the calibration mels through `prepare` (RTVC mel -> generator log mel; a few
    minutes on 2 cores) and kept beside the graph."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    key = ranges_key(fp32_path, mel_sharpen, stages)
    path = fp32_path.with_name(f"{fp32_path.stem}-int8-{key}.onnx")
    if path.exists():
        return path
    shipped = RANGES_DIR / ranges_name(key)
    ranges = shipped if shipped.is_file() else fp32_path.with_name(ranges_name(key))

    class Reader(CalibrationDataReader):   # read only where no ranges file exists
        """The calibration crops, a stride at a time: ORT keeps every activation of what one collect_data call
        reads until it folds them into its histograms, and 128 mels' crops at once took 24 GiB and the OOM killer."""
        def __init__(self):
            self.feeds, self.range = None, (0, 0)

        def all_crops(self) -> list[np.ndarray]:
            if self.feeds is None:
                found = crops(prepare(mel) for mel in calibration_mels(CALIBRATION_MELS))
                self.feeds = found[:max(CALIBRATION_STRIDE, len(found) - len(found) % CALIBRATION_STRIDE)]
            return self.feeds

        def __len__(self):
            return len(self.all_crops())

        def set_range(self, start_index: int, end_index: int):
            self.range = (start_index, end_index)

        def get_next(self):
            start, end = self.range
            if start >= end:
                return None
            self.range = (start + 1, end)
            return {"mel": self.all_crops()[start]}

    nodes = stage_convs(onnx.load(str(fp32_path)), kernels_per_stage, stages)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    quantize_static(str(fp32_path), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_quantize=nodes, calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"CalibPercentile": PERCENTILE, "CalibStridedMinMax": CALIBRATION_STRIDE}, calibration_cache_path=str(ranges))
    os.replace(tmp, path)
    return path
