"""Speaker encoder service: audio -> 256-d unit-norm speaker embedding."""
import os
import time
from dataclasses import asdict

import numpy as np
from fastapi import FastAPI, Request
from pydantic import Field

from common.audio_decode import DecodeLimits, read_audio_upload
from common.audio_io import check_waveform, to_16k
from common.checkpoints import file_sha256
from common.config import ServiceSettings
from common.errors import APIError, parse_body
from common.metrics import MODEL_LOAD, STAGE_LATENCY
from common.service import create_app, run_model
from common.wire import decode_array, encode_array
from encoder_svc.inference import default_encoder_checkpoint, embed_reference, load_encoder
from encoder_svc.schemas import EmbedRequest, EmbedResponse, SeedInferenceRequest, SeedInferenceResponse


class EncoderSettings(ServiceSettings):
    port: int = 8001
    encoder_checkpoint: str = ""
    max_audio_channels: int = Field(8, description="uploads with more channels are refused before decoding")
    max_decoded_samples: int = Field(64_000_000, description="frames x channels an upload may decode to")

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(self.max_audio_seconds, self.max_audio_channels, self.max_decoded_samples)


async def _load(app: FastAPI) -> None:
    settings: EncoderSettings = app.state.settings
    path = settings.encoder_checkpoint or default_encoder_checkpoint()
    start = time.perf_counter()
    app.state.model = await run_model(load_encoder, path)
    MODEL_LOAD.labels("encoder", "ge2e").set(time.perf_counter() - start)
    app.state.info = {"model": "ge2e-speaker-encoder", "checkpoint": os.path.basename(path),
                      "sha256": file_sha256(path),
                      "hparams": asdict(app.state.model.cfg), "sample_rate": 16000}


def embed_waveform(app: FastAPI, wav: np.ndarray, sample_rate: int, preprocess: bool):
    settings: EncoderSettings = app.state.settings
    wav = to_16k(check_waveform(wav, sample_rate, settings.max_audio_seconds, "wav"), sample_rate)
    start = time.perf_counter()
    result = embed_reference(app.state.model, wav, preprocess)
    STAGE_LATENCY.labels("encoder", "embed").observe(time.perf_counter() - start)
    return result, len(wav) / 16000


def create(settings: EncoderSettings | None = None) -> FastAPI:
    settings = settings or EncoderSettings()
    app = create_app("encoder", settings, load=_load, description="GE2E speaker encoder (RTVC-compatible).")

    @app.get("/v1/info", tags=["encoder"])
    async def info(request: Request):
        return request.app.state.info

    @app.post("/v1/embed", tags=["encoder"], response_model=EmbedResponse, openapi_extra={"requestBody": {
        "content": {"application/json": {"schema": EmbedRequest.model_json_schema()},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "preprocess": {"type": "boolean"}, "return_partials": {"type": "boolean"},
                        "compact": {"type": "boolean"}}}}}}})
    async def embed(request: Request):
        """JSON `{wav, sample_rate}` or a multipart upload `file` (wav/flac/ogg/mp3, any rate)."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise APIError(422, "invalid_request", "multipart body needs an audio `file` field")
            wav, rate = await read_audio_upload(await upload.read(), settings.decode_limits(), "file"), 16000
            opts = {k: str(form.get(k, d)).lower() in ("1", "true", "yes")
                    for k, d in (("preprocess", True), ("return_partials", False), ("compact", False))}
        else:
            body = parse_body(EmbedRequest, await request.body())
            wav, rate = decode_array(body.wav, "wav", ndim=(1,)), body.sample_rate
            opts = body.model_dump(include={"preprocess", "return_partials", "compact"})
        (emb, trimmed), seconds = await run_model(embed_waveform, request.app, wav, rate, opts["preprocess"])
        compact = opts["compact"]
        return EmbedResponse(embedding=encode_array(emb.embedding, compact), vad_trimmed=trimmed,
                             partials=encode_array(emb.partials, compact) if opts["return_partials"] else None,
                             duration_s=round(seconds, 3))

    @app.post("/inference", tags=["seed-compatible"], response_model=SeedInferenceResponse)
    async def inference(body: SeedInferenceRequest, request: Request):
        """The seed projects' shape: `{wav: [float], sr}` -> `{embed: [float]}`."""
        wav = decode_array(body.wav, "wav", ndim=(1,))
        (emb, _), _ = await run_model(embed_waveform, request.app, wav, body.sr, True)
        return SeedInferenceResponse(embed=emb.embedding.tolist())

    return app
