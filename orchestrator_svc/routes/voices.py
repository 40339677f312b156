"""The voice library: POST/GET /v1/voices, GET/PATCH/DELETE /v1/voices/{id}."""
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from common.errors import parse_body
from common.outbound import MAX_URL_CHARS
from orchestrator_svc import voice_library
from orchestrator_svc.deps import Authorized, Parts, Pipe, Voices, reference_of
from orchestrator_svc.schemas import MAX_NAME_CHARS, URL, Voice, VoiceImport, VoiceList, VoiceRename

router = APIRouter(tags=["voices"], dependencies=[Authorized])
# One body or the other, never none (the route reads it by hand, so FastAPI does not say so itself); the form's
# rule (a file or a URL) is in orchestrator_svc.form_schema.
ENROLL_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "name": {"type": "string", "maxLength": MAX_NAME_CHARS},
        "reference_url": {**URL, "maxLength": MAX_URL_CHARS}}}},
    "application/json": {"schema": VoiceImport.model_json_schema()}}}}


@router.post("/v1/voices", response_model=Voice, status_code=201, openapi_extra=ENROLL_BODY)
async def enroll(request: Request, pipe: Pipe, parts: Parts, voices: Voices):
    """Enroll from reference audio (multipart `file` or `reference_url`, and `name`) or import an
    embedding (JSON). The voice belongs to the caller's key."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        url = form.get("reference_url")
        data, filename = await reference_of(parts, form.get("file"), url if isinstance(url, str) else None,
                                               "file")
        name = form.get("name")
        return await voice_library.enroll_audio(pipe, voices, data, filename, name if isinstance(name, str) else None)
    return await voice_library.import_embedding(voices, parse_body(VoiceImport, await request.body()))


@router.get("/v1/voices", response_model=VoiceList)
async def list_voices(voices: Voices, limit: int = Query(100, ge=1, le=voice_library.MAX_LIST),
                      offset: int = Query(0, ge=0, le=2**62)):
    """The caller's voices (an admin key: everyone's), oldest first."""
    return await voice_library.list_voices(voices, limit, offset)


@router.get("/v1/voices/{voice_id}", response_model=Voice)
async def read_voice(voice_id: str, voices: Voices, include_embedding: bool = True):
    return voice_library.voice_view(await voice_library.find_voice(voices, voice_id), include_embedding)


@router.patch("/v1/voices/{voice_id}", response_model=Voice)
async def rename_voice(voice_id: str, body: VoiceRename, voices: Voices):
    return await voice_library.rename_voice(voices, voice_id, body.name)


@router.delete("/v1/voices/{voice_id}", status_code=204, response_class=Response)
async def delete_voice(voice_id: str, voices: Voices):
    await voice_library.delete_voice(voices, voice_id)
    return Response(status_code=204)
