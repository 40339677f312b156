"""What the web page's Speak button runs: one voice, one text, with progress events as each stage runs.

Events (server-sent, `data: {json}`): `embedding` / `embedded` for a new reference, `sentence` before each
sentence is synthesized, `vocoding` after, and one `done` with the audio in the chosen format (base64), the
mel and the attention alignments for the pictures. A failure is one `error` event.
"""
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from common.audio_encode import encode
from common.errors import APIError
from common.service import run_blocking
from common.text import split_sentences
from common.wire import encode_array
from orchestrator_svc.pipeline import SENTENCE_GAP_S, Pipeline, check_embedding
from orchestrator_svc.rendering import stretch


def event(stage: str, **fields) -> bytes:
    return f"data: {json.dumps({'stage': stage, **fields})}\n\n".encode()


@dataclass
class Spoken:
    sentences: list[str]
    mels: list[np.ndarray]
    alignments: list[np.ndarray]
    wav: np.ndarray
    sample_rate: int
    stopped: bool


async def speak_sentences(pipe: Pipeline, text: str, embedding, backend, seed):
    """Each sentence synthesized (with alignments) and vocoded: yields progress events, then one Spoken."""
    sentences = split_sentences(text) or [text]
    mels, aligns, wavs, rate, stopped = [], [], [], 0, True
    for i, sentence in enumerate(sentences):
        yield event("sentence", index=i + 1, of=len(sentences), text=sentence)
        mel, sentence_aligns, sentence_stopped, _ = await pipe.synthesize(sentence, embedding, True, seed)
        yield event("vocoding", index=i + 1, of=len(sentences), frames=int(mel.shape[1]))
        wav, rate = await pipe.vocode(mel, backend, seed)
        gap = np.zeros(0 if i == len(sentences) - 1 else int(SENTENCE_GAP_S * rate), dtype=np.float32)
        mels.append(mel)
        aligns += sentence_aligns
        wavs.append(np.concatenate([wav, gap]))
        stopped = stopped and sentence_stopped
    yield Spoken(sentences, mels, aligns, np.concatenate(wavs), rate, stopped)


async def studio_events(pipe: Pipeline, text: str, fmt: str, backend: str | None, seed: int | None, speed: float,
                        embedding=None, reference: tuple[bytes, str] | None = None) -> AsyncIterator[bytes]:
    try:
        if reference is not None:
            yield event("embedding")
            embedding, cached = await pipe.embed_audio_file(*reference)
            yield event("embedded", cached=cached)
        async for item in speak_sentences(pipe, text, check_embedding(embedding), backend, seed):
            if isinstance(item, bytes):
                yield item
            else:
                spoken = item
        yield event("encoding", format=fmt)
        out = await run_blocking(encode, await run_blocking(stretch, spoken.wav, speed), spoken.sample_rate, fmt)
        yield event("done", audio=base64.b64encode(out.data).decode(), media_type=out.media_type,
                    sample_rate=out.sample_rate, duration_s=out.duration_s, sentences=spoken.sentences,
                    stopped=spoken.stopped, mel=encode_array(np.concatenate(spoken.mels, axis=1), True),
                    alignments=[encode_array(a, True) for a in spoken.alignments])
    except APIError as exc:
        yield event("error", message=exc.message, code=exc.code, status=exc.status)
