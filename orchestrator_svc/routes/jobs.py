"""Asynchronous clone jobs: POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/jobs/{id}/result."""
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import RedirectResponse, Response

from orchestrator_svc import job_api
from orchestrator_svc.deps import Authorized, Jobs, Results, Settings, read_upload
from orchestrator_svc.schemas import AudioFormat, Backend, JobView
from orchestrator_svc.speaking import check_text

router = APIRouter(tags=["jobs"], dependencies=[Authorized])


@router.post("/v1/jobs", status_code=202, response_model=JobView)
async def submit_job(jobs: Jobs, results: Results, settings: Settings, reference_audio: UploadFile = File(...),
                     text: str = Form(...), format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                     seed: int | None = Form(None), webhook_url: str | None = Form(None)):
    """Queue a clone (same inputs as /v1/clone); poll `GET /v1/jobs/{id}` or get a signed webhook."""
    check_text(settings, text)
    data = await read_upload(reference_audio, settings.max_upload_bytes)
    return await job_api.submit_job(jobs, results, settings, data, reference_audio.filename, text, format,
                                    vocoder, seed, webhook_url)


@router.get("/v1/jobs/{job_id}", response_model=JobView)
async def job_status(job_id: str, jobs: Jobs, results: Results):
    return await job_api.job_status(jobs, results, job_id)


@router.get("/v1/jobs/{job_id}/result", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}, 307: {"description": "presigned S3 URL"}})
async def job_result(job_id: str, jobs: Jobs, results: Results):
    """The job's audio; with S3 storage, a redirect to a presigned URL."""
    result = await job_api.job_result(jobs, results, job_id)
    if result.redirect_url:
        return RedirectResponse(result.redirect_url, status_code=307)
    return Response(result.data, media_type=result.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{result.filename}"'})
