"""JSON lists vs the compact base64 form for a 10 s reference and its mel: bytes and encode+decode time."""
import json
import time

import numpy as np
import soundfile as sf

from common import audio
from common.wire import CompactArray, decode_array, encode_array


def _roundtrip(arr: np.ndarray, compact: bool, repeat: int = 5) -> tuple[int, float]:
    start = time.perf_counter()
    for _ in range(repeat):
        body = json.dumps({"a": encode_array(arr, compact)})
        value = json.loads(body)["a"]
        decode_array(CompactArray(**value) if compact else value, "a", ndim=(arr.ndim,))
    return len(body), (time.perf_counter() - start) / repeat


def run(reference_wav: str) -> list[dict]:
    wav, sr = sf.read(reference_wav, dtype="float32")
    ten_s = np.tile(wav, int(np.ceil(10 * sr / len(wav))))[: 10 * sr]
    rows = []
    for name, arr in (("10 s reference (160000,)", ten_s), ("its mel (80, 801)", audio.melspectrogram(ten_s))):
        b_json, t_json = _roundtrip(arr, False)
        b_comp, t_comp = _roundtrip(arr, True)
        rows.append({"payload": name, "JSON bytes": b_json, "compact bytes": b_comp,
                     "size ratio": f"{b_json / b_comp:.2f}x", "JSON enc+dec ms": f"{t_json * 1e3:.1f}",
                     "compact enc+dec ms": f"{t_comp * 1e3:.1f}", "time ratio": f"{t_json / t_comp:.1f}x"})
    return rows
