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
from common.errors import APIError, bad_request
from common.service import run_blocking
from common.text import speakable_sentences
from common.voicing import AS_SERVED, Voicing
from common.wire import CompactArray, decode_array, encode_array
from orchestrator_svc.openai_speech import check_input, resolve_voice
from orchestrator_svc.pipeline import SENTENCE_GAP_S, Pipeline, check_embedding
from orchestrator_svc.rendering import stretch


def event(stage: str, **fields) -> bytes:
    return f"data: {json.dumps({'stage': stage, **fields})}\n\n".encode()


@dataclass
class Spoken:
    sentences: list[str]
    mels: list[np.ndarray]
    alignments: list[dict]       # compact wire form, as the synthesizer sent them
    wav: np.ndarray
    sample_rate: int
    stopped: bool


async def speak_sentences(pipe: Pipeline, text: str, embedding, backend, seed, voicing: Voicing = AS_SERVED):
    """Each sentence synthesized (with alignments) and vocoded: yields progress events, then one Spoken."""
    sentences = speakable_sentences(text)
    mels, aligns, wavs, rate, stopped = [], [], [], 0, True
    for i, sentence in enumerate(sentences):
        yield event("sentence", index=i + 1, of=len(sentences), text=sentence)
        text_mel = await pipe.synthesize(sentence, embedding, True, seed, voicing)
        mel = decode_array(CompactArray(**text_mel.mel), "mel", ndim=(2,))
        yield event("vocoding", index=i + 1, of=len(sentences), frames=int(mel.shape[1]))
        wav, rate = await pipe.vocode(text_mel.mel, backend, seed)
        gap = np.zeros(0 if i == len(sentences) - 1 else int(SENTENCE_GAP_S * rate), dtype=np.float32)
        mels.append(mel)
        aligns += text_mel.alignments
        wavs.append(np.concatenate([wav, gap]))
        stopped = stopped and text_mel.stopped
    yield Spoken(sentences, mels, aligns, np.concatenate(wavs), rate, stopped)


async def studio_events(pipe: Pipeline, text: str, fmt: str, backend: str | None, seed: int | None, speed: float,
                        embedding=None, reference: tuple[bytes, str] | None = None,
                        voicing: Voicing = AS_SERVED) -> AsyncIterator[bytes]:
    try:
        if reference is not None:
            yield event("embedding")
            ref = await pipe.embed_audio_file(*reference)
            embedding = ref.embedding
            yield event("embedded", cached=ref.cached)
        async for item in speak_sentences(pipe, text, check_embedding(embedding), backend, seed, voicing):
            if isinstance(item, bytes):
                yield item
            else:
                spoken = item
        yield event("encoding", format=fmt)
        out = await run_blocking(encode, await run_blocking(stretch, spoken.wav, speed), spoken.sample_rate, fmt)
        yield event("done", audio=base64.b64encode(out.data).decode(), media_type=out.media_type,
                    sample_rate=out.sample_rate, duration_s=out.duration_s, sentences=spoken.sentences,
                    stopped=spoken.stopped, mel=encode_array(np.concatenate(spoken.mels, axis=1), True),
                    alignments=spoken.alignments)
    except APIError as exc:
        yield event("error", message=exc.message, code=exc.code, status=exc.status)


async def start(pipe: Pipeline, store, text: str, voice: str | None, reference: tuple[bytes, str] | None, fmt: str,
                backend: str | None, seed: int | None, speed: float,
                voicing: Voicing = AS_SERVED) -> AsyncIterator[bytes]:
    """Checks that answer with an error status (before any event), then the event stream."""
    check_input(text)
    if (reference is None) == (not voice):  # both: which one was meant? (a bad voice went unseen beside audio)
        raise bad_request("give a `voice` or a `reference_audio`, not both or neither")
    embedding = None if reference is not None else await run_blocking(resolve_voice, voice, store)
    return studio_events(pipe, text, fmt, backend, seed, speed, embedding, reference, voicing)
