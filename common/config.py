"""Settings shared by every service, from environment variables (12-factor, `$PORT`)."""
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, description="listening port; Heroku-style platforms set $PORT")
    log_level: str = "INFO"
    api_keys: str = Field("", description="comma-separated keys; empty disables authentication")
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS; '*' for any")
    max_upload_bytes: int = 20 * 1024 * 1024
    max_header_bytes: int = Field(32 * 1024, description="larger request headers get 431")
    max_text_chars: int = 2000
    max_audio_seconds: float = 120.0
    max_mel_frames: int = 20000
    rate_limit: str = Field("", description="per-key limit such as '60/minute'; empty disables")
    auth_failure_limit: str = Field("20/minute", description="failed key checks per client address before every "
                                                             "keyed request from it gets 429; empty disables")
    stage_api_key: str = Field("", description="the key stage-to-stage calls carry: accepted as a key and never "
                                               "counted by RATE_LIMIT")
    compute_deadline_s: float = Field(300.0, description="model work per request is abandoned after this (504); "
                                                         "0: no deadline")
    redis_url: str = ""
    torch_threads: int = 0

    def key_list(self) -> list[str]:
        """Keys accepted on this service: API_KEYS, plus STAGE_API_KEY when keys are required at all."""
        keys = [k.strip() for k in self.api_keys.split(",") if k.strip()]
        if keys and self.stage_api_key and self.stage_api_key not in keys:
            keys.append(self.stage_api_key)
        return keys

    def origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


class StageSettings(ServiceSettings):
    """What the three stages (encoder, synthesizer, vocoder) share beyond every service's settings."""
    # 4 at once: the synthesizer interleaves the turns of the requests it runs (synthesizer_svc.work), so a
    # short request admitted beside long ones waits about one turn, not for them; the model thread runs one
    # call at a time anyway, so more running requests only stretch every one's wait between turns.
    max_concurrent: int = Field(4, ge=1, description="requests doing model work at once; more wait in the queue")
    # Queue time counts against COMPUTE_DEADLINE_S, so a longer queue than the running requests can drain
    # within it only turns waits into 504s; past the queue, a client is told at once (503 busy, Retry-After).
    max_queued: int = Field(16, ge=0, description="requests waiting for a slot; beyond, 503 busy with Retry-After")
