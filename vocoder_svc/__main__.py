import uvicorn

from vocoder_svc.app import VocoderSettings, create

if __name__ == "__main__":
    settings = VocoderSettings()
    uvicorn.run(create(settings), host=settings.host, port=settings.port, log_config=None)
