"""Virtual speakers: WORLD-vocoder pitch scaling and spectral-envelope (formant) warping with pyworld."""
import warnings
from dataclasses import dataclass

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pyworld


@dataclass(frozen=True)
class VoiceWarp:
    f0_scale: float     # 1.0 keeps the pitch
    formant_scale: float  # >1 raises formants (shorter vocal tract), <1 lowers them


def random_warp(rng: np.random.RandomState) -> VoiceWarp:
    # Pitch and formants move together in real voices, loosely: correlated draws give plausible speakers.
    base = rng.uniform(-1, 1)
    f0 = float(2 ** (0.55 * base + rng.uniform(-0.2, 0.2)))
    formant = float(1 + 0.12 * base + rng.uniform(-0.05, 0.05))
    return VoiceWarp(f0_scale=f0, formant_scale=formant)


def _warp_envelope(sp: np.ndarray, alpha: float) -> np.ndarray:
    bins = sp.shape[1]
    src = np.clip(np.arange(bins) / alpha, 0, bins - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    frac = src - lo
    return sp[:, lo] * (1 - frac) + sp[:, hi] * frac


def apply_warp(wav: np.ndarray, sr: int, warp: VoiceWarp) -> np.ndarray:
    x = np.ascontiguousarray(wav, dtype=np.float64)
    f0, t = pyworld.dio(x, sr, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, t, sr)
    sp = pyworld.cheaptrick(x, f0, t, sr)
    ap = pyworld.d4c(x, f0, t, sr)
    sp = np.ascontiguousarray(_warp_envelope(sp, warp.formant_scale))
    y = pyworld.synthesize(np.ascontiguousarray(f0 * warp.f0_scale), sp, ap, sr, frame_period=5.0)
    peak = np.abs(y).max()
    return (y * (np.abs(x).max() / peak) if peak > 0 else y).astype(np.float32)  # keep the source's level
