"""Typed dependencies of the orchestrator's routes: everything comes from the one `Orchestrator` the app
built at start-up (orchestrator_svc.wiring)."""
from typing import Annotated

from fastapi import Depends, Request, UploadFile

from common.errors import APIError
from common.service import make_auth_dependency
from orchestrator_svc.jobs.stores import JobStore, ResultStore
from orchestrator_svc.pipeline import Pipeline
from orchestrator_svc.settings import OrchestratorSettings
from orchestrator_svc.voices import VoiceStore
from orchestrator_svc.wiring import Orchestrator


def get_orchestrator(request: Request) -> Orchestrator:
    return request.app.state.orchestrator


def get_settings(request: Request) -> OrchestratorSettings:
    return request.app.state.settings


def get_pipeline(parts: Annotated[Orchestrator, Depends(get_orchestrator)]) -> Pipeline:
    return parts.pipeline


def get_voice_store(parts: Annotated[Orchestrator, Depends(get_orchestrator)]) -> VoiceStore:
    return parts.voices


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
Voices = Annotated[VoiceStore, Depends(get_voice_store)]
Jobs = Annotated[JobStore, Depends(get_job_store)]
Results = Annotated[ResultStore, Depends(get_result_store)]
Authorized = Depends(require_api_key)


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise APIError(413, "payload_too_large", f"upload exceeds {max_bytes} bytes")
    return data
