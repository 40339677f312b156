"""Durable asynchronous clone jobs: the default SQLite queue, the clone itself, signed webhooks.

A job is claimed with a lease; a worker that dies (or an orchestrator restart) leaves the lease to expire
and the job is claimed again, so no accepted job is lost. Workers run inside the orchestrator
(`JOB_WORKERS`) and/or as separate processes (`python -m orchestrator_svc.worker`) on the same DATA_DIR.
With REDIS_URL set, orchestrator_svc.redis_jobs replaces the queue (rq) and this module's clone and webhook
functions are reused there.
"""
import asyncio
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import httpx

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
        job["params"] = json.loads(job["params"])
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

    def fail(self, jid: str, error: str, retry: bool) -> None:
        job = self.get(jid)
        status = "queued" if retry and job and job["attempts"] < self.max_attempts else "failed"
        self._one("UPDATE jobs SET status = ?, error = ?, updated_at = ?, lease_until = NULL WHERE id = ?",
                  (status, error, time.time(), jid))

    def set_webhook_status(self, jid: str, status: str) -> None:
        self._one("UPDATE jobs SET webhook_status = ? WHERE id = ?", (status, jid))

    def depth(self) -> int:
        return self._one("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")[0]

    def close(self):
        self._db.close()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def send_webhook(client: httpx.AsyncClient, url: str, payload: dict, secret: str, attempts: int = 5,
                       base_delay: float = 0.5) -> bool:
    """POST the job's outcome, signed with HMAC-SHA256 (X-Voxclone-Signature); exponential backoff."""
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"content-type": "application/json", "X-Voxclone-Signature": sign(secret, body),
               "X-Voxclone-Event": "job." + payload["status"]}
    for attempt in range(attempts):
        try:
            resp = await client.post(url, content=body, headers=headers, timeout=10)
            if resp.status_code < 300:
                return True
        except httpx.HTTPError:
            pass
        await asyncio.sleep(base_delay * 2 ** attempt)
    return False


def webhook_payload(job: dict) -> dict:
    done = job["status"] == "succeeded"
    return {"id": job["id"], "status": job["status"], "error": job["error"],
            "result_path": f"/v1/jobs/{job['id']}/result" if done else None}


async def render_clone(pipeline, reference: bytes, params: dict) -> bytes:
    """The job's work: embed the reference, speak the text, encode in the requested format."""
    emb, _ = await pipeline.embed_audio_file(reference, params.get("filename", "reference"))
    out = await pipeline.speak_encoded(params["text"], emb, params["format"], params.get("vocoder"),
                                       seed=params.get("seed"))
    return out.data


async def run_one(store: JobStore, results, pipeline, job: dict, client: httpx.AsyncClient,
                  webhook_secret: str) -> None:
    from common.errors import APIError
    params, jid = job["params"], job["id"]
    try:
        name = f"{jid}.{params['format']}"
        results.put(name, await render_clone(pipeline, store.reference(jid), params))
        store.succeed(jid, name)
    except APIError as exc:
        # 5xx (a stage down or failing) is worth another try later; a 4xx would fail again the same way.
        store.fail(jid, exc.message, retry=exc.status >= 500)
    except Exception as exc:  # a job must never take the worker down
        log.exception("job failed", extra={"job": jid})
        store.fail(jid, f"internal error: {type(exc).__name__}", retry=True)
    final = store.get(jid)
    if final["status"] == "queued":
        return  # re-queued for another attempt; the webhook waits for the outcome
    if params.get("webhook_url"):
        ok = await send_webhook(client, params["webhook_url"], webhook_payload(final), webhook_secret)
        store.set_webhook_status(jid, "delivered" if ok else "failed")


async def worker_loop(store: JobStore, results, pipeline, client: httpx.AsyncClient, webhook_secret: str,
                      stop: asyncio.Event, poll_s: float = 0.5) -> None:
    while not stop.is_set():
        QUEUE_DEPTH.labels("orchestrator", "jobs").set(store.depth())
        job = await asyncio.to_thread(store.claim)
        if job is None:
            try:
                await asyncio.wait_for(stop.wait(), poll_s)
            except TimeoutError:
                pass
            continue
        await run_one(store, results, pipeline, job, client, webhook_secret)
