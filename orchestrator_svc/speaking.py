"""What the clone, TTS, seed and OpenAI routes do, as plain functions over the pipeline (tests call them
directly). Each returns the audio (or the JSON model) its route sends; the routes only translate HTTP."""
import base64
import time
from dataclasses import dataclass, field

import numpy as np

from common.errors import APIError, bad_request
from common.metrics import STAGE_LATENCY
from common.service import run_blocking
from common.stage_results import EncodedAudio
from common.wire import decode_array
from orchestrator_svc.audio_out import encode_speech, openai_audio, pcm16, wav_stream_header
from orchestrator_svc.pipeline import Pipeline, speak_stream
from orchestrator_svc.schemas import ClonePreview, SeedInferenceRequest, SpeechRequest, TTSRequest
from orchestrator_svc.settings import OrchestratorSettings


@dataclass
class AudioReply:
    """Audio for a route to send: `audio`, or `stream` (async bytes) when it goes out as it is made."""
    audio: EncodedAudio | None = None
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


def duration_headers(samples: int) -> dict:
    return {"X-Sample-Rate": "16000", "X-Audio-Duration": f"{samples / 16000:.3f}"}


def streamed(pipe: Pipeline, text: str, emb, vocoder, seed, header: bool) -> AudioReply:
    async def chunks():
        if header:
            yield wav_stream_header()
        async for wav in speak_stream(pipe, text, emb, vocoder, seed):
            yield pcm16(wav)
    return AudioReply(stream=chunks(), media_type="audio/wav" if header else "audio/pcm",
                      headers={"X-Sample-Rate": "16000"})


async def encoded_reply(wav: np.ndarray, fmt: str) -> AudioReply:
    audio = await run_blocking(encode_speech, wav, fmt)
    return AudioReply(audio, headers=duration_headers(audio.samples))


async def clone(pipe: Pipeline, settings: OrchestratorSettings, reference: bytes, filename: str, text: str,
                fmt: str, vocoder: str | None, seed: int | None, stream: bool) -> AudioReply:
    check_text(settings, text)
    if stream and fmt != "wav":
        raise bad_request("stream=true needs format=wav")
    start = time.perf_counter()
    emb, cached = await pipe.embed_audio_file(reference, filename)
    vocoder = vocoder_choice(settings, vocoder)
    if stream:
        return streamed(pipe, text, emb, vocoder, seed, header=True)
    speech = await pipe.speak_encoded(text, emb, fmt, vocoder, seed=seed)
    STAGE_LATENCY.labels("orchestrator", "clone").observe(time.perf_counter() - start)
    return AudioReply(speech, headers={**duration_headers(speech.samples),
                                       "X-Embedding-Cached": str(cached).lower(),
                                       "X-Stopped": str(speech.stopped).lower()})


async def clone_preview(pipe: Pipeline, settings: OrchestratorSettings, reference: bytes, filename: str,
                        text: str, vocoder: str | None, seed: int | None) -> ClonePreview:
    check_text(settings, text)
    emb, cached = await pipe.embed_audio_file(reference, filename)
    speech = await pipe.speak(text, emb, vocoder_choice(settings, vocoder), alignments=True, seed=seed)
    audio = await run_blocking(encode_speech, speech.wav, "wav")
    return ClonePreview(audio_wav_base64=base64.b64encode(audio.data).decode(), duration_s=len(speech.wav) / 16000,
                        mel=speech.mel, sentences=speech.sentences, alignments=speech.alignments,
                        stopped=speech.stopped, embedding_cached=cached)


async def seed_inference(pipe: Pipeline, settings: OrchestratorSettings, body: SeedInferenceRequest) -> np.ndarray:
    """The seed projects' `{wav, sr, text}` or `{embed, text}` -> the waveform."""
    check_text(settings, body.text)
    if body.embed is not None:
        emb = decode_array(body.embed, "embed", ndim=(1,))
    elif body.wav is not None and body.sr is not None:
        decode_array(body.wav, "wav", ndim=(1,))  # a bad waveform is this request's 422, not the encoder's
        wav = body.wav if isinstance(body.wav, list) else body.wav.model_dump()
        emb = await pipe.embed_waveform(wav, body.sr)
    else:
        raise bad_request("give either `embed`, or `wav` and `sr`")
    return (await pipe.speak(body.text, emb, vocoder_choice(settings, None))).wav


async def tts(pipe: Pipeline, settings: OrchestratorSettings, body: TTSRequest, voice_embedding) -> AudioReply:
    """`voice_embedding(voice_id)` looks a saved voice up (404 when there is none)."""
    check_text(settings, body.text)
    if body.voice_id:
        emb = await voice_embedding(body.voice_id)
    elif body.embedding is not None:
        emb = decode_array(body.embedding, "embedding", ndim=(1,))
    else:
        raise bad_request("give `voice_id` or `embedding`")
    speech = await pipe.speak(body.text, emb, vocoder_choice(settings, body.vocoder), seed=body.seed)
    return await encoded_reply(speech.wav, body.format)


async def openai_speech(pipe: Pipeline, settings: OrchestratorSettings, body: SpeechRequest,
                        voice_embedding) -> AudioReply:
    check_text(settings, body.input)
    emb = await voice_embedding(body.voice)
    vocoder = vocoder_choice(settings, None)
    if body.stream:
        if body.response_format not in ("wav", "pcm"):
            raise bad_request("stream=true needs response_format wav or pcm")
        if body.speed != 1.0:
            raise bad_request("stream=true does not support speed")
        return streamed(pipe, body.input, emb, vocoder, None, header=body.response_format == "wav")
    speech = await pipe.speak(body.input, emb, vocoder)
    audio = await run_blocking(openai_audio, speech.wav, body.response_format, body.speed)
    if body.response_format == "pcm":
        return AudioReply(audio, headers={"X-Sample-Rate": "16000"})
    return AudioReply(audio, headers=duration_headers(audio.samples))
