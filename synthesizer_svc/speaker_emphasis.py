"""Speaker emphasis: move a voice's GE2E embedding along its difference from the mean of many real speakers
before synthesis.

    e' = normalize(mean + factor * (e - mean))

factor 1 is the embedding unchanged (RTVC's behaviour, bit for bit); 0 is the mean voice. The mean
(`models/speaker_mean.npy`) is that of 251 LibriSpeech train-clean-100 speakers (training.speaker_mean), a
property of the GE2E space, not of one synthesizer.

Above 1 asks for more of what tells this speaker from the crowd: GE2E cosine rises a little (0.676 -> 0.689
at 2.2 on the real held-out voices) and saturates, while words blur. Below 1 is what pays for the shipped
synthesizer, which learned speakers mostly from synthetic voices: a real voice's embedding lies where its
decoder renders words badly, and pulling it part-way to the mean makes the clone far more intelligible for
little likeness (0.7, 8 real held-out speakers x 10 sentences: Whisper WER 0.422 -> 0.356, DNSMOS 2.75 ->
2.80, cosine 0.668 -> 0.659; models/README.md "Speaker emphasis"; at 0.55 with the spectrum restore,
synthesizer_svc.spectrum_restore, most of the likeness comes back). The effect is in the decoder, not the
attention: pulling only the attention keys' copy of the embedding changes nothing, pulling the rest gives
all of it. So the factor is tuned per checkpoint
(TUNED_FACTORS); a checkpoint without one (RTVC's own, a new fine-tune) is served as given.
"""
import os

import numpy as np

from common.checkpoints import file_sha256

# sha256 of a synthesizer checkpoint -> its default factor, chosen on the real-voice evaluation
# (training.evaluate_real, 8 held-out speakers x 10 sentences, models/README.md "Speaker emphasis").
TUNED_FACTORS = {
    # models/synthesizer.pt, step 57862: 1.0 / 0.85 / 0.7 / 0.55 give WER 0.359 / 0.301 / 0.243 / 0.192,
    # cosine 0.676 / 0.674 / 0.666 / 0.646, nearest-own 72 / 72 / 66 / 62%, DNSMOS 2.72 / 2.78 / 2.80 / 2.82
    # (first 4 sentences, HiFi-GAN universal + 1.5); on the 6 sentences not used to choose, 1.0 -> 0.7:
    # WER 0.477 -> 0.455, cosine 0.662 -> 0.654, DNSMOS 2.77 -> 2.80. 0.7 kept cosine within 0.01 (until
    # 2026-12-07). 0.55 since, with the voice's spectrum given back (spectrum_restore, weight 1): on all 10
    # sentences 0.7 -> 0.55 restored gives WER 0.349 -> 0.300, cosine 0.659 -> 0.653, nearest-own 66 -> 70%,
    # and on 5 held-out sentences WER 0.266 -> 0.211, cosine 0.661 -> 0.660, nearest-own 70 -> 78%.
    "a5a3414eda2ef3523edf15de9248a44834b001994c3d44d38723c052055f2538": 0.55,
}
SOURCE_SETTING, SOURCE_TUNED, SOURCE_UNTUNED = "SYNTHESIZER_SPEAKER_EMPHASIS", "tuned", "untuned"


def default_factor(setting: float | None, checkpoint_sha256: str) -> tuple[float, str]:
    """(the factor a request without `speaker_emphasis` gets, where it comes from): the operator's setting
    when given, else the checkpoint's tuned factor, else 1 (the embedding as given)."""
    if setting is not None:
        return float(setting), SOURCE_SETTING
    if checkpoint_sha256 in TUNED_FACTORS:
        return TUNED_FACTORS[checkpoint_sha256], SOURCE_TUNED
    return 1.0, SOURCE_UNTUNED


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
