"""What the orchestrator's routes can answer besides success, for the OpenAPI schema: every status code a
route returns is listed with the JSON error shape, so generated clients and schemathesis see the truth."""
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


WHY = {
    401: "missing or invalid API key (when API_KEYS is set)",
    404: "no such voice or job for this key",
    409: "the job has not succeeded (yet)",
    410: "the job's result has expired",
    413: "body, upload, fetched reference or text too large",
    415: "the reference is not audio in a supported format",
    422: "invalid input (the message names the field)",
    429: "rate limit exceeded (Retry-After)",
    502: "a stage failed",
    503: "a stage is unavailable or busy (Retry-After)",
    504: "a stage did not answer in time",
}


def errors(*codes: int) -> dict:
    return {code: {"model": ErrorBody, "description": WHY[code]} for code in codes}


ANY_ROUTE = errors(401, 413, 422, 429)
STAGE_CALLS = errors(502, 503, 504)
REFERENCE = errors(415)
AUDIO_TYPES = ("audio/wav", "audio/mpeg", "audio/ogg", "audio/flac")


def audio(*extra: str) -> dict:
    return {200: {"description": "audio", "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                                      for t in (*AUDIO_TYPES, *extra)}}}
