"""The orchestrator's long-running tasks besides serving: job workers (SQLite queue), webhook delivery,
retention (JOB_TTL_S), and feeding webhooks handed over by Redis workers. /readyz reports any task that died."""
import asyncio
import logging

from common.outbound import OutboundPolicy
from orchestrator_svc.jobs.webhooks import WebhookQueue, WebhookSender, payload_of

log = logging.getLogger("voxclone.background")


def outbound_policy(settings) -> OutboundPolicy:
    return OutboundPolicy(settings.outbound_allow, max_bytes=settings.max_upload_bytes)


def webhook_queue(settings, jobs) -> WebhookQueue:
    sender = WebhookSender(outbound_policy(settings), settings.webhook_secret,
                           deadline_s=settings.webhook_deadline_s)
    return WebhookQueue(sender, lambda jid, ok: jobs.set_webhook_status(jid, "delivered" if ok else "failed"))


def notifier(jobs, webhooks: WebhookQueue):
    """What a job worker calls with a finished job: hand the webhook over, never wait for it."""
    async def notify(job: dict) -> None:
        url = job["params"].get("webhook_url")
        if url:
            await asyncio.to_thread(jobs.set_webhook_status, job["id"], "pending")
            webhooks.submit(job["id"], url, payload_of(job))
    return notify


def sweep_interval_s(ttl_s: float) -> float:
    return max(0.5, min(300.0, ttl_s / 4))  # an expired job lives at most a quarter of its TTL longer


async def retention_loop(jobs, results, ttl_s: float) -> None:
    """Delete finished jobs' records, uploads and results once JOB_TTL_S has passed."""
    while True:
        try:
            await asyncio.to_thread(jobs.sweep, ttl_s, results.delete)
        except Exception:
            log.exception("retention sweep failed")
        await asyncio.sleep(sweep_interval_s(ttl_s))


async def redis_webhook_feed(jobs, webhooks: WebhookQueue) -> None:
    """Redis workers push finished jobs' webhooks to a list; this process's webhook tasks deliver them."""
    while True:
        try:
            item = await asyncio.to_thread(jobs.next_webhook, 1.0)
            if item:
                webhooks.submit(item["id"], item["url"], item["payload"])
        except Exception:
            log.exception("webhook feed error")
            await asyncio.sleep(1.0)


class Background:
    def __init__(self):
        self.tasks: dict[str, list[asyncio.Task]] = {}
        self.webhooks: WebhookQueue | None = None

    def add(self, kind: str, coro) -> None:
        self.tasks.setdefault(kind, []).append(asyncio.create_task(coro, name=kind))

    def start_webhooks(self, webhooks: WebhookQueue) -> None:
        self.webhooks = webhooks.start()
        self.tasks["webhooks"] = webhooks.tasks

    def check(self) -> dict:
        """Readiness: every task still running (a finished or crashed one is a dead worker)."""
        dead = {kind: sum(t.done() for t in tasks) for kind, tasks in self.tasks.items()}
        return {"ok": not any(dead.values()),
                "tasks": {kind: len(tasks) for kind, tasks in self.tasks.items()},
                "dead": {kind: n for kind, n in dead.items() if n}}

    async def stop(self) -> None:
        everything = [t for tasks in self.tasks.values() for t in tasks]
        for task in everything:
            task.cancel()  # job workers release their job (queued again at once) when cancelled
        await asyncio.gather(*everything, return_exceptions=True)
