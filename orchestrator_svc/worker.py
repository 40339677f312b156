"""A separate job-worker process: `python -m orchestrator_svc.worker` (same settings and DATA_DIR as the
orchestrator). Run as many as you like; jobs are claimed atomically with a lease."""
import asyncio
import logging
import signal

from common.logs import configure_logging
from orchestrator_svc.app import OrchestratorSettings, build_pipeline
from orchestrator_svc.jobs import JobStore, worker_loop

log = logging.getLogger("voxclone.worker")


async def main(settings: OrchestratorSettings, concurrency: int = 1) -> None:
    configure_logging("worker", settings.log_level)
    pipeline, client = build_pipeline(settings)
    store = JobStore(settings.data_dir, lease_s=settings.job_lease_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", extra={"data_dir": settings.data_dir})
    try:
        await asyncio.gather(*(worker_loop(store, pipeline, client, settings.webhook_secret, stop)
                               for _ in range(concurrency)))
    finally:
        await client.aclose()
        store.close()
        pipeline.store.close()


if __name__ == "__main__":
    asyncio.run(main(OrchestratorSettings()))
