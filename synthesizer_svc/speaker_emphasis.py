"""Speaker emphasis: move a voice's GE2E embedding away from the mean of many real speakers before synthesis.

    e' = normalize(mean + factor * (e - mean))

An unseen speaker's embedding sits closer to the crowd than the synthesizer can render it: the shipped model
learned speakers from few real voices, and its clones come out nearer the average voice than the reference
(GE2E cosine clone vs speaker 0.68 on the real held-out voices). Scaling the part of the embedding that
tells this speaker from the crowd asks for more of what is theirs. factor 1 is the embedding unchanged
(RTVC's behaviour, bit for bit); 0 is the mean voice. The mean (`models/speaker_mean.npy`) is that of
251 LibriSpeech train-clean-100 speakers (training.speaker_mean), a property of the GE2E space, not of
one synthesizer.
"""
import os

import numpy as np

from common.checkpoints import file_sha256


def load_speaker_mean(path: str, size: int) -> np.ndarray:
    """The (size,) float32 mean; a missing or malformed file stops start-up naming the setting."""
    if not os.path.exists(path):
        raise RuntimeError(f"speaker mean not found: {path} (set SYNTHESIZER_SPEAKER_MEAN)")
    mean = np.load(path, allow_pickle=False)
    if mean.shape != (size,) or not np.all(np.isfinite(mean)) or not 0 < np.linalg.norm(mean) < 1:
        raise RuntimeError(f"{path}: expected {size} finite values of norm in (0, 1) (a mean of unit vectors), "
                           f"got shape {mean.shape}")
    return mean.astype(np.float32)


def mean_info(path: str) -> dict:
    return {"file": os.path.basename(path), "sha256": file_sha256(path)}


def emphasize(embeddings: np.ndarray, mean: np.ndarray, factor: float) -> np.ndarray:
    """(N, D) unit-norm embeddings -> the same with their difference from `mean` scaled by `factor`, unit-norm
    again. factor 1 returns the input itself; a row whose result would vanish is left as it was."""
    if factor == 1.0:
        return embeddings
    moved = mean + factor * (embeddings - mean)
    norms = np.linalg.norm(moved, axis=-1, keepdims=True)
    return np.where(norms > 1e-6, moved / np.maximum(norms, 1e-6), embeddings).astype(np.float32)
