"""Every orchestrator setting, from the environment (see README "Settings"), checked at start-up: a bad value
stops the process with a message naming the variable rather than failing the first request."""
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from common.config import ServiceSettings
from orchestrator_svc.schemas import Backend


def url_list(value: str) -> list[str]:
    """Comma-separated replica URLs -> list (empty entries dropped)."""
    return [u.strip() for u in value.split(",") if u.strip()]


class OrchestratorSettings(ServiceSettings):
    port: int = 8000
    encoder_urls: str = "http://127.0.0.1:8001"
    synthesizer_urls: str = "http://127.0.0.1:8002"
    vocoder_urls: str = "http://127.0.0.1:8003"
    stage_api_key: str = ""
    stage_timeout_s: float = Field(300.0, gt=0)
    stage_retries: int = Field(2, ge=0, le=10)
    data_dir: str = "var/orchestrator"
    default_vocoder: Backend | Literal[""] = Field(
        "", description="vocoder for requests that name none; empty: the vocoder service's own default")
    job_queue: Literal["auto", "sqlite", "redis"] = Field(
        "auto", description="auto: Redis (rq) when REDIS_URL is set, else SQLite in DATA_DIR")
    job_workers: int = Field(1, ge=0, description="SQLite queue: job workers inside this process (0: only "
                                                  "separate worker processes). The Redis queue always uses "
                                                  "separate workers.")
    job_lease_s: float = Field(600.0, gt=0, description="longest a job may run before it is taken to have died")
    job_max_attempts: int = Field(3, ge=1)
    job_ttl_s: int = Field(7 * 86400, gt=0, description="how long finished jobs' records and results are kept")
    job_worker_ttl_s: int = Field(60, gt=0, description="Redis: worker heartbeat; idle workers wake this often")
    job_monitoring_interval_s: int = Field(10, gt=0,
                                           description="Redis: a dead worker's job is retried this + "
                                                       "JOB_HEARTBEAT_GRACE_S later")
    job_heartbeat_grace_s: int = Field(60, gt=0, description="Redis: how long past a missed heartbeat a "
                                                             "running job is taken to be abandoned (rq's "
                                                             "fixed 60 s, made a setting)")
    job_maintenance_interval_s: int = Field(60, gt=0, description="Redis: how often workers look for abandoned jobs")
    webhook_secret: str = Field("", description="HMAC-SHA256 key for X-Voxclone-Signature on job webhooks; "
                                                "empty: webhooks are disabled (submissions with one get 422)")
    webhook_deadline_s: float = Field(60.0, gt=0, description="all attempts of one webhook delivery end by then")
    outbound_allow: str = Field("", description="networks (CIDR, comma-separated) that webhooks and "
                                                "reference_url may reach although not public, e.g. 10.0.0.0/8")
    admin_api_keys: str = Field("", description="keys that see every tenant's voices and jobs")
    s3_bucket: str = Field("", description="store job results in this S3(-compatible) bucket; presigned URLs")
    s3_prefix: str = "voxclone/"
    s3_endpoint_url: str = Field("", description="for S3-compatible stores (MinIO, Ceph, R2...)")
    s3_region: str = ""
    s3_url_expires_s: int = Field(3600, gt=0, le=7 * 86400)  # S3's presigned-URL maximum is 7 days

    @field_validator("encoder_urls", "synthesizer_urls", "vocoder_urls")
    @classmethod
    def _replica_urls(cls, value: str) -> str:
        urls = url_list(value)
        if not urls:
            raise ValueError("give at least one http(s) URL")
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http(s) URL with a host")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        from common.outbound import OutboundPolicy
        OutboundPolicy(value)  # raises naming OUTBOUND_ALLOW
        return value

    def admin_key_list(self) -> list[str]:
        return [k.strip() for k in self.admin_api_keys.split(",") if k.strip()]

    def key_list(self) -> list[str]:
        return super().key_list() + self.admin_key_list()

    @property
    def redis_jobs(self) -> bool:
        return self.job_queue == "redis" or (self.job_queue == "auto" and bool(self.redis_url))

    def stage_urls(self) -> dict[str, list[str]]:
        return {"encoder": url_list(self.encoder_urls), "synthesizer": url_list(self.synthesizer_urls),
                "vocoder": url_list(self.vocoder_urls)}
