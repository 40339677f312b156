"""Spectrum restore: the clear words of a low speaker emphasis, with the voice's long-term spectrum given back.

Below 1, speaker emphasis (synthesizer_svc.speaker_emphasis) makes clones more intelligible and less like the
speaker. Much of the likeness it takes is the voice's long-term spectrum: per mel band, the mean over the
frames that carry speech. So after synthesis at factor f < 1, each sentence's speech frames are moved by that
spectrum's difference between factor 1 (the embedding as given) and factor f. The difference is a property of
the voice, not of the text: it is measured once per voice, on three fixed calibration sentences synthesized at
both factors (one seeded batch of 6, each sentence cut at CALIBRATION_MAX_FRAMES: 0.23 s on 2 cores), and kept
in a small cache, so a voice's later requests cost nothing more (a batch request with several new voices pays
once for each). Silences are left at the floor (the move is weighted by a soft speech mask).

Measured in process on 8 held-out real speakers, seeded mels, HiFi-GAN universal + 1.5 (models/README.md "Clear
words from a low speaker emphasis, the voice's spectrum moved back"): the evaluation's 10 sentences / 5
held-out sentences that no choice was made on, DNSMOS, Whisper WER, GE2E cosine, nearest-own:

    factor 0.7, no restore (the default before)   2.78 / 0.349 / 0.659 / 66%     2.79 / 0.266 / 0.661 / 70%
    factor 0.55, no restore                       2.82 / 0.297 / 0.643 / 61%     2.80 / 0.211 / 0.648 / 62%
    factor 0.55, restored (weight 1)              2.77 / 0.300 / 0.653 / 70%     2.76 / 0.211 / 0.660 / 78%

The same move computed from the same sentence at factor 1 (1.4x the synthesis) scored alike (2.78 / 0.297 /
0.655 / 68% and 2.75 / 0.220 / 0.666 / 78%); a ridge map from the embedding to the difference, fitted on 251
LibriSpeech training speakers (no extra synthesis), explained a quarter of it and gave back less likeness.
Through the stack (80 clips, side by side with the earlier default): WER 0.356 -> 0.296, cosine 0.659 -> 0.651,
nearest-own 66 -> 70%, DNSMOS 2.80 -> 2.78.
"""
import hashlib
from collections import OrderedDict

import numpy as np
import torch

from common import audio
from synthesizer_svc.inference import SynthResult, synthesize
from synthesizer_svc.model import Tacotron

# Three sentences from the fortune corpus that are in neither real-voice sentence set; seeded, so a voice's
# difference (and with it every seeded request's mel) is the same on every server.
CALIBRATION_SENTENCES = (
    "Those who have had no share in the good fortunes of the mighty Often have a share in their misfortunes.",
    "I hope I don't get run over again.",
    "Is this how God came into being?",
)
CALIBRATION_SEED = 1000
# Each calibration sentence is spoken for at most this many frames (1.9 s). The batch decodes until its longest
# sentence ends, and the first one runs 412 frames against the others' ~146: capped, a new voice's calibration
# took 0.23 s instead of 0.44 s on 2 cores (12 training voices, median), and its difference moved by 0.020 on
# average against the whole sentences' (the same sentences at another seed differ by 0.044; the differences
# themselves average 0.156).
CALIBRATION_MAX_FRAMES = 150
SPEECH_QUANTILE = 0.3   # frames whose mean level is above this quantile of the sentence's count as speech
SOFTNESS = 0.25         # width of the speech mask's edge, in the mel's normalized units ([-4, 4])

# sha256 of a synthesizer checkpoint -> its restore weight, chosen with its speaker-emphasis factor
# (speaker_emphasis.TUNED_FACTORS) on the real-voice evaluation; a checkpoint without one is not restored.
TUNED_WEIGHTS = {
    "a5a3414eda2ef3523edf15de9248a44834b001994c3d44d38723c052055f2538": 1.0,   # models/synthesizer.pt, at 0.55
}
SOURCE_SETTING, SOURCE_TUNED, SOURCE_UNTUNED = "SYNTHESIZER_SPECTRUM_RESTORE", "tuned", "untuned"


def default_weight(setting: float | None, checkpoint_sha256: str) -> tuple[float, str]:
    """(the restore weight, where it comes from): the operator's setting, else the checkpoint's tuned weight,
    else 0 (off)."""
    if setting is not None:
        return float(setting), SOURCE_SETTING
    if checkpoint_sha256 in TUNED_WEIGHTS:
        return TUNED_WEIGHTS[checkpoint_sha256], SOURCE_TUNED
    return 0.0, SOURCE_UNTUNED


def speech_frames(mel: np.ndarray) -> np.ndarray:
    level = mel.mean(axis=0)
    return level > np.quantile(level, SPEECH_QUANTILE)


def speech_spectrum(mels: list[np.ndarray]) -> np.ndarray:
    """(n_mels,): per band, the mean over speech frames, averaged over the sentences."""
    return np.mean([m[:, speech_frames(m)].mean(axis=1) for m in mels], axis=0)


def speech_weight(mel: np.ndarray) -> np.ndarray:
    """(T,) in (0, 1): ~1 on speech frames, ~0 on silences, so a silence is not lifted off the floor."""
    level = mel.mean(axis=0)
    return 1.0 / (1.0 + np.exp(-(level - np.quantile(level, SPEECH_QUANTILE)) / SOFTNESS))


def restore(mel: np.ndarray, shift: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """`mel` (n_mels, T) with `weight` x `shift` (n_mels,) added to its speech frames, kept in the mel's range."""
    if mel.shape[1] == 0:
        return mel
    moved = mel + weight * speech_weight(mel)[None, :] * shift[:, None]
    return np.clip(moved, -audio.HP.max_abs_value, audio.HP.max_abs_value).astype(np.float32)


def applied_weight(weight: float, factor: float) -> float:
    """The weight a synthesis at `factor` gets: only below 1, where emphasis took likeness away (above 1 the
    move would undo what was asked for)."""
    return weight if factor < 1.0 else 0.0


def calibrate(model: Tacotron, given: np.ndarray, emphasized: np.ndarray, **synthesize_args) -> np.ndarray:
    """The voice's speech spectrum at factor 1 minus at its emphasized factor, (n_mels,): `model` speaks the
    calibration sentences with both embeddings in one batch (`synthesize_args` go to inference.synthesize).
    Its seed is set in a forked RNG, so the pre-net noise of the requests around it is neither drawn from nor
    reset. Each sentence stops at CALIBRATION_MAX_FRAMES (or a smaller `max_frames`)."""
    n = len(CALIBRATION_SENTENCES)
    cap = min(synthesize_args.pop("max_frames", CALIBRATION_MAX_FRAMES) or CALIBRATION_MAX_FRAMES,
              CALIBRATION_MAX_FRAMES)
    with torch.random.fork_rng(devices=[]):
        mels = synthesize(model, list(CALIBRATION_SENTENCES) * 2,
                          np.concatenate([np.repeat(given[None], n, 0), np.repeat(emphasized[None], n, 0)]),
                          seed=CALIBRATION_SEED, max_frames=cap, **synthesize_args).mels
    return (speech_spectrum(mels[:n]) - speech_spectrum(mels[n:])).astype(np.float32)


def synthesize_restored(model: Tacotron, texts: list[str], given: np.ndarray, emphasized: np.ndarray, weight: float,
                        **synthesize_args) -> SynthResult:
    """In process, as the service speaks one voice: `texts` with the `emphasized` embedding, each mel given back
    `weight` x the voice's difference (calibrate; 0: none). For training and evaluation, which need no cache."""
    res = synthesize(model, texts, np.repeat(emphasized[None], len(texts), 0), **synthesize_args)
    if weight:
        frames = {k: v for k, v in synthesize_args.items() if k == "max_frames"}
        shift = calibrate(model, given, emphasized, **frames)
        res.mels = [restore(m, shift, weight) for m in res.mels]
    return res


class ShiftCache:
    """Least recently used voice -> difference; keyed by the embedding's bytes with the checkpoint's accent and
    the factor, so the same voice at another factor or accent is measured on its own."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    @staticmethod
    def key(accent: str, factor: float, embedding: np.ndarray) -> str:
        data = np.ascontiguousarray(embedding, dtype=np.float32).tobytes()
        return f"{accent}|{factor!r}|" + hashlib.sha256(data).hexdigest()

    def get(self, key: str) -> np.ndarray | None:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: str, shift: np.ndarray) -> None:
        self.items[key] = shift
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)
