"""Job webhooks: signed (Stripe-style, with a timestamp), sent under the outbound-URL policy, and delivered by
their own tasks so a slow or silent receiver never holds a job worker.

Signature header: `X-Voxclone-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(WEBHOOK_SECRET, "<t>." + body)>`.
A receiver recomputes v1 and rejects a t older than its tolerance (verify_signature: 300 s), so a captured
delivery cannot be replayed later. Without WEBHOOK_SECRET webhooks are off: a signature under an empty key
could be forged by anyone.
"""
import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

from common.errors import APIError
from common.outbound import OutboundError, OutboundPolicy

log = logging.getLogger("voxclone.webhooks")
SIGNATURE_HEADER = "X-Voxclone-Signature"
NO_SECRET = ("webhooks are disabled on this server: the operator has not set WEBHOOK_SECRET (deliveries "
             "could not be signed); submit without webhook_url and poll the job's status_url")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: float = 300.0,
                     now: float | None = None) -> bool:
    """What a receiver does: recompute the MAC and refuse stale timestamps (replays)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), f"t={timestamp},v1={parts['v1']}")


def check_webhook_url(url: str | None, secret: str, policy: OutboundPolicy) -> str | None:
    """Submission-time checks: webhooks enabled, URL well-formed and not a refused address literal."""
    if not url:
        return None
    if not secret:
        raise APIError(422, "webhooks_disabled", NO_SECRET)
    policy.check(url, "webhook_url")
    return url


def payload_of(job: dict) -> dict:
    done = job["status"] == "succeeded"
    return {"id": job["id"], "status": job["status"], "error": job["error"],
            "result_path": f"/v1/jobs/{job['id']}/result" if done else None}


def delivery_of(job: dict) -> dict:
    """A pending delivery as the job stores hand it out (claim_webhooks)."""
    return {"id": job["id"], "url": job["params"]["webhook_url"], "payload": payload_of(job)}


class WebhookSender:
    def __init__(self, policy: OutboundPolicy, secret: str, attempts: int = 5, base_delay_s: float = 0.5,
                 deadline_s: float = 60.0):
        self.policy, self.secret, self.attempts = policy, secret, attempts
        self.base_delay_s, self.deadline_s = base_delay_s, deadline_s

    async def deliver(self, url: str, payload: dict) -> bool:
        """POST with exponential backoff, all attempts within `deadline_s`; never raises."""
        try:
            return await asyncio.wait_for(self._attempts(url, payload), self.deadline_s)
        except TimeoutError:
            log.info("webhook deadline passed", extra={"job": payload.get("id"), "deadline_s": self.deadline_s})
        except Exception:
            log.exception("webhook delivery error", extra={"job": payload.get("id")})
        return False

    async def _attempts(self, url: str, payload: dict) -> bool:
        body = json.dumps(payload, sort_keys=True).encode()
        for attempt in range(self.attempts):
            headers = {"content-type": "application/json", "X-Voxclone-Event": "job." + payload["status"],
                       SIGNATURE_HEADER: sign(self.secret, body, int(time.time()))}
            try:
                resp = await self.policy.request("POST", url, content=body, headers=headers)
                if resp.status_code < 300:
                    return True
                reason = f"status {resp.status_code}"
            except OutboundError as exc:
                reason = exc.reason
            log.info("webhook attempt failed", extra={"job": payload.get("id"), "attempt": attempt,
                                                      "reason": reason})
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.base_delay_s * 2 ** attempt)
        return False


class WebhookQueue:
    """In-process delivery: `concurrency` tasks send what the feed (orchestrator_svc.background) claimed
    from the job store. `record(job_id, delivered)` stores the outcome (the job's `webhook` field: delivered /
    failed); `release(job_id)` gives an undelivered one back to the store when this process stops."""

    def __init__(self, sender: WebhookSender, record: Callable[[str, bool], None],
                 release: Callable[[str], None], concurrency: int = 4):
        self.sender, self.record, self.release, self.concurrency = sender, record, release, concurrency
        self.pending: asyncio.Queue = asyncio.Queue()
        self.outstanding: set[str] = set()  # claimed here and not yet recorded: waiting or being sent
        self.tasks: list[asyncio.Task] = []

    def start(self) -> "WebhookQueue":
        self.tasks = [asyncio.create_task(self._run(), name=f"webhook-{i}") for i in range(self.concurrency)]
        return self

    def room(self) -> int:
        """How many more deliveries to claim: two per task, so one waits at most one delivery (and the
        store's lease covers the wait plus the sending)."""
        return max(0, 2 * self.concurrency - len(self.outstanding))

    def submit(self, job_id: str, url: str, payload: dict) -> None:
        self.outstanding.add(job_id)
        self.pending.put_nowait((job_id, url, payload))

    def _record(self, job_id: str, delivered: bool) -> None:
        try:
            self.record(job_id, delivered)
        except Exception:
            log.exception("could not record webhook outcome", extra={"job": job_id})

    async def _run(self) -> None:
        while True:
            job_id, url, payload = await self.pending.get()
            delivered = await self.sender.deliver(url, payload)
            await asyncio.to_thread(self._record, job_id, delivered)
            self.outstanding.discard(job_id)

    def alive(self) -> bool:
        return all(not t.done() for t in self.tasks)

    async def stop(self) -> None:
        """Stop sending; what was claimed and not delivered goes back to the store for the next start."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for job_id in list(self.outstanding):
            try:
                await asyncio.to_thread(self.release, job_id)
            except Exception:
                log.exception("could not give back a pending webhook", extra={"job": job_id})
        self.outstanding.clear()
