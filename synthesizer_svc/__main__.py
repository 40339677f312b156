import uvicorn

from synthesizer_svc.app import create
from synthesizer_svc.settings import SynthesizerSettings

if __name__ == "__main__":
    settings = SynthesizerSettings()
    uvicorn.run(create(settings), host=settings.host, port=settings.port, log_config=None)
