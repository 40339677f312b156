import uvicorn

from encoder_svc.app import EncoderSettings, create

if __name__ == "__main__":
    settings = EncoderSettings()
    uvicorn.run(create(settings), host=settings.host, port=settings.port, log_config=None)
