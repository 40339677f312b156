"""Static int8 for HiFi-GAN's second upsampling stage (HIFIGAN_PRECISION=int8; universal's default).

The generator's time is its resblock convs; stage 2's (128 channels at 64x the frame rate) are the largest share
and the ones int8 hurts least (INT8_BLOCKS). In 256-frame chunks on OpenVINO, 2 cores: RTF 0.264 against fp32's
0.324 (1.23x; another alternating run, 0.254 vs 0.326). Quantizing more bought speed at a cost in DNSMOS on the
80-clip real-voice probe (paired against fp32): stages 1-3 1.6x, -0.065 to -0.094 with two calibration sets
(-0.016 with a third, 16 crops: stage 1's and 3's ranges depend on the set); stages 2-3 1.37x, -0.034.

The quantized graph is made once from the fp32 ONNX export: activation ranges from calibration mels shipped in
models/ (our synthesizer's mels of LibriSpeech train-clean-100 speakers, none of the evaluation's), through the
served post-filter and adapter. It is cached beside the export under a key of the export, the calibration inputs
and the blocks. 7-bit weights (reduce_range) keep CPUs without VNNI from saturating their u8 x s8 products, so
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
# The resblocks whose convs run in int8, as (upsampling stage, kernel branch): stage 2's three. Per stage alone
# (MinMax, log-spectral distance from fp32 on 8 held-out clips) stage 1 cost 0.151 nats, stage 2 0.053, stage 3
# 0.101, stage 4 0.610; on the 80-clip real-voice probe (percentile ranges of the shipped calibration) stage 2
# alone left DNSMOS, WER and cosine where fp32 has them (paired: +0.000 [-0.011, +0.012], -0.001, -0.002) for
# 1.23x fp32's speed; adding stage 3 (1.37x), or only its kernel-11 branch, cost DNSMOS 0.034-0.035.
INT8_BLOCKS = ((2, 0), (2, 1), (2, 2))
# Ranges at the 99.999th percentile of each activation, from 128-frame crops (the percentile calibrator needs one
# shape): against MinMax ranges, log-spectral distance from fp32 0.166 vs 0.207 nats (8 held-out clips).
CROP_FRAMES = 128
PERCENTILE = 99.999
# crops per ORT collect_data call (int8_graph's Reader); the crops past the last whole stride are left out
CALIBRATION_STRIDE = 8


def calibration_mels(path: Path = CALIBRATION_MELS) -> list[np.ndarray]:
    """The shipped (80, T) RTVC mels, in file order."""
    with np.load(path) as saved:
        return [saved[k].astype(np.float32) for k in sorted(saved.files)]


def crops(log_mels: Iterable[np.ndarray], frames: int = CROP_FRAMES) -> list[np.ndarray]:
    """(1, 80, frames) pieces of each (80, T) generator log mel, every whole piece."""
    return [np.ascontiguousarray(m[None, :, i:i + frames], dtype=np.float32)
            for m in log_mels for i in range(0, m.shape[1] - frames + 1, frames)]


def block_convs(graph, kernels_per_stage: int, blocks: Iterable[tuple[int, int]]) -> list[str]:
    """Names of the Conv nodes of the resblocks `blocks`, (1-based upsampling stage, 0-based kernel branch), in
    our ONNX export: resblock i is branch i % kernels_per_stage of stage i // kernels_per_stage + 1. A branch the
    generator lacks (lite has one a stage) is skipped."""
    wanted = {(stage - 1) * kernels_per_stage + branch for stage, branch in blocks if branch < kernels_per_stage}
    return [node.name for node in graph.graph.node if node.op_type == "Conv" and "/resblocks." in node.name
            and int(node.name.split("/resblocks.")[1].split("/")[0]) in wanted]


def ranges_key(fp32_path: Path, mel_sharpen: float, blocks: tuple[tuple[int, int], ...]) -> str:
    """What the activation ranges depend on: the export (its name holds the weights' checksum and torch's
    version), the calibration mels, the post-filter they pass through and the blocks; the same on every CPU."""
    text = f"{fp32_path.name}|{file_sha256(CALIBRATION_MELS)}|{mel_sharpen!r}|{blocks}|p{PERCENTILE}|c{CROP_FRAMES}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ranges_name(key: str) -> str:
    """The activation ranges' file name, shipped in RANGES_DIR or measured into the graph cache."""
    return f"hifigan_int8_ranges-{key}.json"


def int8_graph(fp32_path: Path, prepare: Callable[[np.ndarray], np.ndarray], kernels_per_stage: int,
               mel_sharpen: float, blocks: tuple[tuple[int, int], ...] = INT8_BLOCKS) -> Path:
    """The QDQ int8 graph of `fp32_path` beside it, made on first use and written atomically (concurrent starts
    are safe). Its activation ranges are the shipped file for this key where there is one (a second's work);
    otherwise they are measured on the calibration mels through `prepare` (RTVC mel -> generator log mel; on 2
    cores about 15 minutes for V1, 3 for lite) and kept beside the graph."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    key = ranges_key(fp32_path, mel_sharpen, blocks)
    path = fp32_path.with_name(f"{fp32_path.stem}-int8-{key}.onnx")
    if path.exists():
        return path
    shipped = RANGES_DIR / ranges_name(key)
    ranges = shipped if shipped.is_file() else fp32_path.with_name(ranges_name(key))

    class Reader(CalibrationDataReader):   # read only where no ranges file exists
        """The calibration crops, a stride at a time: ORT keeps every activation of what one collect_data call
        reads until it folds them into its histograms: 128 mels' crops at once took 24 GiB and the OOM killer;
        8 at a time, 6.2 GiB at most."""
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

    nodes = block_convs(onnx.load(str(fp32_path)), kernels_per_stage, blocks)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    quantize_static(str(fp32_path), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_quantize=nodes, calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"CalibPercentile": PERCENTILE, "CalibStridedMinMax": CALIBRATION_STRIDE},
                    calibration_cache_path=str(ranges))
    os.replace(tmp, path)
    return path
