"""A job's work (embed the reference, speak, store the audio) and the SQLite worker loop. Webhooks are not
sent from here: a job hands its outcome to `notify` (orchestrator_svc.background: the webhook tasks).

Store and result calls block (SQLite, files, Redis, S3), so they run with run_blocking: the loop keeps
serving requests while a worker inside the orchestrator records a job.
"""
import asyncio
import logging

from common.errors import APIError
from common.metrics import QUEUE_DEPTH
from common.service import run_blocking
from common.voicing import Voicing
from orchestrator_svc.jobs.sqlite_store import SQLiteJobStore
from orchestrator_svc.jobs.stores import JobStore, ResultStore

log = logging.getLogger("voxclone.jobs")


async def render_clone(pipeline, reference: bytes, params: dict) -> bytes:
    """The job's work: embed the reference, speak the text, encode in the requested format."""
    ref = await pipeline.embed_audio_file(reference, params.get("filename", "reference"),
                                          owner=params.get("owner", ""))
    speech = await pipeline.speak_encoded(params["text"], ref.embedding, params["format"], params.get("vocoder"),
                                          seed=params.get("seed"), voicing=Voicing.from_job_params(params))
    return speech.audio.data


def job_reference(store: JobStore, job_id: str) -> bytes:
    """The job's stored reference audio. Gone (it expired, or its record did) is a 410: no later attempt finds
    it either, so the job fails at once instead of being retried (rq retried it as an internal error)."""
    reference = store.reference(job_id)
    if reference is None:
        raise APIError(410, "reference_expired", "the job's reference audio has expired (JOB_TTL_S) before it ran")
    return reference


def result_name(job_id: str, params: dict) -> str:
    return f"{job_id}.{params['format']}"


async def run_one(store: JobStore, results: ResultStore, pipeline, job: dict, notify) -> None:
    """One claimed attempt of `job` (SQLite queue); the outcome goes to the store, then to `await notify(job)`."""
    params, jid = job["params"], job["id"]
    try:
        name = result_name(jid, params)
        audio = await render_clone(pipeline, await run_blocking(job_reference, store, jid), params)
        await run_blocking(results.put, name, audio)
        await run_blocking(store.succeed, jid, name)
    except APIError as exc:
        # 5xx (a stage down or failing) is worth another try later; a 4xx would fail again the same way.
        await run_blocking(store.fail, jid, exc.message, exc.status >= 500)
    except Exception as exc:
        log.exception("job failed", extra={"job": jid})
        await run_blocking(store.fail, jid, f"internal error: {type(exc).__name__}", True)
    final = await run_blocking(store.get, jid)
    if final is not None and final["status"] != "queued":  # re-queued: the webhook waits for the outcome
        try:
            await notify(final)
        except Exception:
            log.exception("webhook hand-over failed", extra={"job": jid})


async def worker_loop(store: SQLiteJobStore, results: ResultStore, pipeline, notify, stop: asyncio.Event,
                      poll_s: float = 0.5) -> None:
    """Claim and run jobs until `stop`. Nothing one job (or the store) raises ends the loop; cancelled
    mid-job (shutdown), the job is released at once for another worker instead of waiting out its lease."""
    while not stop.is_set():
        job = claiming = None
        try:
            QUEUE_DEPTH.labels("orchestrator", "jobs").set(await run_blocking(store.depth))
            claiming = asyncio.ensure_future(run_blocking(store.claim))
            job = await asyncio.shield(claiming)
            if job is not None:
                await run_one(store, results, pipeline, job, notify)
                continue
        except asyncio.CancelledError:
            if job is None and claiming is not None:
                job = await claiming  # the claim finishes in its thread either way: give back what it took
            if job is not None:
                store.release(job["id"])
                log.info("job released at shutdown", extra={"job": job["id"]})
            raise
        except Exception:
            log.exception("job worker error", extra={"job": job and job["id"]})
            if job is not None:
                _fail_quietly(store, job["id"])
        try:
            await asyncio.wait_for(stop.wait(), poll_s)
        except TimeoutError:
            pass


def _fail_quietly(store: SQLiteJobStore, jid: str) -> None:
    try:
        store.fail(jid, "internal error while handling the job", retry=True)
    except Exception:
        log.exception("could not record job failure", extra={"job": jid})
