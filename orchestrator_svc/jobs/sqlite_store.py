"""The default job queue: durable in SQLite under DATA_DIR, reference audio beside it.

A job is claimed with a lease; a worker that dies (or an orchestrator restart) leaves the lease to expire
and the job is claimed again, so no accepted job is lost. Workers run inside the orchestrator
(`JOB_WORKERS`) and/or as separate processes (`python -m orchestrator_svc.worker`) on the same DATA_DIR.
Every method blocks (SQLite, files): async callers run them with run_blocking.
"""
import json
import sqlite3
import threading
import time
from pathlib import Path

from orchestrator_svc.jobs.stores import JOB_FIELDS, new_job_id

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

    def _one(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchone()

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
        job["params"] = json.loads(job["params"])
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
