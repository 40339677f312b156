"""Jobs through Redis (REDIS_URL): our record of each job in a Redis hash, the work moved by an rq queue.

rq gives the durability: an accepted job sits in the queue until a worker takes it, and a worker that dies
mid-job (its execution heartbeat expires: job_monitoring_interval + JOB_HEARTBEAT_GRACE_S) has the job
retried by whichever worker runs the next maintenance pass. The functions rq runs are in `rq_tasks`, named here by their dotted
path so this module needs nothing from the worker side (no import circle through the wiring).
"""
import json
import time

from redis import Redis
from rq import Callback, Queue, Retry, Worker
from rq.registry import StartedJobRegistry

from orchestrator_svc.jobs.stores import JOB_FIELDS, new_job_id
from orchestrator_svc.jobs.webhooks import delivery_of

QUEUE_NAME = "voxclone-clone"
RUN_TASK = "orchestrator_svc.jobs.rq_tasks.run_clone_job"
FAILURE_CALLBACK = "orchestrator_svc.jobs.rq_tasks.on_job_failure"
WEBHOOKS_KEY = "voxclone:webhooks:pending"   # job id -> its sender's lease end (0: unclaimed), until delivered
# Take up to ARGV[3] deliveries whose lease ended before ARGV[1] and lease them until ARGV[2], in one step, so
# two orchestrators never both take one.
CLAIM_SCRIPT = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""
EXPIRING_KEY = "voxclone:results:expiring"   # result name -> when it is to be deleted (for S3; Redis expires its own)


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
        with self.redis.pipeline() as p:
            p.hset(self._key(jid), mapping={k: "" if v is None else v for k, v in fields.items()})
            if fields.get("status") in ("succeeded", "failed"):
                p.expire(self._key(jid), self.ttl_s)
            p.execute()

    def create(self, reference: bytes, params: dict) -> str:
        jid = new_job_id()
        now = time.time()
        with self.redis.pipeline() as p:  # record and reference land together, before any worker can look
            p.set(self._key(jid) + ":ref", reference, ex=self.open_ttl_s)
            p.hset(self._key(jid), mapping={"id": jid, "status": "queued", "params": json.dumps(params),
                                            "created_at": now, "updated_at": now, "attempts": 0})
            p.expire(self._key(jid), self.open_ttl_s)
            p.execute()
        self.queue.enqueue(RUN_TASK, jid, job_id=jid, retry=Retry(max=self.max_attempts - 1),
                           on_failure=Callback(FAILURE_CALLBACK), job_timeout=int(self.timeout_s),
                           result_ttl=3600, failure_ttl=self.ttl_s)
        return jid

    def get(self, jid: str) -> dict | None:
        raw = self.redis.hgetall(self._key(jid))
        if not raw:
            return None
        job = {k.decode(): v.decode() for k, v in raw.items()}
        if "params" not in job:
            return None  # a fragment left by an update racing the record's expiry
        out = {f: job.get(f) or None for f in JOB_FIELDS}
        out.update(params=json.loads(job["params"]), created_at=float(job["created_at"]),
                   updated_at=float(job["updated_at"]), attempts=int(job.get("attempts") or 0))
        return out

    def reference(self, jid: str) -> bytes | None:
        return self.redis.get(self._key(jid) + ":ref")

    def start_attempt(self, jid: str) -> None:
        self.redis.hincrby(self._key(jid), "attempts", 1)
        self._update(jid, status="running")

    def succeed(self, jid: str, result: str) -> None:
        self._update(jid, status="succeeded", result=result, error=None)
        self.redis.zadd(EXPIRING_KEY, {result: time.time() + self.ttl_s})
        self.redis.delete(self._key(jid) + ":ref")  # the upload is not needed once the job is over

    def fail(self, jid: str, error: str, retry: bool) -> None:
        job = self.get(jid)
        again = retry and job is not None and job["attempts"] < self.max_attempts
        self._update(jid, status="queued" if again else "failed", error=error)
        if not again:
            self.redis.delete(self._key(jid) + ":ref")

    def release(self, jid: str) -> None:
        """Give a running job back (its worker is shutting down): queued again, the attempt not counted. The
        rq job itself is put back on the queue by the worker (rq_tasks.ReleasingWorker)."""
        job = self.get(jid)
        if job is not None and job["status"] == "running":
            self.redis.hset(self._key(jid), "attempts", max(job["attempts"] - 1, 0))
            self._update(jid, status="queued")

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
        self.redis.zadd(WEBHOOKS_KEY, {job["id"]: 0})

    def claim_webhooks(self, lease_s: float, limit: int) -> list[dict]:
        now = time.time()
        ids = [i.decode() for i in self.redis.eval(CLAIM_SCRIPT, 1, WEBHOOKS_KEY, now, now + lease_s, limit)]
        deliveries = []
        for jid in ids:
            job = self.get(jid)
            if job is None or not job["params"].get("webhook_url"):
                self.redis.zrem(WEBHOOKS_KEY, jid)  # the record expired: nothing left to tell
            else:
                deliveries.append(delivery_of(job))
        return deliveries

    def release_webhook(self, jid: str) -> None:
        self.redis.zadd(WEBHOOKS_KEY, {jid: 0}, xx=True)

    def set_webhook_status(self, jid: str, status: str) -> None:
        self._update(jid, webhook_status=status)
        self.redis.zrem(WEBHOOKS_KEY, jid)

    def depth(self) -> int:
        return self.queue.count + StartedJobRegistry(queue=self.queue).count

    def workers(self) -> int:
        return Worker.count(queue=self.queue)

    def close(self) -> None:
        self.redis.close()
