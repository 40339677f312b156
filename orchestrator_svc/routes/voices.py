"""The voice library: POST/GET /v1/voices, GET/DELETE /v1/voices/{id}."""
from fastapi import APIRouter, Request
from fastapi.responses import Response

from common.errors import bad_request, parse_body
from orchestrator_svc import voice_library
from orchestrator_svc.deps import Authorized, Pipe, Settings, Voices, read_upload
from orchestrator_svc.schemas import Voice, VoiceImport, VoiceList

router = APIRouter(tags=["voices"], dependencies=[Authorized])
ENROLL_BODY = {"requestBody": {"content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}, "name": {"type": "string"}}}},
    "application/json": {"schema": VoiceImport.model_json_schema()}}}}


@router.post("/v1/voices", response_model=Voice, status_code=201, openapi_extra=ENROLL_BODY)
async def enroll(request: Request, pipe: Pipe, settings: Settings, voices: Voices):
    """Enroll from reference audio (multipart `file`, `name`) or import an embedding (JSON)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise bad_request("multipart body needs an audio `file` field")
        data = await read_upload(upload, settings.max_upload_bytes)
        return await voice_library.enroll_audio(pipe, data, upload.filename, form.get("name"))
    return await voice_library.import_embedding(voices, parse_body(VoiceImport, await request.body()))


@router.get("/v1/voices", response_model=VoiceList)
async def list_voices(voices: Voices, limit: int = 100, offset: int = 0):
    return await voice_library.list_voices(voices, limit, offset)


@router.get("/v1/voices/{voice_id}", response_model=Voice)
async def read_voice(voice_id: str, voices: Voices, include_embedding: bool = True):
    return voice_library.voice_view(await voice_library.find_voice(voices, voice_id), include_embedding)


@router.delete("/v1/voices/{voice_id}", status_code=204, response_class=Response)
async def delete_voice(voice_id: str, voices: Voices):
    await voice_library.delete_voice(voices, voice_id)
    return Response(status_code=204)
