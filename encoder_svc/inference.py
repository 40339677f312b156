"""wav -> speaker embedding, the way RTVC's `embed_utterance` computes it."""
from dataclasses import dataclass

import numpy as np
import torch

from common import speaker_audio
from common.checkpoints import config_from, read_checkpoint
from common.stage_results import SpeakerEmbedding
from encoder_svc.model import EncoderConfig, SpeakerEncoder


def default_encoder_checkpoint() -> str:
    """resemblyzer ships GE2E weights byte-identical in layout to RTVC's encoder.pt; no download needed."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("resemblyzer is not installed and ENCODER_CHECKPOINT is not set")
    return str(Path(spec.origin).parent / "pretrained.pt")


def config_from_state(state: dict) -> EncoderConfig:
    """RTVC's encoder files carry no hyper-parameters, but every size is readable off the weight shapes."""
    layers = sum(1 for k in state if k.startswith("lstm.weight_ih_l"))
    mel_channels = state["lstm.weight_ih_l0"].shape[1]
    hidden, embedding = state["linear.weight"].shape[1], state["linear.weight"].shape[0]
    return EncoderConfig(mel_channels=mel_channels, hidden_size=hidden, num_layers=layers, embedding_size=embedding)


def load_encoder(path: str | None = None, hparams: dict | None = None) -> SpeakerEncoder:
    state, stored = read_checkpoint(path or default_encoder_checkpoint())
    hparams = hparams or stored
    model = SpeakerEncoder(config_from(EncoderConfig, hparams) if hparams else config_from_state(state))
    model.load_state_dict(state, strict=True)
    return model.eval()


@dataclass
class Embedding:
    embedding: np.ndarray            # (256,) unit norm
    partials: np.ndarray | None      # (n, 256)
    wav_slices: list[tuple[int, int]] | None


@torch.no_grad()
def embed_frames(model: SpeakerEncoder, frames: np.ndarray) -> np.ndarray:
    return model(torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))).numpy()


def embed_utterance(model: SpeakerEncoder, wav: np.ndarray, using_partials: bool = True) -> Embedding:
    """Embedding of a preprocessed 16 kHz wav: mean of 1.6 s partial embeddings, re-normalised."""
    if not using_partials:
        return Embedding(embed_frames(model, speaker_audio.wav_to_mel(wav)[None])[0], None, None)
    slices = speaker_audio.partial_slices(len(wav))
    needed = slices.wav[-1][1]
    if needed >= len(wav):
        wav = np.pad(wav, (0, needed - len(wav)))
    mel = speaker_audio.wav_to_mel(wav)
    partials = embed_frames(model, np.stack([mel[a:b] for a, b in slices.mel]))
    raw = partials.mean(axis=0)
    return Embedding(raw / np.linalg.norm(raw, 2), partials, slices.wav)


MIN_SPEECH_SAMPLES = speaker_audio.SAMPLE_RATE // 10


def embed_reference(model: SpeakerEncoder, wav16k: np.ndarray, preprocess: bool = True) -> SpeakerEmbedding:
    """Embedding of a 16 kHz reference, VAD-trimmed first when `preprocess`.

    When the VAD finds (almost) no speech, the untrimmed audio is embedded rather than failing."""
    trimmed, duration_s = False, len(wav16k) / speaker_audio.SAMPLE_RATE
    if preprocess:
        wav = speaker_audio.preprocess_wav(wav16k)
        trimmed = len(wav) >= MIN_SPEECH_SAMPLES
        wav16k = wav if trimmed else speaker_audio.normalize_volume(wav16k)
    utterance = embed_utterance(model, wav16k.astype(np.float32))
    return SpeakerEmbedding(utterance.embedding, trimmed, duration_s, utterance.partials)
