"""Jobs through Redis (REDIS_URL): an rq queue, worker processes on any host, results in Redis or S3.

The job's public record (what GET /v1/jobs/{id} shows) is a Redis hash of ours; rq only moves the work. rq
gives the durability: an accepted job sits in the queue until a worker takes it, and a worker that dies
mid-job (its execution heartbeat expires: job_monitoring_interval + 60 s) has the job retried by whichever
worker runs the next maintenance pass. Workers run as separate processes: `python -m orchestrator_svc.worker`.
"""
import asyncio
import json
import logging
import time
import uuid

from redis import Redis
from rq import Queue, Retry, Worker, get_current_job
from rq.exceptions import AbandonedJobError
from rq.registry import StartedJobRegistry

from common.errors import APIError
from orchestrator_svc.jobs import render_clone
from orchestrator_svc.results import make_results
from orchestrator_svc.webhooks import payload_of

log = logging.getLogger("voxclone.jobs")
QUEUE_NAME = "voxclone-clone"
WEBHOOKS_KEY = "voxclone:webhooks"            # outcomes waiting for delivery by the web process's webhook tasks
EXPIRING_KEY = "voxclone:results:expiring"   # result name -> when it is to be deleted (for S3; Redis expires its own)
FIELDS = ["id", "status", "params", "created_at", "updated_at", "attempts", "error", "result", "webhook_status"]


class RedisJobStore:
    def __init__(self, redis: Redis, ttl_s: int = 7 * 86400, max_attempts: int = 3, timeout_s: float = 600.0):
        self.redis, self.ttl_s, self.max_attempts, self.timeout_s = redis, ttl_s, max_attempts, timeout_s
        self.queue = Queue(QUEUE_NAME, connection=redis)

    @staticmethod
    def _key(jid: str) -> str:
        return f"voxclone:job:{jid}"

    @property
    def open_ttl_s(self) -> int:
        """Expiry of a queued or running job's record and upload: JOB_TTL_S counts from the end of a job, so
        an unfinished one is kept as long as all its attempts could take, and then JOB_TTL_S."""
        return int(self.ttl_s + self.timeout_s * (self.max_attempts + 1))

    def _update(self, jid: str, **fields) -> None:
        if not self.redis.exists(self._key(jid)):
            return  # expired: never bring back half a record
        fields["updated_at"] = time.time()
        finished = fields.get("status") in ("succeeded", "failed")
        with self.redis.pipeline() as p:
            p.hset(self._key(jid), mapping={k: "" if v is None else v for k, v in fields.items()})
            if finished:
                p.expire(self._key(jid), self.ttl_s)
            p.execute()

    def create(self, reference: bytes, params: dict) -> str:
        jid = "job_" + uuid.uuid4().hex[:20]
        now = time.time()
        with self.redis.pipeline() as p:  # record and reference land together, before any worker can look
            p.set(self._key(jid) + ":ref", reference, ex=self.open_ttl_s)
            p.hset(self._key(jid), mapping={"id": jid, "status": "queued", "params": json.dumps(params),
                                            "created_at": now, "updated_at": now, "attempts": 0})
            p.expire(self._key(jid), self.open_ttl_s)
            p.execute()
        self.queue.enqueue(run_clone_job, jid, job_id=jid, retry=Retry(max=self.max_attempts - 1),
                           on_failure=on_job_failure, job_timeout=int(self.timeout_s), result_ttl=3600,
                           failure_ttl=self.ttl_s)
        return jid

    def get(self, jid: str) -> dict | None:
        raw = self.redis.hgetall(self._key(jid))
        if not raw:
            return None
        job = {k.decode(): v.decode() for k, v in raw.items()}
        if "params" not in job:
            return None  # a fragment left by an update racing the record's expiry
        out = {f: job.get(f) or None for f in FIELDS}
        out.update(params=json.loads(job["params"]), created_at=float(job["created_at"]),
                   updated_at=float(job["updated_at"]), attempts=int(job.get("attempts") or 0))
        return out

    def reference(self, jid: str) -> bytes:
        return self.redis.get(self._key(jid) + ":ref")

    def start_attempt(self, jid: str) -> None:
        self.redis.hincrby(self._key(jid), "attempts", 1)
        self._update(jid, status="running")

    def succeed(self, jid: str, result: str) -> None:
        self._update(jid, status="succeeded", result=result, error=None)
        self.redis.zadd(EXPIRING_KEY, {result: time.time() + self.ttl_s})
        self.redis.delete(self._key(jid) + ":ref")  # the upload is not needed once the job is over

    def fail(self, jid: str, error: str, final: bool) -> None:
        self._update(jid, status="failed" if final else "queued", error=error)
        if final:
            self.redis.delete(self._key(jid) + ":ref")

    def sweep(self, ttl_s: float, delete_result) -> int:
        """Delete results whose JOB_TTL_S has passed (they may live in S3, which does not expire them); job
        records and references expire in Redis by themselves."""
        names = [n.decode() for n in self.redis.zrangebyscore(EXPIRING_KEY, 0, time.time())]
        for name in names:
            delete_result(name)
            self.redis.zrem(EXPIRING_KEY, name)
        return len(names)

    def hand_over_webhook(self, job: dict) -> None:
        self._update(job["id"], webhook_status="pending")
        self.redis.rpush(WEBHOOKS_KEY, json.dumps({"id": job["id"], "url": job["params"]["webhook_url"],
                                                   "payload": payload_of(job)}))

    def next_webhook(self, timeout_s: float = 1.0) -> dict | None:
        item = self.redis.blpop([WEBHOOKS_KEY], timeout=timeout_s)
        return json.loads(item[1]) if item else None

    def set_webhook_status(self, jid: str, status: str) -> None:
        self._update(jid, webhook_status=status)

    def depth(self) -> int:
        return self.queue.count + StartedJobRegistry(queue=self.queue).count

    def workers(self) -> int:
        return Worker.count(queue=self.queue)

    def close(self) -> None:
        self.redis.close()


def _settings():
    from orchestrator_svc.app import OrchestratorSettings
    return OrchestratorSettings()


def store_for(redis: Redis, settings) -> RedisJobStore:
    return RedisJobStore(redis, settings.job_ttl_s, settings.job_max_attempts, settings.job_lease_s)


def _finish(store: RedisJobStore, settings, jid: str) -> None:
    """Hand the outcome to the webhook tasks (in the orchestrator): a slow receiver never holds this worker."""
    job = store.get(jid)
    if job and job["params"].get("webhook_url"):
        store.hand_over_webhook(job)


def run_clone_job(jid: str) -> str | None:
    """rq job function, run in the worker's forked work-horse."""
    from orchestrator_svc.app import build_pipeline
    settings, redis = _settings(), get_current_job().connection
    store = store_for(redis, settings)
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
        store.fail(jid, exc.message, final=True)  # a 4xx would fail the same way again
        _finish(store, settings, jid)
        return None
    name = f"{jid}.{params['format']}"
    make_results(settings, redis).put(name, audio)
    store.succeed(jid, name)
    _finish(store, settings, jid)
    return name


def on_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """rq failure callback: an exception in the job, a timeout, or a worker that died (AbandonedJobError)."""
    settings = _settings()
    store = store_for(connection, settings)
    if exc_type is AbandonedJobError:
        message = "the worker stopped mid-job"
    elif isinstance(exc_value, APIError):
        message = exc_value.message
    else:
        message = f"internal error: {exc_type.__name__}"
    final = not job.retries_left  # rq retries after this callback while retries are left
    store.fail(job.id, message, final=final)
    log.warning("job attempt failed", extra={"job": job.id, "error": message, "final": final})
    if final:
        _finish(store, settings, job.id)


def run_worker(settings) -> None:
    """A blocking rq worker for the clone queue (SIGTERM: finish the current job, then stop)."""
    redis = Redis.from_url(settings.redis_url)
    worker = Worker([Queue(QUEUE_NAME, connection=redis)], connection=redis,
                    worker_ttl=settings.job_worker_ttl_s, job_monitoring_interval=settings.job_monitoring_interval_s,
                    maintenance_interval=settings.job_maintenance_interval_s)
    log.info("rq worker started", extra={"queue": QUEUE_NAME})
    worker.work(logging_level=settings.log_level)
