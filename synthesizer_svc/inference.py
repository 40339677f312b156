"""text + speaker embedding -> mel spectrograms, with RTVC's batching, padding and trimming."""
from dataclasses import dataclass

import numpy as np
import torch

from common.checkpoints import load_model
from common.stage_results import TextMel
from common.text import text_to_sequence
from synthesizer_svc.model import Tacotron, TacotronConfig

BATCH_SIZE = 16
TRIM_THRESHOLD = -3.4  # hparams.tts_stop_threshold, applied to the last frame's maximum


def load_synthesizer(path: str, hparams: dict | None = None) -> Tacotron:
    """Checkpoints without hparams get RTVC's defaults; r comes from the `decoder.r` buffer."""
    return load_model(path, Tacotron, TacotronConfig, hparams)


@dataclass
class SynthResult:
    mels: list[np.ndarray]          # each (80, T_i) float32
    alignments: list[np.ndarray]    # each (steps_i, T_in_i)
    stopped: list[bool]             # False when the item ran to the frame cap


def trim_silent_tail(mel: np.ndarray, threshold: float = TRIM_THRESHOLD) -> np.ndarray:
    # numpy 1 compared float32 against a float64 threshold; doing it in float64 keeps that behaviour.
    end = mel.shape[1]
    while end > 1 and float(mel[:, end - 1].max()) < threshold:
        end -= 1
    return mel[:, :end]


def pad_sequences(seqs: list[list[int]]) -> torch.Tensor:
    out = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s)
    return out


@torch.no_grad()
def synthesize(model: Tacotron, texts: list[str], embeddings: np.ndarray, max_frames: int = 2000,
               batch_size: int = BATCH_SIZE, seed: int | None = None, cut_at_stop: bool = True,
               rtvc_padding: bool = False) -> SynthResult:
    """With `cut_at_stop`, each item ends where its own stop token fired (RTVC runs every item until the
    whole batch stops, which can append babble to short items); then trailing silent frames are trimmed
    as RTVC does.

    By default every item comes out as it would alone, whatever else shares its batch: its characters are
    encoded unpadded, padding gets no attention, and its postnet sees only its own frames. RTVC's batches
    let padding and batch-mates leak into each item, which costs the shorter sentences intelligibility;
    `rtvc_padding` keeps that behaviour, frame for frame."""
    if seed is not None:
        torch.manual_seed(seed)
    embeddings = np.asarray(embeddings, dtype=np.float32).reshape(len(texts), -1)
    seqs = [text_to_sequence(t.strip()) for t in texts]
    result = SynthResult([], [], [])
    for start in range(0, len(seqs), batch_size):
        batch = seqs[start:start + batch_size]
        chars = pad_sequences(batch)
        spk = torch.from_numpy(embeddings[start:start + batch_size])
        if rtvc_padding:
            _, postnet, attention, stop_logits = model.generate(chars, spk, steps=max_frames)
        else:
            frames, attention, stop_logits = model.decode(chars, spk, steps=max_frames, lengths=list(map(len, batch)))
        r = model.r
        fired = torch.sigmoid(stop_logits) > 0.5
        fired[:, : 10 // r + 1] = False  # the stop rule ignores steps whose frame index t <= 10
        for i in range(chars.size(0)):
            hits = torch.nonzero(fired[i]).flatten()
            steps = int(hits[0]) + 1 if len(hits) and cut_at_stop else stop_logits.size(1)
            if rtvc_padding:
                mel = postnet[i, :, : steps * r]
            else:
                with model.evaluating():
                    mel = model.postnet_mel(frames[i:i + 1, :, : steps * r])[0]
            mel = mel.numpy().astype(np.float32)
            result.mels.append(trim_silent_tail(mel))
            result.alignments.append(attention[i, :steps, :len(batch[i])].numpy())
            result.stopped.append(bool(len(hits)))
    return result


SILENCE_FRAMES = 12  # 0.15 s between sentences, as RTVC's toolbox inserts


def synthesize_texts(model: Tacotron, texts: list[str], embeddings: np.ndarray, split, max_frames: int,
                     seed: int | None = None) -> list[TextMel]:
    """Split each text into sentences, synthesize all sentences as one batch, rejoin per text.

    Returns one TextMel per text, in input order."""
    plan = [split(t) or [t.strip()] for t in texts]
    flat = [s for sentences in plan for s in sentences]
    flat_emb = np.concatenate([np.repeat(embeddings[i:i + 1], len(s), axis=0) for i, s in enumerate(plan)])
    res = synthesize(model, flat, flat_emb, max_frames=max_frames, seed=seed)
    out, k = [], 0
    gap = np.full((model.cfg.n_mels, SILENCE_FRAMES), -4.0, dtype=np.float32)
    for sentences in plan:
        mels = res.mels[k:k + len(sentences)]
        joined = [m for mel in mels for m in (mel, gap)][:-1]
        out.append(TextMel(np.concatenate(joined, axis=1), all(res.stopped[k:k + len(sentences)]), sentences,
                           res.alignments[k:k + len(sentences)]))
        k += len(sentences)
    return out
