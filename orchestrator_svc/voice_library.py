"""What the voice routes do, as plain functions: enroll from audio or import an embedding, list, look up,
delete. SQLite calls block, so they run with run_blocking."""
import hashlib

from common.errors import APIError, bad_request
from common.service import run_blocking
from common.wire import decode_array
from orchestrator_svc.pipeline import Pipeline, check_embedding
from orchestrator_svc.schemas import MAX_NAME_CHARS, Voice, VoiceImport, VoiceList
from orchestrator_svc.tenancy import TenantVoices

MAX_LIST = 1000  # voices one list request returns at most (the routes' `limit` bound)


def voice_view(v: dict, with_embedding: bool = False) -> Voice:
    return Voice(id=v["id"], name=v["name"], source=v["source"], created_at=v["created_at"],
                 embedding=v["embedding"].tolist() if with_embedding else None)


async def enroll_audio(pipe: Pipeline, voices: TenantVoices, reference: bytes, filename: str | None,
                       name: str | None) -> Voice:
    if name and len(name) > MAX_NAME_CHARS:  # as a JSON import's (VoiceImport), not cut short unasked
        raise bad_request(f"name: {len(name)} characters exceed the {MAX_NAME_CHARS} limit")
    ref = await pipe.embed_audio_file(reference, filename or "reference", owner=voices.tenant.owner)
    name = str(name or filename or "voice")[:MAX_NAME_CHARS]  # a file's name may be longer
    voice = await run_blocking(voices.add, name, ref.embedding, "audio", hashlib.sha256(reference).hexdigest())
    return voice_view(voice)


async def import_embedding(store: TenantVoices, body: VoiceImport) -> Voice:
    emb = check_embedding(decode_array(body.embedding, "embedding", ndim=(1,)))
    return voice_view(await run_blocking(store.add, body.name, emb, "embedding"))


async def list_voices(store: TenantVoices, limit: int, offset: int) -> VoiceList:
    voices = await run_blocking(store.list, min(limit, MAX_LIST), offset)
    return VoiceList(voices=[voice_view(v) for v in voices])


async def find_voice(store: TenantVoices, voice_id: str) -> dict:
    voice = await run_blocking(store.get, voice_id)
    if voice is None:  # also another key's voice: as if it did not exist
        raise APIError(404, "voice_not_found", f"no voice with id {voice_id!r}")
    return voice


async def voice_embedding(store: TenantVoices, voice_id: str):
    return (await find_voice(store, voice_id))["embedding"]


async def delete_voice(store: TenantVoices, voice_id: str) -> None:
    if not await run_blocking(store.delete, voice_id):
        raise APIError(404, "voice_not_found", f"no voice with id {voice_id!r}")


async def rename_voice(store: TenantVoices, voice_id: str, name: str) -> Voice:
    voice = await run_blocking(store.rename, voice_id, name)
    if voice is None:
        raise APIError(404, "voice_not_found", f"no voice with id {voice_id!r}")
    return voice_view(voice)
