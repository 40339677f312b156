"""The cloning pipeline as plain async functions over the three stage services.

Arrays the orchestrator only hands from one stage to the next (the mel, the alignments) stay in the compact
wire form they arrived in: no decode here and re-encode for the next request."""
import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from common.errors import APIError, bad_request
from common.service import run_blocking
from common.stage_results import EncodedAudio, TextMel
from common.text import speakable_sentences
from common.voicing import AS_SERVED, Voicing
from common.wire import CompactArray, check_embedding_range, decode_array, encode_array
from orchestrator_svc.clients import StagePool
from orchestrator_svc.schemas import EMBEDDING_SIZE
from orchestrator_svc.voices import VoiceStore


def _array(payload, name: str, ndim=(1, 2)) -> np.ndarray:
    value = CompactArray(**payload) if isinstance(payload, dict) else payload
    return decode_array(value, name, ndim=ndim)


@dataclass
class Speech:
    wav: np.ndarray
    mel: dict                    # (80, T), compact wire form as the synthesizer sent it
    alignments: list[dict]       # one per sentence, compact wire form
    stopped: bool
    sentences: list[str]
    sample_rate: int             # the vocoder's (16 kHz WaveRNN/Griffin-Lim, 22.05 kHz HiFi-GAN)


@dataclass
class ReferenceEmbedding:
    """An uploaded reference's speaker embedding, as the orchestrator holds it."""
    embedding: np.ndarray        # (256,) unit norm
    cached: bool                 # found in the per-owner hash cache: the encoder was not asked


@dataclass
class EncodedSpeech:
    """`speak_encoded`'s audio file as the vocoder made it, and how the text's sentences ended."""
    audio: EncodedAudio
    stopped: bool                # every sentence ended by its stop token (none ran on to the frame cap)


class Pipeline:
    def __init__(self, encoder: StagePool, synthesizer: StagePool, vocoder: StagePool, store: VoiceStore):
        self.encoder, self.synthesizer, self.vocoder, self.store = encoder, synthesizer, vocoder, store

    async def served_accents(self) -> list[str] | None:
        """The accents the synthesizer serves (its /v1/info), None where it does not say or does not answer:
        /v1/info reports it, so the web page offers only what will speak, and never fails for it."""
        try:
            accents = (await self.synthesizer.request("GET", "/v1/info", timeout=2.0)).json().get("accents")
        except (APIError, ValueError, AttributeError):
            return None
        return list(accents) if isinstance(accents, dict) else None

    async def embed_audio_file(self, data: bytes, filename: str = "reference",
                               owner: str = "") -> ReferenceEmbedding:
        """Embedding of an uploaded reference; identical bytes are embedded only once (hash cache). The cache
        is per owner (API key), so X-Embedding-Cached never tells one tenant what another uploaded."""
        digest = hashlib.sha256(owner.encode() + b"\0" + data if owner else data).hexdigest()
        cached = await run_blocking(self.store.cached_embedding, digest)
        if cached is not None:
            return ReferenceEmbedding(cached, cached=True)
        resp = await self.encoder.post("/v1/embed", files={"file": (filename, data)}, data={"compact": "true"})
        emb = _array(resp.json()["embedding"], "embedding", ndim=(1,))
        await run_blocking(self.store.cache_embedding, digest, emb)
        return ReferenceEmbedding(emb, cached=False)

    async def embed_waveform(self, wav: list | dict, sample_rate: int) -> np.ndarray:
        """`wav` in either wire form, sent on as given."""
        resp = await self.encoder.post("/v1/embed", json={"wav": wav, "sample_rate": sample_rate, "compact": True})
        return _array(resp.json()["embedding"], "embedding", ndim=(1,))

    async def synthesize(self, text: str, embedding: np.ndarray, alignments: bool = False,
                         seed: int | None = None, voicing: Voicing = AS_SERVED) -> TextMel:
        """The synthesizer's TextMel, its arrays in compact wire form. A named accent the synthesizer has no
        checkpoint for is its 422 accent_unavailable, passed on (clients.check_stage_response)."""
        body = {"text": text, "embedding": encode_array(embedding, compact=True), "compact": True,
                "return_alignments": alignments, "seed": seed, **voicing.synthesizer_fields()}
        item = (await self.synthesizer.post("/v1/synthesize", json=body)).json()["mels"][0]
        return TextMel(item["mel"], item["stopped"], item["sentences"], item.get("alignments") or [])

    async def vocode(self, mel: dict, vocoder: str | None, seed: int | None = None) -> tuple[np.ndarray, int]:
        """(audio, its sample rate as the vocoder reports it)."""
        # No seed: the vocoder may sample WaveRNN requests together with concurrent ones (micro-batching).
        body = {"mel": mel, "backend": vocoder, "compact": True, "seed": seed}
        out = (await self.vocoder.post("/v1/vocode", json=body)).json()
        return _array(out["wav"], "wav", ndim=(1,)), int(out["sample_rate"])

    async def vocode_encoded(self, mel: dict, vocoder: str | None, fmt: str,
                             seed: int | None = None) -> EncodedAudio:
        """The vocoder's audio file as is (no array decode and re-encode here)."""
        body = {"mel": mel, "backend": vocoder, "format": fmt, "seed": seed}
        resp = await self.vocoder.post("/v1/vocode", json=body, headers={"accept": f"audio/{fmt}"})
        return EncodedAudio(resp.content, resp.headers["content-type"], int(resp.headers["x-audio-samples"]),
                            int(resp.headers["x-sample-rate"]), float(resp.headers["x-audio-duration"]))

    async def vocode_stream(self, mel: dict, vocoder: str | None, seed: int | None = None,
                            first_chunk_frames: int = 0) -> AsyncIterator[tuple[np.ndarray, int]]:
        """(audio piece, its sample rate) as the vocoder's /v1/vocode/stream sends them (raw float32)."""
        body = {"mel": mel, "backend": vocoder, "seed": seed, "first_chunk_frames": first_chunk_frames}
        resp = await self.vocoder.open_stream("/v1/vocode/stream", json=body)
        try:
            rate, pending = int(resp.headers["x-sample-rate"]), b""
            async for data in resp.aiter_bytes():
                pending += data
                whole = len(pending) - len(pending) % 4   # network chunks need not end on a sample
                if whole:
                    yield np.frombuffer(pending[:whole], "<f4").astype(np.float32), rate
                    pending = pending[whole:]
        finally:
            await resp.aclose()

    async def speak_encoded(self, text: str, embedding: np.ndarray, fmt: str, vocoder: str | None = None,
                            seed: int | None = None, voicing: Voicing = AS_SERVED) -> EncodedSpeech:
        """`speak` for callers that only pass the audio file on."""
        mel = await self.synthesize(text, check_embedding(embedding), False, seed, voicing)
        audio = await self.vocode_encoded(mel.mel, vocoder, fmt, seed)
        return EncodedSpeech(audio, mel.stopped)

    async def speak(self, text: str, embedding: np.ndarray, vocoder: str | None = None, alignments: bool = False,
                    seed: int | None = None, voicing: Voicing = AS_SERVED) -> Speech:
        mel = await self.synthesize(text, check_embedding(embedding), alignments, seed, voicing)
        wav, rate = await self.vocode(mel.mel, vocoder, seed)
        return Speech(wav=wav, mel=mel.mel, alignments=mel.alignments, stopped=mel.stopped,
                      sentences=mel.sentences, sample_rate=rate)


SENTENCE_GAP_S = 0.15  # silence between streamed sentences
# HiFi-GAN's first streamed piece: 16 generator frames (186 ms), then 24, 36 ... (the vocoder's chunk_bounds),
# so the first audio waits for 28 frames' work (16 + 12 of context), not a whole sentence's. Measured
# (bench.default_speed's stream, three runs each): 16 frames first, first audio 1.05-1.11x Griffin-Lim's with
# 0.02-0.05 s of playback stalls; 12 frames, 0.96-1.03x but 0.10-0.17 s of stalls. Later sentences go in the
# vocoder's usual 512-frame chunks (small chunks recompute their context).
FIRST_CHUNK_FRAMES = 16


async def speak_stream(pipeline: Pipeline, text: str, embedding: np.ndarray, vocoder: str | None = None,
                       seed: int | None = None, whole_sentences: bool = False, voicing: Voicing = AS_SERVED
                       ) -> AsyncIterator[tuple[np.ndarray, int]]:
    """Yield (float32 audio, sample rate) piece by piece, so the first plays while the rest is made: the first
    sentence as the vocoder streams it, and each next sentence's mel asked for once the current one is
    vocoded, while its audio plays. (Asked for at the current one's first piece instead, the synthesizer took
    the cores from the first sentence's small chunks: playback stalls 0.17-0.19 s vs 0.03-0.06 s, two
    bench.default_speed streaming runs each, same completion time.)
    `whole_sentences`: one piece per sentence (for a time stretch, which needs whole sentences)."""
    embedding = check_embedding(embedding)
    sentences = speakable_sentences(text)
    pending = asyncio.ensure_future(pipeline.synthesize(sentences[0], embedding, seed=seed, voicing=voicing))
    try:
        for i, sentence in enumerate(sentences):
            mel, pending = await pending, None
            last = i == len(sentences) - 1
            first_frames = FIRST_CHUNK_FRAMES if i == 0 and not whole_sentences else 0
            parts, rate = [], 0
            async for wav, rate in pipeline.vocode_stream(mel.mel, vocoder, seed, first_frames):
                if whole_sentences:
                    parts.append(wav)
                else:
                    yield wav, rate
            if not last:
                pending = asyncio.ensure_future(pipeline.synthesize(sentences[i + 1], embedding, seed=seed,
                                                                    voicing=voicing))
            gap = np.zeros(0 if last else int(SENTENCE_GAP_S * rate), dtype=np.float32)
            piece = np.concatenate([*parts, gap])
            if piece.size:
                yield piece, rate
    finally:
        if pending is not None:
            pending.cancel()


def check_embedding(embedding: np.ndarray) -> np.ndarray:
    embedding = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if embedding.size != EMBEDDING_SIZE:
        raise bad_request(f"embedding: expected {EMBEDDING_SIZE} values, got {embedding.size}")
    check_embedding_range(embedding)  # refused here, not by the synthesizer at every later use of the voice
    return embedding
