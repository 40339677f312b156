"""Durable asynchronous clone jobs: the default SQLite queue and the clone itself.

A job is claimed with a lease; a worker that dies (or an orchestrator restart) leaves the lease to expire
and the job is claimed again, so no accepted job is lost. Workers run inside the orchestrator
(`JOB_WORKERS`) and/or as separate processes (`python -m orchestrator_svc.worker`) on the same DATA_DIR.
With REDIS_URL set, orchestrator_svc.redis_jobs replaces the queue (rq) and this module's clone function is
reused there. Webhooks are not sent from here: a job hands its outcome to `notify` (orchestrator_svc.webhooks).
"""
import asyncio
import json
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from common.metrics import QUEUE_DEPTH

log = logging.getLogger("voxclone.jobs")


class JobStore:
    def __init__(self, data_dir: str | Path, lease_s: float = 600.0, max_attempts: int = 3):
        self.root = Path(data_dir) / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.lease_s, self.max_attempts = lease_s, max_attempts
        self._db = sqlite3.connect(str(Path(data_dir) / "jobs.sqlite3"), check_same_thread=False,
                                   isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY, status TEXT NOT NULL, params TEXT NOT NULL, created_at REAL NOT NULL,
            updated_at REAL NOT NULL, lease_until REAL, attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT, result TEXT, webhook_status TEXT)""")

    def _one(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def create(self, reference: bytes, params: dict) -> str:
        jid = "job_" + uuid.uuid4().hex[:20]
        (self.root / f"{jid}.ref").write_bytes(reference)
        now = time.time()
        self._one("INSERT INTO jobs (id, status, params, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                  (jid, json.dumps(params), now, now))
        return jid

    def get(self, jid: str) -> dict | None:
        row = self._one("SELECT id, status, params, created_at, updated_at, attempts, error, result, webhook_status "
                        "FROM jobs WHERE id = ?", (jid,))
        if row is None:
            return None
        keys = ["id", "status", "params", "created_at", "updated_at", "attempts", "error", "result", "webhook_status"]
        job = dict(zip(keys, row))
        try:
            job["params"] = json.loads(job["params"])
        except ValueError:  # a damaged record: the job fails (as an internal error) instead of the worker
            log.error("unreadable job record", extra={"job": jid})
            job["params"] = {"unreadable": True}
        return job

    def claim(self) -> dict | None:
        """Take the oldest queued job, or one whose worker's lease ran out (it died mid-job)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) "
                    "ORDER BY created_at LIMIT 1", (now,)).fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                self._db.execute("UPDATE jobs SET status = 'running', lease_until = ?, attempts = attempts + 1, "
                                 "updated_at = ? WHERE id = ?", (now + self.lease_s, now, row[0]))
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise
        return self.get(row[0])

    def reference(self, jid: str) -> bytes:
        return (self.root / f"{jid}.ref").read_bytes()

    def succeed(self, jid: str, result: str) -> None:
        self._one("UPDATE jobs SET status = 'succeeded', result = ?, updated_at = ?, lease_until = NULL WHERE id = ?",
                  (result, time.time(), jid))
        self._drop_reference(jid)

    def fail(self, jid: str, error: str, retry: bool) -> None:
        job = self.get(jid)
        status = "queued" if retry and job and job["attempts"] < self.max_attempts else "failed"
        self._one("UPDATE jobs SET status = ?, error = ?, updated_at = ?, lease_until = NULL WHERE id = ?",
                  (status, error, time.time(), jid))
        if status == "failed":
            self._drop_reference(jid)

    def release(self, jid: str) -> None:
        """Give a running job back (worker shutting down): queued again at once, the attempt not counted."""
        self._one("UPDATE jobs SET status = 'queued', lease_until = NULL, attempts = MAX(attempts - 1, 0), "
                  "updated_at = ? WHERE id = ? AND status = 'running'", (time.time(), jid))

    def _drop_reference(self, jid: str) -> None:
        (self.root / f"{jid}.ref").unlink(missing_ok=True)  # the upload is not needed once the job is over

    def sweep(self, ttl_s: float, delete_result) -> int:
        """Forget finished jobs older than `ttl_s`: result first (`delete_result(name)`), then the record, so a
        failure leaves the record to try again on the next pass. Returns how many were forgotten."""
        cutoff = time.time() - ttl_s
        rows = self._all("SELECT id, result FROM jobs WHERE status IN ('succeeded', 'failed') AND updated_at < ?",
                         (cutoff,))
        for jid, result in rows:
            if result:
                delete_result(result)
            self._drop_reference(jid)
            self._one("DELETE FROM jobs WHERE id = ?", (jid,))
        return len(rows)

    def set_webhook_status(self, jid: str, status: str) -> None:
        self._one("UPDATE jobs SET webhook_status = ? WHERE id = ?", (status, jid))

    def depth(self) -> int:
        return self._one("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")[0]

    def close(self):
        self._db.close()


async def render_clone(pipeline, reference: bytes, params: dict) -> bytes:
    """The job's work: embed the reference, speak the text, encode in the requested format."""
    emb, _ = await pipeline.embed_audio_file(reference, params.get("filename", "reference"),
                                             owner=params.get("owner", ""))
    data, _, _, _ = await pipeline.speak_encoded(params["text"], emb, params["format"], params.get("vocoder"),
                                                 seed=params.get("seed"))
    return data


async def run_one(store: JobStore, results, pipeline, job: dict, notify) -> None:
    """One attempt at one job; its outcome goes to the store, then to `await notify(job)` (the webhook queue)."""
    from common.errors import APIError
    params, jid = job["params"], job["id"]
    try:
        name = f"{jid}.{params['format']}"
        audio = await render_clone(pipeline, await asyncio.to_thread(store.reference, jid), params)
        await asyncio.to_thread(results.put, name, audio)
        await asyncio.to_thread(store.succeed, jid, name)
    except APIError as exc:
        # 5xx (a stage down or failing) is worth another try later; a 4xx would fail again the same way.
        await asyncio.to_thread(store.fail, jid, exc.message, exc.status >= 500)
    except Exception as exc:  # noqa: BLE001 - a job must never take the worker down
        log.exception("job failed", extra={"job": jid})
        await asyncio.to_thread(store.fail, jid, f"internal error: {type(exc).__name__}", True)
    final = await asyncio.to_thread(store.get, jid)
    if final is not None and final["status"] != "queued":  # re-queued: the webhook waits for the outcome
        try:
            await notify(final)
        except Exception:  # noqa: BLE001 - the job's outcome is stored; only its webhook is lost
            log.exception("webhook hand-over failed", extra={"job": jid})


async def worker_loop(store: JobStore, results, pipeline, notify, stop: asyncio.Event, poll_s: float = 0.5) -> None:
    """Claim and run jobs until `stop`. Nothing one job (or the store) raises ends the loop; cancelled
    mid-job (shutdown), the job is released at once for another worker instead of waiting out its lease."""
    while not stop.is_set():
        job = claiming = None
        try:
            QUEUE_DEPTH.labels("orchestrator", "jobs").set(await asyncio.to_thread(store.depth))
            claiming = asyncio.ensure_future(asyncio.to_thread(store.claim))
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
        except Exception:  # noqa: BLE001 - logged; the worker goes on with the next job
            log.exception("job worker error", extra={"job": job and job["id"]})
            if job is not None:
                _fail_quietly(store, job["id"])
        try:
            await asyncio.wait_for(stop.wait(), poll_s)
        except TimeoutError:
            pass


def _fail_quietly(store: JobStore, jid: str) -> None:
    try:
        store.fail(jid, "internal error while handling the job", retry=True)
    except Exception:  # noqa: BLE001 - the store itself is failing; the lease will expire instead
        log.exception("could not record job failure", extra={"job": jid})
