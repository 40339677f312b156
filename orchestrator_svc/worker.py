"""A separate job-worker process: `python -m orchestrator_svc.worker` (same settings as the orchestrator).
Run as many as you like. SQLite queue: share DATA_DIR; jobs are claimed atomically with a lease. Redis queue
(REDIS_URL): an rq worker; it can run on any host that reaches Redis and the stages."""
import asyncio
import logging
import signal

from common.logs import configure_logging
from orchestrator_svc import wiring
from orchestrator_svc.settings import OrchestratorSettings

log = logging.getLogger("voxclone.worker")


async def main(settings: OrchestratorSettings, concurrency: int = 1) -> None:
    """SQLite queue workers in this process until SIGTERM/SIGINT."""
    configure_logging("worker", settings.log_level)
    parts = wiring.build(settings.model_copy(update={"job_workers": concurrency}))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, parts.stop_workers.set)
    log.info("worker started", extra={"data_dir": settings.data_dir})
    try:
        await asyncio.gather(*parts.workers)
    finally:
        await parts.aclose()


if __name__ == "__main__":
    settings = OrchestratorSettings()
    if settings.redis_jobs:
        from orchestrator_svc.jobs.rq_tasks import run_worker
        configure_logging("worker", settings.log_level)
        run_worker(settings)
    else:
        asyncio.run(main(settings))
