"""The loaded Tacotrons (the default and one per configured accent) and the checks a request passes before
them (synthesizer_svc.work runs the synthesis)."""
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from common.accents import AUTO, served_accents
from common.batching import MicroBatcher
from common.checkpoints import file_sha256
from common.errors import APIError, bad_request
from common.metrics import MODEL_LOAD
from common.text import english_cleaners, unspeakable_reason
from common.wire import check_embedding_range
from synthesizer_svc.inference import load_synthesizer
from synthesizer_svc.model import Tacotron
from synthesizer_svc.settings import SynthesizerSettings
from synthesizer_svc.speaker_emphasis import default_factor, emphasize, load_speaker_mean, mean_info
from synthesizer_svc.spectrum_restore import CALIBRATION_SENTENCES, ShiftCache, applied_weight, default_weight


@dataclass
class SynthesizerRuntime:
    settings: SynthesizerSettings
    model: Tacotron                 # SYNTHESIZER_CHECKPOINT's: accent `auto`
    info: dict
    accents: dict[str, Tacotron] = field(default_factory=dict)   # named accent -> its checkpoint's model
    speaker_mean: np.ndarray | None = None   # SYNTHESIZER_SPEAKER_MEAN's, for speaker emphasis
    # accent -> its checkpoint's default factor (speaker_emphasis.default_factor), for requests that give none
    default_emphasis: dict[str, float] = field(default_factory=dict)
    # accent -> its checkpoint's spectrum restore weight (spectrum_restore.default_weight), 0: off
    restore_weight: dict[str, float] = field(default_factory=dict)
    shifts: ShiftCache = field(default_factory=lambda: ShiftCache(0), repr=False)
    batcher: MicroBatcher | None = field(default=None, repr=False)

    def model_for(self, accent: str) -> Tacotron:
        """The model that speaks `accent`: 422 accent_unavailable when no checkpoint was configured for it."""
        if accent == AUTO:
            return self.model
        if accent not in self.accents:
            raise APIError(422, "accent_unavailable",
                           f"accent: no checkpoint for {accent!r} on this synthesizer (SYNTHESIZER_ACCENT_CHECKPOINTS); "
                           f"available: {', '.join(served_accents(self.accents))}")
        return self.accents[accent]

    def factor_for(self, factor: float | None, accent: str = AUTO) -> float:
        """The speaker-emphasis factor a request gets: its own, else the default of `accent`'s checkpoint.
        422 where it is not 1 and this synthesizer has no speaker mean to move from."""
        factor = self.default_emphasis.get(accent, 1.0) if factor is None else float(factor)
        if factor != 1.0 and self.speaker_mean is None:
            raise APIError(422, "speaker_emphasis_unavailable",
                           "speaker_emphasis: this synthesizer has no speaker mean (SYNTHESIZER_SPEAKER_MEAN)")
        return factor

    def emphasize(self, embeddings: np.ndarray, factor: float) -> np.ndarray:
        """A resolved factor (factor_for) applied to validated (N, D) embeddings."""
        return embeddings if factor == 1.0 else emphasize(embeddings, self.speaker_mean, factor)

    def restore_weight_for(self, factor: float, accent: str = AUTO) -> float:
        """How much of the voice's spectrum is given back after synthesis at `factor` (spectrum_restore.applied_weight)."""
        return applied_weight(self.restore_weight.get(accent, 0.0), factor)


def load_checkpoint(path: str, setting: str) -> tuple[Tacotron, dict]:
    """(the model, what /v1/info says of its file): the file's name and checksum, never its path, since
    /v1/info must not map the server's file system."""
    if not os.path.exists(path):
        raise RuntimeError(f"synthesizer checkpoint not found: {path} (set {setting})")
    return load_synthesizer(path), {"checkpoint": os.path.basename(path), "sha256": file_sha256(path)}


def load_accents(settings: SynthesizerSettings, default: Tacotron) -> tuple[dict[str, Tacotron], dict[str, dict]]:
    """Each SYNTHESIZER_ACCENT_CHECKPOINTS entry loaded like the default checkpoint. Its mels go to the same
    vocoder and its requests bring the same GE2E embeddings, so a checkpoint with other mel bands or embedding
    size stops start-up here rather than failing (or mumbling) at its first request; `r` may differ."""
    models, files = {}, {}
    for accent, path in settings.accent_checkpoints().items():
        model, files[accent] = load_checkpoint(path, "SYNTHESIZER_ACCENT_CHECKPOINTS")
        for name in ("n_mels", "speaker_embedding_size"):
            if getattr(model.cfg, name) != getattr(default.cfg, name):
                raise RuntimeError(f"{accent} checkpoint {path}: {name} {getattr(model.cfg, name)}, the default "
                                   f"checkpoint's is {getattr(default.cfg, name)}")
        models[accent] = model
    return models, files


def load_runtime(settings: SynthesizerSettings) -> SynthesizerRuntime:
    start = time.perf_counter()
    model, default_file = load_checkpoint(settings.synthesizer_checkpoint, "SYNTHESIZER_CHECKPOINT")
    accents, accent_files = load_accents(settings, model)
    english_cleaners("1")  # loads inflect now rather than in the first request
    files = {AUTO: default_file, **accent_files}
    resolved = {a: default_factor(settings.synthesizer_speaker_emphasis, f["sha256"]) for a, f in files.items()}
    emphasis = {a: factor for a, (factor, _) in resolved.items()}
    restores = {a: default_weight(settings.synthesizer_spectrum_restore, f["sha256"]) for a, f in files.items()}
    weights = {a: weight for a, (weight, _) in restores.items()}
    mean, mean_file = None, None
    if any(f != 1.0 for f in emphasis.values()) or os.path.exists(settings.synthesizer_speaker_mean):
        mean = load_speaker_mean(settings.synthesizer_speaker_mean, model.cfg.speaker_embedding_size)
        mean_file = mean_info(settings.synthesizer_speaker_mean)
    MODEL_LOAD.labels("synthesizer", "tacotron").set(time.perf_counter() - start)
    info = {"model": "tacotron-sv2tts", **default_file, "hparams": asdict(model.cfg), "r": model.r,
            "step": int(model.step), "sample_rate": 16000, "hop_length": 200,
            "accents": {a: {**f, "speaker_emphasis": emphasis[a], "spectrum_restore": weights[a]}
                        for a, f in files.items()},
            "speaker_emphasis": {"default": emphasis[AUTO], "source": resolved[AUTO][1], "mean": mean_file},
            "spectrum_restore": {"weight": weights[AUTO], "source": restores[AUTO][1], "applies": "below factor 1",
                                 "calibration_sentences": len(CALIBRATION_SENTENCES)}}
    return SynthesizerRuntime(settings, model, info, accents, mean, default_emphasis=emphasis, restore_weight=weights,
                              shifts=ShiftCache(settings.spectrum_restore_cache))


def validate_inputs(settings: SynthesizerSettings, texts: list[str], embeddings: np.ndarray, emb_size: int):
    if not texts:
        raise bad_request("text: give at least one text")
    if len(texts) > settings.max_batch_texts:
        raise APIError(413, "too_many_texts", f"text: at most {settings.max_batch_texts} texts per request")
    for i, t in enumerate(texts):
        if len(t) > settings.max_text_chars:
            raise APIError(413, "text_too_long",
                           f"text[{i}]: {len(t)} characters exceed the {settings.max_text_chars} limit")
        if reason := unspeakable_reason(t):
            raise bad_request(f"text[{i}]: {reason}")
    if embeddings.shape[-1] != emb_size:
        raise bad_request(f"embedding: expected {emb_size} values per speaker, got {embeddings.shape[-1]}")
    check_embedding_range(embeddings)
    if embeddings.ndim == 2 and embeddings.shape[0] not in (1, len(texts)):
        raise bad_request(f"embedding: {embeddings.shape[0]} embeddings for {len(texts)} texts")
    return np.broadcast_to(embeddings.reshape(-1, emb_size), (len(texts), emb_size)).copy()
