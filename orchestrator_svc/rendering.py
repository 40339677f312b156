"""Speech to audio files: long texts in synthesizer-sized chunks, speed changes, whole or streamed encodings.

Everything carries the vocoder's own sample rate (16 kHz WaveRNN/Griffin-Lim, 22.05 kHz HiFi-GAN); blocking
work (time stretch, encoding) runs off the event loop.
"""
from collections.abc import AsyncIterator

import numpy as np

from common.audio_encode import AudioEncoder, Encoded, check_format, encode
from common.service import run_blocking
from common.text import speakable_sentences
from common.voicing import AS_SERVED, Voicing
from orchestrator_svc.pipeline import Pipeline, speak_stream

# Well under the synthesizer's MAX_TEXT_CHARS (2000): longer inputs go as several requests.
CHUNK_CHARS = 1000


def text_chunks(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Whole sentences packed into chunks of at most `limit` characters."""
    chunks: list[str] = []
    for sentence in speakable_sentences(text):
        if chunks and len(chunks[-1]) + 1 + len(sentence) <= limit:
            chunks[-1] += " " + sentence
        else:
            chunks.append(sentence)
    return chunks


def stretch(wav: np.ndarray, speed: float) -> np.ndarray:
    """Pitch-preserving tempo change (phase vocoder): speed 2 halves the duration at the same pitch."""
    if speed == 1.0 or wav.size < 2048:
        return wav
    import librosa
    return librosa.effects.time_stretch(np.asarray(wav, dtype=np.float32), rate=speed).astype(np.float32)


async def speak_long(pipe: Pipeline, text: str, embedding, backend: str | None, seed: int | None,
                     voicing: Voicing = AS_SERVED) -> tuple[np.ndarray, int]:
    """Any length of text as one waveform: (audio, sample rate)."""
    wavs, rate = [], 0
    for chunk in text_chunks(text):
        speech = await pipe.speak(chunk, embedding, backend, seed=seed, voicing=voicing)
        wavs.append(speech.wav)
        rate = speech.sample_rate
    return np.concatenate(wavs), rate


async def render(pipe: Pipeline, text: str, embedding, fmt: str, backend: str | None = None,
                 seed: int | None = None, speed: float = 1.0, voicing: Voicing = AS_SERVED) -> Encoded:
    wav, rate = await speak_long(pipe, text, embedding, backend, seed, voicing)
    wav = await run_blocking(stretch, wav, speed)
    return await run_blocking(encode, wav, rate, fmt)


async def open_stream(pieces: AsyncIterator[tuple[np.ndarray, int]], fmt: str, speed: float = 1.0
                      ) -> tuple[AudioEncoder, AsyncIterator[bytes]]:
    """Encode audio pieces (sentences) as they arrive, each piece's bytes going out as soon as the encoder
    gives them. The first piece is made before this returns: its rate sets the encoder's (and the response
    headers), and a failure there still gets a proper error status instead of a cut stream."""
    pieces = aiter(pieces)
    wav, rate = await anext(pieces)
    encoder = AudioEncoder(fmt, rate, streaming=True)
    first = await run_blocking(encoder.write, await run_blocking(stretch, wav, speed))

    async def chunks():
        if first:
            yield first
        async for wav, _ in pieces:
            data = await run_blocking(encoder.write, await run_blocking(stretch, wav, speed))
            if data:
                yield data
        tail = await run_blocking(encoder.finish)
        if tail:
            yield tail
    return encoder, chunks()


async def open_speech_stream(pipe: Pipeline, text: str, embedding, fmt: str, backend: str | None = None,
                             seed: int | None = None, speed: float = 1.0, voicing: Voicing = AS_SERVED):
    check_format(fmt, streaming=True)
    # a time stretch needs whole sentences; at speed 1 the pieces go out as the vocoder makes them
    return await open_stream(speak_stream(pipe, text, embedding, backend, seed, whole_sentences=speed != 1.0,
                                          voicing=voicing), fmt, speed)
