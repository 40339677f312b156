"""What rq workers run for the Redis queue (`python -m orchestrator_svc.worker` with REDIS_URL set).

`run_clone_job` runs in the worker's forked work-horse; `on_job_failure` is rq's failure callback. rq does the
retrying (Retry(max=JOB_MAX_ATTEMPTS - 1)); our job record follows it through `RedisJobStore.fail`.
"""
import asyncio
import logging

from redis import Redis
from rq import Queue, Worker, get_current_job
from rq.exceptions import AbandonedJobError

from common.errors import APIError
from orchestrator_svc.jobs.redis_store import QUEUE_NAME, RedisJobStore
from orchestrator_svc.jobs.runner import job_reference, render_clone, result_name
from orchestrator_svc.settings import OrchestratorSettings
from orchestrator_svc.wiring import build_pipeline, make_job_store, make_results

log = logging.getLogger("voxclone.jobs")


def _finish(store: RedisJobStore, settings: OrchestratorSettings, jid: str) -> None:
    """Hand the outcome to the webhook tasks (in the orchestrator): a slow receiver never holds this worker."""
    job = store.get(jid)
    if job and job["params"].get("webhook_url"):
        store.hand_over_webhook(job)


def run_clone_job(jid: str) -> str | None:
    """rq job function, run in the worker's forked work-horse."""
    settings, redis = OrchestratorSettings(), get_current_job().connection
    store = make_job_store(settings, redis)
    job = store.get(jid)
    if job is None:  # the record expired while queued: nobody can be told, nothing to do
        log.warning("job record expired before it ran", extra={"job": jid})
        return None
    store.start_attempt(jid)
    params = job["params"]

    async def clone(reference: bytes) -> bytes:
        pipeline, client = build_pipeline(settings)
        try:
            return await render_clone(pipeline, reference, params)
        finally:
            await client.aclose()
            pipeline.store.close()

    try:
        audio = asyncio.run(clone(job_reference(store, jid)))
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


RQ_HEARTBEAT_MARGIN_S = 60  # what rq's Worker.get_heartbeat_ttl adds (rq 2.x and 3.0)


class ReleasingWorker(Worker):
    """An rq worker that gives its job back on SIGTERM/SIGINT instead of finishing it: the work-horse is
    killed, the job goes back to the front of the queue (out of the started registry, so no heartbeat has to
    expire) and our record to `queued` with the attempt uncounted, so another worker takes it at once.
    rq's own warm shutdown would hold a deploy for the whole job (minutes for a long text), and a cold one
    leaves the job `running` until rq's abandoned-job check (job_monitoring_interval + heartbeat grace) and
    counts a failed attempt."""

    releasing: str | None = None
    # rq adds a fixed 60 s to job_monitoring_interval for a running job's heartbeat; a setting here, so a
    # deployment (and the restart test: 75 s -> about 15 s) can choose how soon a dead worker's job is retried.
    heartbeat_grace_s: int = 60

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return super().get_heartbeat_ttl(job, working_time) - RQ_HEARTBEAT_MARGIN_S + self.heartbeat_grace_s

    def subscribe(self):
        """rq's own, with the command listener polling every second instead of every 60 s: redis-py 8's
        PubSubWorkerThread.stop() waits for the thread, so a stopping worker hung up to 60 s in teardown after
        releasing its job (the SIGTERM test timed out at 20 s), past a deploy's usual 30 s grace."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=1, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)

    def request_stop(self, signum, frame):
        job_id = self.get_current_job_id()
        if job_id is None or not self.horse_pid:
            return super().request_stop(signum, frame)  # idle: stop now
        log.info("releasing job at shutdown", extra={"job": job_id})
        self.releasing, self._stop_requested = job_id, True
        self.kill_horse()  # monitor_work_horse sees it die and calls handle_job_failure: released there

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        if job.id != self.releasing:
            return super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        with self.connection.pipeline() as pipeline:
            self.cleanup_execution(job, pipeline=pipeline, execution=execution)
            pipeline.execute()
        queue.enqueue_job(job, at_front=True)  # its own transaction (rq's enqueue WATCHes dependencies)
        make_job_store(OrchestratorSettings(), self.connection).release(job.id)
        log.info("job released at shutdown", extra={"job": job.id})


def run_worker(settings: OrchestratorSettings) -> None:
    """A blocking rq worker for the clone queue (SIGTERM: release the current job, then stop)."""
    redis = Redis.from_url(settings.redis_url)
    worker = ReleasingWorker([Queue(QUEUE_NAME, connection=redis)], connection=redis,
                             worker_ttl=settings.job_worker_ttl_s,
                             job_monitoring_interval=settings.job_monitoring_interval_s,
                             maintenance_interval=settings.job_maintenance_interval_s)
    worker.heartbeat_grace_s = settings.job_heartbeat_grace_s
    log.info("rq worker started", extra={"queue": QUEUE_NAME})
    worker.work(logging_level=settings.log_level)
