"""The two interfaces of the job system. Every implementation gives each method the same meaning, and
tests/test_job_stores.py runs one set of tests against all of them."""
from typing import Literal, Protocol

JobStatus = Literal["queued", "running", "succeeded", "failed"]
# A job is a dict with these keys (what GET /v1/jobs/{id} is built from).
JOB_FIELDS = ("id", "status", "params", "created_at", "updated_at", "attempts", "error", "result", "webhook_status")


def new_job_id() -> str:
    import uuid
    return "job_" + uuid.uuid4().hex[:20]


class JobStore(Protocol):
    max_attempts: int

    def create(self, reference: bytes, params: dict) -> str:
        """Store a queued job with its reference audio; return its id. The job can be run from now on."""

    def get(self, job_id: str) -> dict | None:
        """The job (JOB_FIELDS), or None when there is no such job."""

    def reference(self, job_id: str) -> bytes | None:
        """The reference audio the job was created with."""

    def start_attempt(self, job_id: str) -> None:
        """Mark the job running and count one more attempt."""

    def succeed(self, job_id: str, result: str) -> None:
        """Done: `result` names the audio in the ResultStore."""

    def fail(self, job_id: str, error: str, retry: bool) -> None:
        """This attempt failed with `error`. With `retry` the job is queued again while attempts are left
        (attempts < max_attempts), else (or without `retry`) it has failed for good."""

    def release(self, job_id: str) -> None:
        """Give a running job back (its worker is shutting down): queued again at once for another worker,
        the attempt not counted. No change unless the job is running."""

    def hand_over_webhook(self, job: dict) -> None:
        """The finished `job`'s webhook is due: kept as a pending delivery (webhook_status "pending") until
        set_webhook_status records its outcome, so a restart or a crash of the sender loses none."""

    def claim_webhooks(self, lease_s: float, limit: int) -> list[dict]:
        """Up to `limit` pending deliveries nobody holds (never claimed, released, or their sender's lease
        ran out), each now held for `lease_s`: [{"id", "url", "payload"}]. Atomic across processes."""

    def release_webhook(self, job_id: str) -> None:
        """Give a claimed delivery back undelivered (its sender is stopping): claimable again at once."""

    def set_webhook_status(self, job_id: str, status: str) -> None:
        """"delivered" or "failed", once the outcome was (or could not be) POSTed to the job's webhook; the
        delivery is no longer pending."""

    def depth(self) -> int:
        """Jobs queued or running."""

    def close(self) -> None:
        ...


class ResultStore(Protocol):
    def put(self, name: str, data: bytes) -> None:
        """Store a finished job's audio under `name` (e.g. job_x.wav); readers never see half a file."""

    def get(self, name: str) -> bytes | None:
        """The audio, or None when it is not (or no longer) stored."""

    def url(self, name: str) -> str | None:
        """Where clients may download it directly (a presigned URL), or None to serve it ourselves."""
