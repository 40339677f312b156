"""A job's work (embed the reference, speak, store the audio, send the webhook) and the SQLite worker loop.

Store and result calls block (SQLite, files, Redis, S3), so they run with run_blocking: the loop keeps
serving requests while a worker inside the orchestrator records a job.
"""
import asyncio
import logging

import httpx

from common.errors import APIError
from common.metrics import QUEUE_DEPTH
from common.service import run_blocking
from orchestrator_svc.jobs.sqlite_store import SQLiteJobStore
from orchestrator_svc.jobs.stores import JobStore, ResultStore
from orchestrator_svc.jobs.webhooks import send_webhook, webhook_payload

log = logging.getLogger("voxclone.jobs")


async def render_clone(pipeline, reference: bytes, params: dict) -> bytes:
    """The job's work: embed the reference, speak the text, encode in the requested format."""
    emb, _ = await pipeline.embed_audio_file(reference, params.get("filename", "reference"))
    audio = await pipeline.speak_encoded(params["text"], emb, params["format"], params.get("vocoder"),
                                         seed=params.get("seed"))
    return audio.data


def result_name(job_id: str, params: dict) -> str:
    return f"{job_id}.{params['format']}"


async def deliver_outcome(store: JobStore, client: httpx.AsyncClient, job_id: str, webhook_secret: str) -> None:
    """POST the final outcome to the job's webhook, if it has one, and record whether that worked."""
    job = await run_blocking(store.get, job_id)
    if job and job["params"].get("webhook_url"):
        ok = await send_webhook(client, job["params"]["webhook_url"], webhook_payload(job), webhook_secret)
        await run_blocking(store.set_webhook_status, job_id, "delivered" if ok else "failed")


async def run_one(store: JobStore, results: ResultStore, pipeline, job: dict, client: httpx.AsyncClient,
                  webhook_secret: str) -> None:
    """One claimed attempt of `job` (SQLite queue)."""
    params, jid = job["params"], job["id"]
    try:
        name = result_name(jid, params)
        audio = await render_clone(pipeline, await run_blocking(store.reference, jid), params)
        await run_blocking(results.put, name, audio)
        await run_blocking(store.succeed, jid, name)
    except APIError as exc:
        # 5xx (a stage down or failing) is worth another try later; a 4xx would fail again the same way.
        await run_blocking(store.fail, jid, exc.message, exc.status >= 500)
    except Exception as exc:  # a job must never take the worker down
        log.exception("job failed", extra={"job": jid})
        await run_blocking(store.fail, jid, f"internal error: {type(exc).__name__}", True)
    final = await run_blocking(store.get, jid)
    if final["status"] == "queued":
        return  # re-queued for another attempt; the webhook waits for the outcome
    await deliver_outcome(store, client, jid, webhook_secret)


async def worker_loop(store: SQLiteJobStore, results: ResultStore, pipeline, client: httpx.AsyncClient,
                      webhook_secret: str, stop: asyncio.Event, poll_s: float = 0.5) -> None:
    while not stop.is_set():
        QUEUE_DEPTH.labels("orchestrator", "jobs").set(await run_blocking(store.depth))
        job = await run_blocking(store.claim)
        if job is None:
            try:
                await asyncio.wait_for(stop.wait(), poll_s)
            except TimeoutError:
                pass
            continue
        await run_one(store, results, pipeline, job, client, webhook_secret)
