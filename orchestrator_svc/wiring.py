"""Builds the orchestrator's parts once from its settings: stage clients, pipeline, voice store, job and result
stores. The web app (at start-up), the SQLite worker process and the rq tasks all build them here."""
import asyncio
from dataclasses import dataclass, field

import httpx

from common.outbound import OutboundPolicy
from orchestrator_svc.background import (
    Background,
    notifier,
    outbound_policy,
    retention_loop,
    webhook_feed,
    webhook_lease_s,
    webhook_queue,
)
from orchestrator_svc.clients import StagePool
from orchestrator_svc.jobs.results import DiskResults, RedisResults, S3Results
from orchestrator_svc.jobs.stores import JobStore, ResultStore
from orchestrator_svc.pipeline import Pipeline
from orchestrator_svc.settings import OrchestratorSettings
from orchestrator_svc.voices import VoiceStore


def build_pipeline(settings: OrchestratorSettings, mounts: dict | None = None) -> tuple[Pipeline, httpx.AsyncClient]:
    """The stage clients and voice store; the caller closes the client and `pipeline.store`. `mounts` (URL ->
    httpx transport) lets tests wire the stage apps in the same process (httpx.ASGITransport)."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(settings.stage_timeout_s, connect=5.0), mounts=mounts,
                               limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
    pools = {name: StagePool(name, urls, client, retries=settings.stage_retries, api_key=settings.stage_api_key)
             for name, urls in settings.stage_urls().items()}
    store = VoiceStore(f"{settings.data_dir}/voices.sqlite3")
    return Pipeline(pools["encoder"], pools["synthesizer"], pools["vocoder"], store), client


def connect_redis(settings: OrchestratorSettings):
    if not settings.redis_url:
        raise RuntimeError("JOB_QUEUE=redis needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
    from redis import Redis
    return Redis.from_url(settings.redis_url)


def make_job_store(settings: OrchestratorSettings, redis=None) -> JobStore:
    """The Redis record + rq queue when `redis` is given, else the SQLite queue in DATA_DIR."""
    if redis is not None:
        from orchestrator_svc.jobs.redis_store import RedisJobStore
        return RedisJobStore(redis, settings.job_ttl_s, settings.job_max_attempts, settings.job_lease_s)
    from orchestrator_svc.jobs.sqlite_store import SQLiteJobStore
    return SQLiteJobStore(settings.data_dir, lease_s=settings.job_lease_s, max_attempts=settings.job_max_attempts)


def make_results(settings: OrchestratorSettings, redis=None) -> ResultStore:
    """S3 when S3_BUCKET is set; else Redis when the Redis queue is used; else DATA_DIR/jobs."""
    if settings.s3_bucket:
        return S3Results(settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url, settings.s3_region,
                         settings.s3_url_expires_s)
    if redis is not None:
        return RedisResults(redis, settings.job_ttl_s)
    return DiskResults(f"{settings.data_dir}/jobs")


@dataclass
class Orchestrator:
    """Everything a request or a job needs, built once per process."""
    settings: OrchestratorSettings
    pipeline: Pipeline
    client: httpx.AsyncClient
    jobs: JobStore
    results: ResultStore
    background: Background = field(default_factory=Background)
    stop_workers: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def voices(self) -> VoiceStore:
        return self.pipeline.store

    @property
    def outbound(self) -> OutboundPolicy:
        return outbound_policy(self.settings)

    async def aclose(self) -> None:
        self.stop_workers.set()
        await self.background.stop()  # a job worker cancelled mid-job releases it for another worker at once
        await self.client.aclose()
        self.voices.close()
        self.jobs.close()


def build(settings: OrchestratorSettings, mounts: dict | None = None) -> Orchestrator:
    """Call on the event loop (in-process SQLite workers are tasks on it)."""
    pipeline, client = build_pipeline(settings, mounts)
    redis = connect_redis(settings) if settings.redis_jobs else None
    parts = Orchestrator(settings, pipeline, client, make_job_store(settings, redis), make_results(settings, redis))
    tasks = parts.background
    tasks.start_webhooks(webhook_queue(settings, parts.jobs))
    tasks.add("retention", retention_loop(parts.jobs, parts.results, settings.job_ttl_s))
    # Pending webhooks live in the job store: this process's, Redis workers', and those left by a restart.
    due = asyncio.Event()
    tasks.add("webhook_feed", webhook_feed(parts.jobs, tasks.webhooks, webhook_lease_s(settings.webhook_deadline_s),
                                           due))
    if redis is not None:
        return parts  # Redis jobs run in separate worker processes (python -m orchestrator_svc.worker)
    from orchestrator_svc.jobs.runner import worker_loop
    notify = notifier(parts.jobs, due)
    for _ in range(settings.job_workers):
        tasks.add("job_workers", worker_loop(parts.jobs, parts.results, pipeline, notify, parts.stop_workers))
    return parts
