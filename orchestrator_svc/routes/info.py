"""GET /v1/info: versions, stage replica counts, queue and limits; never URLs, keys or paths."""
import platform

from fastapi import APIRouter

from orchestrator_svc.deps import Authorized, Parts
from orchestrator_svc.schemas import OrchestratorInfo

router = APIRouter(tags=["ops"], dependencies=[Authorized])


@router.get("/v1/info", response_model=OrchestratorInfo)
async def info(parts: Parts):
    s, p = parts.settings, parts.pipeline
    return OrchestratorInfo(
        version="0.1.0", python=platform.python_version(),
        stages={pool.stage: len(pool.urls) for pool in (p.encoder, p.synthesizer, p.vocoder)},
        job_queue="redis" if s.redis_jobs else "sqlite", job_workers=0 if s.redis_jobs else s.job_workers,
        job_ttl_s=s.job_ttl_s, webhooks_enabled=bool(s.webhook_secret), auth_required=bool(s.key_list()),
        limits={"max_upload_bytes": s.max_upload_bytes, "max_text_chars": s.max_text_chars,
                "max_audio_seconds": s.max_audio_seconds},
        accents=await p.served_accents())
