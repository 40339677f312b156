"""Typed dependencies of the orchestrator's routes: everything comes from the one `Orchestrator` the app
built at start-up (orchestrator_svc.wiring)."""
from typing import Annotated

from fastapi import Depends, Request, UploadFile

from common.errors import APIError, bad_request
from common.outbound import fetch_bytes
from common.service import make_auth_dependency
from orchestrator_svc.jobs.stores import JobStore, ResultStore
from orchestrator_svc.pipeline import Pipeline
from orchestrator_svc.settings import OrchestratorSettings
from orchestrator_svc.tenancy import Tenant, TenantVoices, current_tenant
from orchestrator_svc.wiring import Orchestrator


def get_orchestrator(request: Request) -> Orchestrator:
    return request.app.state.orchestrator


def get_settings(request: Request) -> OrchestratorSettings:
    return request.app.state.settings


def get_pipeline(parts: Annotated[Orchestrator, Depends(get_orchestrator)]) -> Pipeline:
    return parts.pipeline


def get_voice_store(request: Request, parts: Annotated[Orchestrator, Depends(get_orchestrator)]) -> TenantVoices:
    """The library as the caller's key sees it (tenancy)."""
    return TenantVoices(parts.voices, current_tenant(request))


def get_job_store(parts: Annotated[Orchestrator, Depends(get_orchestrator)]) -> JobStore:
    return parts.jobs


def get_result_store(parts: Annotated[Orchestrator, Depends(get_orchestrator)]) -> ResultStore:
    return parts.results


async def require_api_key(request: Request) -> None:
    """The envelope middleware checks keys before routing; this keeps the check on the routers themselves, so a
    route is never open because of where it was mounted."""
    await make_auth_dependency(request.app.state.settings)(request)


Settings = Annotated[OrchestratorSettings, Depends(get_settings)]
Pipe = Annotated[Pipeline, Depends(get_pipeline)]
Voices = Annotated[TenantVoices, Depends(get_voice_store)]
Caller = Annotated[Tenant, Depends(current_tenant)]
Jobs = Annotated[JobStore, Depends(get_job_store)]
Results = Annotated[ResultStore, Depends(get_result_store)]
Parts = Annotated[Orchestrator, Depends(get_orchestrator)]
Authorized = Depends(require_api_key)


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise APIError(413, "payload_too_large", f"upload exceeds {max_bytes} bytes")
    return data


async def reference_of(parts: Orchestrator, upload, url: str | None, field: str) -> tuple[bytes, str]:
    """The reference audio as bytes and a file name: an upload, or fetched from `reference_url` under the
    outbound-URL policy with the same size limit."""
    if (upload is None or isinstance(upload, str)) == (not url):
        raise bad_request(f"give either `{field}` (a file) or `reference_url`, not both or neither")
    if url:
        return await fetch_bytes(parts.outbound, url, "reference_url"), "reference"
    return await read_reference(upload, parts.settings.max_upload_bytes, field), upload.filename or "reference"


async def read_reference(upload: UploadFile, max_bytes: int, field: str) -> bytes:
    """An uploaded reference: within the upload limit (413) and not empty (422, before any stage is asked)."""
    data = await read_upload(upload, max_bytes)
    if not data:
        raise bad_request(f"{field}: the uploaded file is empty")
    return data
