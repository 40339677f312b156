"""What the job routes do, as plain functions: submit a clone job, show it, hand out its result.
Store calls block (SQLite, Redis, files, S3), so they run with run_blocking."""
from dataclasses import dataclass

from common.errors import APIError, bad_request
from common.service import run_blocking
from common.voicing import AS_SERVED, Voicing
from orchestrator_svc.jobs.results import media_type
from orchestrator_svc.jobs.stores import JobStore, ResultStore
from orchestrator_svc.schemas import JobView
from orchestrator_svc.settings import OrchestratorSettings
from orchestrator_svc.speaking import check_text, vocoder_choice
from orchestrator_svc.tenancy import SHARED, Tenant


@dataclass
class JobResult:
    """Either a URL to redirect to (presigned S3) or the audio itself."""
    redirect_url: str | None = None
    data: bytes | None = None
    media_type: str = "application/octet-stream"
    filename: str = ""


def job_view(job: dict, results: ResultStore) -> JobView:
    """Blocking (results.url may presign with S3)."""
    done = job["status"] == "succeeded"
    result_url = (results.url(job["result"]) or f"/v1/jobs/{job['id']}/result") if done else None
    return JobView(id=job["id"], status=job["status"], created_at=job["created_at"], updated_at=job["updated_at"],
                   attempts=job["attempts"], error=job["error"], status_url=f"/v1/jobs/{job['id']}",
                   result_url=result_url, webhook=job["webhook_status"])


async def submit_job(jobs: JobStore, results: ResultStore, settings: OrchestratorSettings, reference: bytes,
                     filename: str | None, text: str, fmt: str, vocoder: str | None, seed: int | None,
                     webhook_url: str | None, owner: str = "", voicing: Voicing = AS_SERVED) -> JobView:
    """`webhook_url` has passed jobs.webhooks.check_webhook_url; the job belongs to `owner` (tenancy)."""
    check_text(settings, text)
    if not reference:
        raise bad_request("reference_audio: the uploaded file is empty")
    params = {"text": text, "format": fmt, "vocoder": vocoder_choice(settings, vocoder), "seed": seed,
              "webhook_url": webhook_url or None, "filename": filename or "reference", "owner": owner,
              **voicing.job_params()}
    jid = await run_blocking(jobs.create, reference, params)
    return await run_blocking(job_view, await run_blocking(jobs.get, jid), results)


async def find_job(jobs: JobStore, job_id: str, caller: Tenant = SHARED) -> dict:
    job = await run_blocking(jobs.get, job_id)
    if job is None or not caller.sees(job["params"].get("owner")):  # another key's job: as if absent
        raise APIError(404, "job_not_found", f"no job with id {job_id!r}")
    return job


async def job_status(jobs: JobStore, results: ResultStore, job_id: str, caller: Tenant = SHARED) -> JobView:
    return await run_blocking(job_view, await find_job(jobs, job_id, caller), results)


async def job_result(jobs: JobStore, results: ResultStore, job_id: str, caller: Tenant = SHARED) -> JobResult:
    job = await find_job(jobs, job_id, caller)
    if job["status"] != "succeeded":
        raise APIError(409, "job_not_ready", f"job {job_id} is {job['status']}"
                       + (f": {job['error']}" if job["error"] else ""))
    url = await run_blocking(results.url, job["result"])
    if url:
        return JobResult(redirect_url=url)
    data = await run_blocking(results.get, job["result"])
    if data is None:
        raise APIError(410, "job_result_expired", f"the result of job {job_id} is no longer stored")
    return JobResult(data=data, media_type=media_type(job["result"]), filename=job["result"])
