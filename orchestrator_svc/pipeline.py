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
    sample_rate: int  # the vocoder's (16 kHz WaveRNN/Griffin-Lim, 22.05 kHz HiFi-GAN)


@dataclass
class Rendered:
    """An audio file as the vocoder encoded it."""
    data: bytes
    media_type: str
    sample_rate: int   # of the encoded audio (pcm 24 kHz, opus 48 kHz, else the vocoder's)
    duration_s: float
    stopped: bool


class Pipeline:
    def __init__(self, encoder: StagePool, synthesizer: StagePool, vocoder: StagePool, store: VoiceStore):
        self.encoder, self.synthesizer, self.vocoder, self.store = encoder, synthesizer, vocoder, store

    async def embed_audio_file(self, data: bytes, filename: str = "reference") -> tuple[np.ndarray, bool]:
        """Embedding of an uploaded reference; identical bytes are embedded only once (hash cache)."""
        digest = hashlib.sha256(data).hexdigest()
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

    async def vocode(self, mel: np.ndarray, backend: str | None, seed: int | None = None) -> tuple[np.ndarray, int]:
        """(audio, its sample rate as the vocoder reports it)."""
        # No seed: the vocoder may sample WaveRNN requests together with concurrent ones (micro-batching).
        body = {"mel": encode_array(mel, compact=True), "backend": backend, "compact": True, "seed": seed}
        out = (await self.vocoder.post("/v1/vocode", json=body)).json()
        return _array(out["wav"], "wav", ndim=(1,)), int(out["sample_rate"])

    async def vocode_encoded(self, mel: np.ndarray, backend: str | None, fmt: str,
                             seed: int | None = None, stopped: bool = True) -> Rendered:
        """The vocoder's audio file as is (no array decode and re-encode here)."""
        body = {"mel": encode_array(mel, compact=True), "backend": backend, "format": fmt, "seed": seed}
        resp = await self.vocoder.post("/v1/vocode", json=body, headers={"accept": f"audio/{fmt}"})
        return Rendered(resp.content, resp.headers["content-type"], int(resp.headers["x-sample-rate"]),
                        float(resp.headers["x-audio-duration"]), stopped)

    async def speak_encoded(self, text: str, embedding: np.ndarray, fmt: str, backend: str | None = None,
                            seed: int | None = None) -> Rendered:
        """`speak` for callers that only pass the audio file on."""
        mel, _, stopped, _ = await self.synthesize(text, check_embedding(embedding), False, seed)
        return await self.vocode_encoded(mel, backend, fmt, seed, stopped)

    async def speak(self, text: str, embedding: np.ndarray, backend: str | None = None, alignments: bool = False,
                    seed: int | None = None) -> Speech:
        embedding = check_embedding(embedding)
        mel, aligns, stopped, sentences = await self.synthesize(text, embedding, alignments, seed)
        wav, rate = await self.vocode(mel, backend, seed)
        return Speech(wav=wav, mels=[mel], alignments=[aligns], stopped=stopped, sentences=sentences,
                      sample_rate=rate)


SENTENCE_GAP_S = 0.15  # silence between streamed sentences


async def speak_stream(pipeline: Pipeline, text: str, embedding: np.ndarray, backend: str | None = None,
                       seed: int | None = None):
    """Yield (float32 audio, sample rate) sentence by sentence, so the first plays while the rest is made."""
    embedding = check_embedding(embedding)
    sentences = split_sentences(text) or [text]
    for i, sentence in enumerate(sentences):
        mel, _, _, _ = await pipeline.synthesize(sentence, embedding, seed=seed)
        wav, rate = await pipeline.vocode(mel, backend, seed)
        gap = np.zeros(0 if i == len(sentences) - 1 else int(SENTENCE_GAP_S * rate), dtype=np.float32)
        yield np.concatenate([wav, gap]), rate


def check_embedding(embedding: np.ndarray) -> np.ndarray:
    embedding = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if embedding.size != EMBEDDING_SIZE:
        raise bad_request(f"embedding: expected {EMBEDDING_SIZE} values, got {embedding.size}")
    return embedding
