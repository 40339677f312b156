"""The cloning pipeline as plain async functions over the three stage services."""
import hashlib
from dataclasses import dataclass

import numpy as np

from common.errors import bad_request
from common.text import split_sentences
from common.wire import CompactArray, decode_array, encode_array
from orchestrator_svc.clients import StagePool
from orchestrator_svc.voices import VoiceStore

EMBEDDING_SIZE = 256


def _array(payload, name: str, ndim=(1, 2)) -> np.ndarray:
    value = CompactArray(**payload) if isinstance(payload, dict) else payload
    return decode_array(value, name, ndim=ndim)


@dataclass
class Speech:
    wav: np.ndarray
    mels: list[np.ndarray]
    alignments: list[list[np.ndarray]]
    stopped: bool
    sentences: list[str]


class Pipeline:
    def __init__(self, encoder: StagePool, synthesizer: StagePool, vocoder: StagePool, store: VoiceStore):
        self.encoder, self.synthesizer, self.vocoder, self.store = encoder, synthesizer, vocoder, store

    async def embed_audio_file(self, data: bytes, filename: str = "reference",
                               owner: str = "") -> tuple[np.ndarray, bool]:
        """Embedding of an uploaded reference; identical bytes are embedded only once (hash cache). The cache
        is per owner (API key), so X-Embedding-Cached never tells one tenant what another uploaded."""
        digest = hashlib.sha256(owner.encode() + b"\0" + data if owner else data).hexdigest()
        cached = self.store.cached_embedding(digest)
        if cached is not None:
            return cached, True
        resp = await self.encoder.post("/v1/embed", files={"file": (filename, data)}, data={"compact": "true"})
        emb = _array(resp.json()["embedding"], "embedding", ndim=(1,))
        self.store.cache_embedding(digest, emb)
        return emb, False

    async def embed_waveform(self, wav: list | dict, sample_rate: int) -> np.ndarray:
        resp = await self.encoder.post("/v1/embed", json={"wav": wav, "sample_rate": sample_rate, "compact": True})
        return _array(resp.json()["embedding"], "embedding", ndim=(1,))

    async def synthesize(self, text: str, embedding: np.ndarray, alignments: bool = False, seed: int | None = None):
        body = {"text": text, "embedding": encode_array(embedding, compact=True), "compact": True,
                "return_alignments": alignments, "seed": seed}
        item = (await self.synthesizer.post("/v1/synthesize", json=body)).json()["mels"][0]
        mel = _array(item["mel"], "mel", ndim=(2,))
        aligns = [_array(a, "alignment", ndim=(2,)) for a in item.get("alignments") or []]
        return mel, aligns, item["stopped"], item["sentences"]

    async def vocode(self, mel: np.ndarray, backend: str | None, seed: int | None = None) -> np.ndarray:
        # No seed: the vocoder may sample WaveRNN requests together with concurrent ones (micro-batching).
        body = {"mel": encode_array(mel, compact=True), "backend": backend, "compact": True, "seed": seed}
        return _array((await self.vocoder.post("/v1/vocode", json=body)).json()["wav"], "wav", ndim=(1,))

    async def vocode_encoded(self, mel: np.ndarray, backend: str | None, fmt: str,
                             seed: int | None = None) -> tuple[bytes, str, int]:
        """The vocoder's audio file as is (no array decode and re-encode here): (bytes, media type, samples)."""
        body = {"mel": encode_array(mel, compact=True), "backend": backend, "format": fmt, "seed": seed}
        resp = await self.vocoder.post("/v1/vocode", json=body, headers={"accept": f"audio/{fmt}"})
        return resp.content, resp.headers["content-type"], int(resp.headers["x-audio-samples"])

    async def speak_encoded(self, text: str, embedding: np.ndarray, fmt: str, backend: str | None = None,
                            seed: int | None = None) -> tuple[bytes, str, int, bool]:
        """`speak` for callers that only pass the audio file on: (bytes, media type, samples, stopped)."""
        mel, _, stopped, _ = await self.synthesize(text, check_embedding(embedding), False, seed)
        data, media, samples = await self.vocode_encoded(mel, backend, fmt, seed)
        return data, media, samples, stopped

    async def speak(self, text: str, embedding: np.ndarray, backend: str | None = None, alignments: bool = False,
                    seed: int | None = None) -> Speech:
        embedding = check_embedding(embedding)
        mel, aligns, stopped, sentences = await self.synthesize(text, embedding, alignments, seed)
        wav = await self.vocode(mel, backend, seed)
        return Speech(wav=wav, mels=[mel], alignments=[aligns], stopped=stopped, sentences=sentences)


SENTENCE_GAP = np.zeros(2400, dtype=np.float32)  # 0.15 s between streamed sentences


async def speak_stream(pipeline: Pipeline, text: str, embedding: np.ndarray, backend: str | None = None,
                       seed: int | None = None):
    """Yield float32 audio sentence by sentence, so the first sentence plays while the rest is made."""
    embedding = check_embedding(embedding)
    sentences = split_sentences(text) or [text]
    for i, sentence in enumerate(sentences):
        mel, _, _, _ = await pipeline.synthesize(sentence, embedding, seed=seed)
        wav = await pipeline.vocode(mel, backend, seed)
        yield wav if i == len(sentences) - 1 else np.concatenate([wav, SENTENCE_GAP])


def wav_stream_header(sample_rate: int = 16000) -> bytes:
    """A WAV header for a stream of unknown length (sizes set to the maximum, as streaming players expect)."""
    import struct
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16) +
            b"data" + struct.pack("<I", 0xFFFFFFFF))


def pcm16(wav: np.ndarray) -> bytes:
    return (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()


def check_embedding(embedding: np.ndarray) -> np.ndarray:
    embedding = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if embedding.size != EMBEDDING_SIZE:
        raise bad_request(f"embedding: expected {EMBEDDING_SIZE} values, got {embedding.size}")
    return embedding
