import uvicorn

from orchestrator_svc.app import create
from orchestrator_svc.settings import OrchestratorSettings

if __name__ == "__main__":
    settings = OrchestratorSettings()
    uvicorn.run(create(settings), host=settings.host, port=settings.port, log_config=None)
