import uvicorn

from encoder_svc.app import create
from encoder_svc.settings import EncoderSettings

if __name__ == "__main__":
    settings = EncoderSettings()
    uvicorn.run(create(settings), host=settings.host, port=settings.port, log_config=None)
