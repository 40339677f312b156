"""What the clone, TTS, seed and OpenAI routes do, as plain functions over the pipeline (tests call them
directly). Each returns the audio (or the JSON model) its route sends; the routes only translate HTTP."""
import base64
import time
from dataclasses import dataclass, field

import numpy as np

from common.audio_encode import Encoded, encode
from common.audio_io import check_peak
from common.errors import APIError, bad_request
from common.metrics import STAGE_LATENCY
from common.service import run_blocking
from common.stage_results import EncodedAudio
from common.voicing import AS_SERVED, Voicing
from common.wire import decode_array
from orchestrator_svc.pipeline import Pipeline, check_embedding
from orchestrator_svc.rendering import open_speech_stream, render
from orchestrator_svc.schemas import ClonePreview, SeedInferenceRequest, TTSRequest
from orchestrator_svc.settings import OrchestratorSettings


@dataclass
class AudioReply:
    """Audio for a route to send: `audio`, or `stream` (async bytes) when it goes out as it is made."""
    audio: EncodedAudio | Encoded | None = None
    stream: object = None
    media_type: str = "audio/wav"
    headers: dict = field(default_factory=dict)


def check_text(settings: OrchestratorSettings, text: str) -> str:
    if len(text) > settings.max_text_chars:
        raise APIError(413, "text_too_long", f"text: {len(text)} characters exceed the {settings.max_text_chars} limit")
    if not any(c.isalnum() for c in text):
        raise bad_request("text: has nothing to speak")
    return text


def vocoder_choice(settings: OrchestratorSettings, asked: str | None) -> str | None:
    """The request's vocoder, else DEFAULT_VOCODER, else None (the vocoder service's own default)."""
    return asked or settings.default_vocoder or None


def duration_headers(audio) -> dict:
    """The true rate of the file (pcm 24 kHz, opus 48 kHz, else the vocoder's) and its duration."""
    return {"X-Sample-Rate": str(audio.sample_rate), "X-Audio-Duration": f"{audio.duration_s:.3f}"}


async def streamed(pipe: Pipeline, text: str, emb, vocoder, seed, fmt: str, speed: float = 1.0,
                   voicing: Voicing = AS_SERVED) -> AudioReply:
    """The format's bytes sentence by sentence (the first sentence is made before the reply starts)."""
    encoder, chunks = await open_speech_stream(pipe, text, emb, fmt, vocoder, seed, speed, voicing)
    return AudioReply(stream=chunks, media_type=encoder.spec.media_type,
                      headers={"X-Sample-Rate": str(encoder.sample_rate)})


async def clone(pipe: Pipeline, settings: OrchestratorSettings, reference: bytes, filename: str, text: str,
                fmt: str, vocoder: str | None, seed: int | None, stream: bool, owner: str = "",
                voicing: Voicing = AS_SERVED) -> AudioReply:
    check_text(settings, text)
    start = time.perf_counter()
    ref = await pipe.embed_audio_file(reference, filename, owner=owner)
    vocoder = vocoder_choice(settings, vocoder)
    if stream:
        return await streamed(pipe, text, ref.embedding, vocoder, seed, fmt, voicing=voicing)
    speech = await pipe.speak_encoded(text, ref.embedding, fmt, vocoder, seed=seed, voicing=voicing)
    STAGE_LATENCY.labels("orchestrator", "clone").observe(time.perf_counter() - start)
    return AudioReply(speech.audio, headers={**duration_headers(speech.audio),
                                             "X-Embedding-Cached": str(ref.cached).lower(),
                                             "X-Stopped": str(speech.stopped).lower()})


async def clone_preview(pipe: Pipeline, settings: OrchestratorSettings, reference: bytes, filename: str,
                        text: str, vocoder: str | None, seed: int | None, owner: str = "",
                        voicing: Voicing = AS_SERVED) -> ClonePreview:
    check_text(settings, text)
    ref = await pipe.embed_audio_file(reference, filename, owner=owner)
    speech = await pipe.speak(text, ref.embedding, vocoder_choice(settings, vocoder), alignments=True, seed=seed,
                              voicing=voicing)
    audio = await run_blocking(encode, speech.wav, speech.sample_rate, "wav")
    return ClonePreview(audio_wav_base64=base64.b64encode(audio.data).decode(), duration_s=audio.duration_s,
                        mel=speech.mel, sentences=speech.sentences, alignments=speech.alignments,
                        stopped=speech.stopped, embedding_cached=ref.cached)


async def seed_inference(pipe: Pipeline, settings: OrchestratorSettings, body: SeedInferenceRequest
                         ) -> tuple[np.ndarray, int]:
    """The seed projects' `{wav, sr, text}` or `{embed, text}` -> (the waveform, its rate)."""
    check_text(settings, body.text)
    # Whatever is given is checked, also a `wav` beside the `embed` that wins: a bad one was accepted unseen.
    emb = check_embedding(decode_array(body.embed, "embed", ndim=(1,))) if body.embed is not None else None
    if body.wav is not None:
        check_peak(decode_array(body.wav, "wav", ndim=(1,)), "wav")  # this request's 422, not the encoder's
    if emb is None and body.wav is not None and body.sr is not None:
        wav = body.wav if isinstance(body.wav, list) else body.wav.model_dump()
        emb = await pipe.embed_waveform(wav, body.sr)
    if emb is None:
        raise bad_request("give either `embed`, or `wav` and `sr`")
    speech = await pipe.speak(body.text, emb, vocoder_choice(settings, None))
    return speech.wav, speech.sample_rate


async def tts(pipe: Pipeline, settings: OrchestratorSettings, body: TTSRequest, voice_embedding) -> AudioReply:
    """`voice_embedding(voice_id)` looks a saved voice up (404 when there is none)."""
    check_text(settings, body.text)
    # An embedding is checked also when the voice_id wins over it (a bad one was accepted unseen).
    given = check_embedding(decode_array(body.embedding, "embedding", ndim=(1,))) if body.embedding is not None \
        else None
    if body.voice_id is not None:  # "" too is an id that names no voice (404), not a missing one
        emb = await voice_embedding(body.voice_id)
    elif given is not None:
        emb = given
    else:
        raise bad_request("give `voice_id` or `embedding`")
    audio = await render(pipe, body.text, emb, body.format, vocoder_choice(settings, body.vocoder), body.seed,
                         body.speed, Voicing(body.accent, body.speaker_emphasis))
    return AudioReply(audio, headers=duration_headers(audio))

