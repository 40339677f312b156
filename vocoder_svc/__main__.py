import uvicorn

from vocoder_svc.app import create
from vocoder_svc.settings import VocoderSettings

if __name__ == "__main__":
    settings = VocoderSettings()
    uvicorn.run(create(settings), host=settings.host, port=settings.port, log_config=None)
