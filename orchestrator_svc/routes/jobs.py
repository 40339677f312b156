"""Asynchronous clone jobs: POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/jobs/{id}/result."""
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import RedirectResponse, Response

from common.accents import ACCENT_DESCRIPTION, Accent
from common.outbound import MAX_URL_CHARS
from common.voicing import Voicing, speaker_emphasis_form
from common.wire import SEED_MAX
from orchestrator_svc import job_api
from orchestrator_svc.deps import Authorized, Caller, Jobs, Parts, Results, Settings, reference_of
from orchestrator_svc.jobs.webhooks import check_webhook_url
from orchestrator_svc.schemas import SPOKEN_TEXT, URL, AudioFormat, Backend, JobView
from orchestrator_svc.speaking import check_text

router = APIRouter(tags=["jobs"], dependencies=[Authorized])


@router.post("/v1/jobs", status_code=202, response_model=JobView)
async def submit_job(jobs: Jobs, results: Results, settings: Settings, parts: Parts, caller: Caller,
                     reference_audio: UploadFile | None = File(None),
                     text: str = Form(..., json_schema_extra=SPOKEN_TEXT),
                     format: AudioFormat = Form("wav"), vocoder: Backend | None = Form(None),
                     seed: int | None = Form(None, ge=0, le=SEED_MAX),
                     webhook_url: str | None = Form(None, max_length=MAX_URL_CHARS, json_schema_extra=URL),
                     reference_url: str | None = Form(None, max_length=MAX_URL_CHARS, json_schema_extra=URL),
                     accent: Accent = Form("auto", description=ACCENT_DESCRIPTION),
                     speaker_emphasis: float | None = speaker_emphasis_form()):
    """Queue a clone (same inputs as /v1/clone); poll `GET /v1/jobs/{id}` or get a signed webhook."""
    check_text(settings, text)
    check_webhook_url(webhook_url, settings.webhook_secret, parts.outbound)
    data, filename = await reference_of(parts, reference_audio, reference_url, "reference_audio")
    return await job_api.submit_job(jobs, results, settings, data, filename, text, format,
                                    vocoder, seed, webhook_url, caller.owner,
                                    Voicing(accent, speaker_emphasis))


@router.get("/v1/jobs/{job_id}", response_model=JobView)
async def job_status(job_id: str, jobs: Jobs, results: Results, caller: Caller):
    return await job_api.job_status(jobs, results, job_id, caller)


@router.get("/v1/jobs/{job_id}/result", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}, 307: {"description": "presigned S3 URL"}})
async def job_result(job_id: str, jobs: Jobs, results: Results, caller: Caller):
    """The job's audio; with S3 storage, a redirect to a presigned URL."""
    result = await job_api.job_result(jobs, results, job_id, caller)
    if result.redirect_url:
        return RedirectResponse(result.redirect_url, status_code=307)
    return Response(result.data, media_type=result.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{result.filename}"'})
