"""The default job queue: durable in SQLite under DATA_DIR, reference audio beside it.

A job is claimed with a lease; a worker that dies (or an orchestrator restart) leaves the lease to expire
and the job is claimed again, so no accepted job is lost. Workers run inside the orchestrator
(`JOB_WORKERS`) and/or as separate processes (`python -m orchestrator_svc.worker`) on the same DATA_DIR.
Every method blocks (SQLite, files): async callers run them with run_blocking.
"""
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path

from orchestrator_svc.jobs.stores import JOB_FIELDS, new_job_id
from orchestrator_svc.jobs.webhooks import delivery_of

log = logging.getLogger("voxclone.jobs")

_SELECT = f"SELECT {', '.join(JOB_FIELDS)} FROM jobs"


class SQLiteJobStore:
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
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "webhook_claimed_until" not in columns:  # a DATA_DIR from before pending webhooks were kept here
            self._db.execute("ALTER TABLE jobs ADD COLUMN webhook_claimed_until REAL")

    def _one(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def create(self, reference: bytes, params: dict) -> str:
        jid = new_job_id()
        (self.root / f"{jid}.ref").write_bytes(reference)
        now = time.time()
        self._one("INSERT INTO jobs (id, status, params, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
                  (jid, json.dumps(params), now, now))
        return jid

    def get(self, jid: str) -> dict | None:
        row = self._one(_SELECT + " WHERE id = ?", (jid,))
        if row is None:
            return None
        job = dict(zip(JOB_FIELDS, row))
        try:
            job["params"] = json.loads(job["params"])
        except ValueError:  # a damaged record: the job fails (as an internal error) instead of the worker
            log.error("unreadable job record", extra={"job": jid})
            job["params"] = {"unreadable": True}
        return job

    def _start(self, jid: str, now: float) -> None:
        self._db.execute("UPDATE jobs SET status = 'running', lease_until = ?, attempts = attempts + 1, "
                         "updated_at = ? WHERE id = ?", (now + self.lease_s, now, jid))

    def start_attempt(self, jid: str) -> None:
        with self._lock:
            self._start(jid, time.time())

    def claim(self) -> dict | None:
        """Take the oldest queued job, or one whose worker's lease ran out (it died mid-job), and start an
        attempt on it, in one transaction (several workers may share DATA_DIR)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) "
                    "ORDER BY created_at LIMIT 1", (now,)).fetchone()
                if row is not None:
                    self._start(row[0], now)
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise
        return None if row is None else self.get(row[0])

    def reference(self, jid: str) -> bytes | None:
        path = self.root / f"{jid}.ref"
        return path.read_bytes() if path.is_file() else None

    def succeed(self, jid: str, result: str) -> None:
        self._one("UPDATE jobs SET status = 'succeeded', result = ?, error = NULL, updated_at = ?, "
                  "lease_until = NULL WHERE id = ?", (result, time.time(), jid))
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
        rows = self._all("SELECT id, result FROM jobs WHERE status IN ('succeeded', 'failed') AND updated_at < ?",
                         (time.time() - ttl_s,))
        for jid, result in rows:
            if result:
                delete_result(result)
            self._drop_reference(jid)
            self._one("DELETE FROM jobs WHERE id = ?", (jid,))
        return len(rows)

    def hand_over_webhook(self, job: dict) -> None:
        self._one("UPDATE jobs SET webhook_status = 'pending', webhook_claimed_until = NULL WHERE id = ?",
                  (job["id"],))

    def claim_webhooks(self, lease_s: float, limit: int) -> list[dict]:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = [r[0] for r in self._db.execute(
                    "SELECT id FROM jobs WHERE webhook_status = 'pending' AND (webhook_claimed_until IS NULL "
                    "OR webhook_claimed_until < ?) ORDER BY updated_at LIMIT ?", (now, limit)).fetchall()]
                self._db.executemany("UPDATE jobs SET webhook_claimed_until = ? WHERE id = ?",
                                     [(now + lease_s, jid) for jid in ids])
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise
        return [delivery_of(job) for job in map(self.get, ids) if job is not None]

    def release_webhook(self, jid: str) -> None:
        self._one("UPDATE jobs SET webhook_claimed_until = NULL WHERE id = ? AND webhook_status = 'pending'", (jid,))

    def set_webhook_status(self, jid: str, status: str) -> None:
        self._one("UPDATE jobs SET webhook_status = ?, webhook_claimed_until = NULL WHERE id = ?", (status, jid))

    def depth(self) -> int:
        return self._one("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')")[0]

    def close(self):
        self._db.close()
