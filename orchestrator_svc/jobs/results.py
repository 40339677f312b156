"""Where finished job audio lives (the ResultStore implementations): local disk (default), Redis (with the
Redis queue), or S3-compatible storage.

Each store keeps bytes under a name such as `job_x.wav`; S3 also hands out presigned URLs so clients download
straight from the bucket instead of through the orchestrator.
"""
from pathlib import Path

from common.audio_io import FORMATS


def media_type(name: str) -> str:
    fmt = FORMATS.get(name.rsplit(".", 1)[-1])
    return fmt[2] if fmt else "application/octet-stream"


class DiskResults:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, name: str, data: bytes) -> None:
        tmp = self.root / (name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(self.root / name)  # readers never see half a file

    def get(self, name: str) -> bytes | None:
        path = self.root / name
        return path.read_bytes() if path.is_file() else None

    def url(self, name: str) -> str | None:
        return None


class RedisResults:
    """Results in Redis itself, so workers on other hosts need no shared disk; they expire after `ttl_s`."""

    def __init__(self, redis, ttl_s: int, prefix: str = "voxclone:result:"):
        self.redis, self.ttl_s, self.prefix = redis, ttl_s, prefix

    def put(self, name: str, data: bytes) -> None:
        self.redis.set(self.prefix + name, data, ex=self.ttl_s)

    def get(self, name: str) -> bytes | None:
        return self.redis.get(self.prefix + name)

    def url(self, name: str) -> str | None:
        return None


class S3Results:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None,
                 url_expires_s: int = 3600, client=None):
        import boto3  # optional dependency: only needed when S3_BUCKET is set

        self.bucket, self.prefix, self.url_expires_s = bucket, prefix, url_expires_s
        self.s3 = client or boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)

    def put(self, name: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data, ContentType=media_type(name))

    def get(self, name: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None

    def url(self, name: str) -> str | None:
        return self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self.prefix + name},
                                              ExpiresIn=self.url_expires_s)
