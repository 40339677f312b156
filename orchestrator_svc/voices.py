"""Durable voice library and reference-audio embedding cache in SQLite (survives restarts)."""
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import numpy as np


class VoiceStore:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS voices (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, embedding BLOB NOT NULL,
                source TEXT NOT NULL, audio_sha256 TEXT, created_at REAL NOT NULL, meta TEXT);
            CREATE TABLE IF NOT EXISTS embedding_cache (
                audio_sha256 TEXT PRIMARY KEY, embedding BLOB NOT NULL, created_at REAL NOT NULL);
        """)
        columns = [r[1] for r in self._db.execute("PRAGMA table_info(voices)").fetchall()]
        if "owner" not in columns:  # libraries made before tenancy: their voices belong to no key ("")
            self._db.execute("ALTER TABLE voices ADD COLUMN owner TEXT NOT NULL DEFAULT ''")

    def _run(self, sql: str, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    COLUMNS = "id, name, embedding, source, audio_sha256, created_at, meta, owner"

    @staticmethod
    def _row(row) -> dict:
        vid, name, blob, source, sha, created, meta, owner = row
        return {"id": vid, "name": name, "embedding": np.frombuffer(blob, dtype="<f4").copy(), "source": source,
                "audio_sha256": sha, "created_at": created, "meta": json.loads(meta or "{}"), "owner": owner}

    def add(self, name: str, embedding: np.ndarray, source: str, audio_sha256: str | None = None,
            meta: dict | None = None, owner: str = "") -> dict:
        vid = "voice_" + uuid.uuid4().hex[:16]
        self._run(f"INSERT INTO voices ({self.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  (vid, name, np.asarray(embedding, dtype="<f4").tobytes(), source, audio_sha256, time.time(),
                   json.dumps(meta or {}), owner))
        return self.get(vid)

    def get(self, vid: str) -> dict | None:
        rows = self._run(f"SELECT {self.COLUMNS} FROM voices WHERE id = ?", (vid,))
        return self._row(rows[0]) if rows else None

    def list(self, limit: int = 100, offset: int = 0, owner: str | None = None) -> list[dict]:
        """Voices in creation order; `owner` None: everyone's (admin), else that owner's only."""
        where, args = ("", ()) if owner is None else ("WHERE owner = ? ", (owner,))
        rows = self._run(f"SELECT {self.COLUMNS} FROM voices {where}ORDER BY created_at LIMIT ? OFFSET ?",
                         (*args, limit, offset))
        return [self._row(r) for r in rows]

    def rename(self, vid: str, name: str) -> dict | None:
        with self._lock:
            changed = self._db.execute("UPDATE voices SET name = ? WHERE id = ?", (name, vid)).rowcount > 0
        return self.get(vid) if changed else None

    def delete(self, vid: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM voices WHERE id = ?", (vid,)).rowcount > 0

    def cached_embedding(self, audio_sha256: str) -> np.ndarray | None:
        rows = self._run("SELECT embedding FROM embedding_cache WHERE audio_sha256 = ?", (audio_sha256,))
        return np.frombuffer(rows[0][0], dtype="<f4").copy() if rows else None

    def cache_embedding(self, audio_sha256: str, embedding: np.ndarray) -> None:
        self._run("INSERT OR REPLACE INTO embedding_cache VALUES (?, ?, ?)",
                  (audio_sha256, np.asarray(embedding, dtype="<f4").tobytes(), time.time()))

    def close(self):
        self._db.close()
