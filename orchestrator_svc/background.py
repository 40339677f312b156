"""The orchestrator's long-running tasks besides serving: job workers (SQLite queue), webhook delivery,
retention (JOB_TTL_S), and the feed that claims pending webhooks from the job store. /readyz reports any task that died."""
import asyncio
import logging

from common.outbound import OutboundPolicy
from orchestrator_svc.jobs.webhooks import WebhookQueue, WebhookSender

log = logging.getLogger("voxclone.background")


def outbound_policy(settings) -> OutboundPolicy:
    return OutboundPolicy(settings.outbound_allow, max_bytes=settings.max_upload_bytes)


def webhook_queue(settings, jobs) -> WebhookQueue:
    sender = WebhookSender(outbound_policy(settings), settings.webhook_secret,
                           deadline_s=settings.webhook_deadline_s)
    return WebhookQueue(sender, lambda jid, ok: jobs.set_webhook_status(jid, "delivered" if ok else "failed"),
                        jobs.release_webhook)


def webhook_lease_s(deadline_s: float) -> float:
    """How long a claimed delivery is this process's: one delivery waited for and its own, each at most
    WEBHOOK_DEADLINE_S (WebhookQueue.room), plus 30 s for the store calls around them. A process that dies
    holding one leaves it to be claimed again once this has passed."""
    return 2 * deadline_s + 30


def notifier(jobs, due: asyncio.Event):
    """What a job worker calls with a finished job: the webhook is kept in the store as pending (it survives
    a restart) and the feed is woken to claim it; never waits for the delivery."""
    async def notify(job: dict) -> None:
        if job["params"].get("webhook_url"):
            await asyncio.to_thread(jobs.hand_over_webhook, job)
            due.set()
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


async def webhook_feed(jobs, webhooks: WebhookQueue, lease_s: float, due: asyncio.Event,
                       poll_s: float = 1.0) -> None:
    """Claim pending deliveries from the job store (this process's jobs, Redis workers' jobs, and at start-up
    those a stopped or crashed orchestrator left) and hand them to the webhook tasks. Woken by `due`; polls
    every `poll_s` for deliveries handed over by other processes or whose sender's lease ran out."""
    while True:
        try:
            if room := webhooks.room():
                for item in await asyncio.to_thread(jobs.claim_webhooks, lease_s, room):
                    webhooks.submit(item["id"], item["url"], item["payload"])
        except Exception:
            log.exception("webhook feed error")
        try:
            await asyncio.wait_for(due.wait(), poll_s)
        except TimeoutError:
            pass
        due.clear()


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
        if self.webhooks is not None:
            await self.webhooks.stop()  # undelivered webhooks go back to the store for the next start
