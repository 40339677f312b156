"""A separate job-worker process: `python -m orchestrator_svc.worker` (same settings as the orchestrator).
Run as many as you like. SQLite queue: share DATA_DIR; jobs are claimed atomically with a lease. Redis queue
(REDIS_URL): an rq worker; it can run on any host that reaches Redis and the stages."""
import asyncio
import logging
import signal

from common.logs import configure_logging
from orchestrator_svc import background
from orchestrator_svc.app import OrchestratorSettings, build_pipeline
from orchestrator_svc.jobs import JobStore, worker_loop
from orchestrator_svc.results import make_results

log = logging.getLogger("voxclone.worker")


async def main(settings: OrchestratorSettings, concurrency: int = 1) -> None:
    configure_logging("worker", settings.log_level)
    pipeline, client = build_pipeline(settings)
    store = JobStore(settings.data_dir, lease_s=settings.job_lease_s, max_attempts=settings.job_max_attempts)
    results = make_results(settings)
    tasks = background.Background()
    tasks.start_webhooks(background.webhook_queue(settings, store))
    notify = background.notifier(store, tasks.webhooks)
    for _ in range(concurrency):
        tasks.add("job_workers", worker_loop(store, results, pipeline, notify, asyncio.Event()))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("worker started", extra={"data_dir": settings.data_dir})
    try:
        await stopping.wait()
    finally:
        await tasks.stop()  # a job in progress is released: queued again at once for another worker
        await client.aclose()
        store.close()
        pipeline.store.close()


if __name__ == "__main__":
    settings = OrchestratorSettings()
    if settings.redis_jobs:
        from orchestrator_svc.redis_jobs import run_worker
        configure_logging("worker", settings.log_level)
        run_worker(settings)
    else:
        asyncio.run(main(settings))
