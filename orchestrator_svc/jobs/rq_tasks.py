"""What rq workers run for the Redis queue (`python -m orchestrator_svc.worker` with REDIS_URL set).

`run_clone_job` runs in the worker's forked work-horse; `on_job_failure` is rq's failure callback. rq does the
retrying (Retry(max=JOB_MAX_ATTEMPTS - 1)); our job record follows it through `RedisJobStore.fail`.
"""
import asyncio
import logging

import httpx
from redis import Redis
from rq import Queue, Worker, get_current_job
from rq.exceptions import AbandonedJobError

from common.errors import APIError
from orchestrator_svc.jobs.redis_store import QUEUE_NAME, RedisJobStore
from orchestrator_svc.jobs.runner import deliver_outcome, render_clone, result_name
from orchestrator_svc.settings import OrchestratorSettings
from orchestrator_svc.wiring import build_pipeline, make_job_store, make_results

log = logging.getLogger("voxclone.jobs")


def _finish(store: RedisJobStore, settings: OrchestratorSettings, jid: str) -> None:
    async def deliver():
        async with httpx.AsyncClient() as client:
            await deliver_outcome(store, client, jid, settings.webhook_secret)
    asyncio.run(deliver())


def run_clone_job(jid: str) -> str | None:
    """rq job function, run in the worker's forked work-horse."""
    settings, redis = OrchestratorSettings(), get_current_job().connection
    store = make_job_store(settings, redis)
    store.start_attempt(jid)
    params = store.get(jid)["params"]

    async def clone() -> bytes:
        pipeline, client = build_pipeline(settings)
        try:
            return await render_clone(pipeline, store.reference(jid), params)
        finally:
            await client.aclose()
            pipeline.store.close()

    try:
        audio = asyncio.run(clone())
    except APIError as exc:
        if exc.status >= 500:
            raise  # rq retries it (on_job_failure records the outcome)
        store.fail(jid, exc.message, retry=False)  # a 4xx would fail the same way again
        _finish(store, settings, jid)
        return None
    name = result_name(jid, params)
    make_results(settings, redis).put(name, audio)
    store.succeed(jid, name)
    _finish(store, settings, jid)
    return name


def on_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """rq failure callback: an exception in the job, a timeout, or a worker that died (AbandonedJobError)."""
    settings = OrchestratorSettings()
    store = make_job_store(settings, connection)
    if exc_type is AbandonedJobError:
        message = "the worker stopped mid-job"
    elif isinstance(exc_value, APIError):
        message = exc_value.message
    else:
        message = f"internal error: {exc_type.__name__}"
    retry = bool(job.retries_left)  # rq retries after this callback while retries are left
    store.fail(job.id, message, retry=retry)
    log.warning("job attempt failed", extra={"job": job.id, "error": message, "final": not retry})
    if not retry:
        _finish(store, settings, job.id)


def run_worker(settings: OrchestratorSettings) -> None:
    """A blocking rq worker for the clone queue (SIGTERM: finish the current job, then stop)."""
    redis = Redis.from_url(settings.redis_url)
    worker = Worker([Queue(QUEUE_NAME, connection=redis)], connection=redis,
                    worker_ttl=settings.job_worker_ttl_s, job_monitoring_interval=settings.job_monitoring_interval_s,
                    maintenance_interval=settings.job_maintenance_interval_s)
    log.info("rq worker started", extra={"queue": QUEUE_NAME})
    worker.work(logging_level=settings.log_level)
