"""One APIRouter per area of the orchestrator's API; app.py includes them all (ALL_ROUTERS).
A new route goes in its area's module and calls one plain function (speaking, voice_library, job_api)."""
from orchestrator_svc.routes.clone import router as clone_router
from orchestrator_svc.routes.jobs import router as jobs_router
from orchestrator_svc.routes.openai import router as openai_router
from orchestrator_svc.routes.pages import router as pages_router
from orchestrator_svc.routes.voices import router as voices_router

ALL_ROUTERS = (clone_router, voices_router, openai_router, jobs_router, pages_router)
