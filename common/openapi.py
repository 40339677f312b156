"""The error responses every route documents in its OpenAPI schema, in the one shape they all have
(`{"error": {"code", "message", "request_id"}}`), so clients generated from the schema know them.

Stage routers take `error_responses(...)` with the statuses they can return; the orchestrator can do the same.
"""
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


WHY = {
    401: "missing or invalid API key",
    409: "the request needs something this server is not configured with",
    413: "body, text, audio or array over a limit",
    415: "the upload is not audio in a readable format",
    422: "invalid input (also JSON that does not parse or nests too deeply)",
    429: "rate limited (per key, or failed key checks per address); see Retry-After",
    431: "request headers over MAX_HEADER_BYTES",
    503: "busy: MAX_CONCURRENT requests running and MAX_QUEUED waiting; see Retry-After",
    499: "the client closed the connection before the work was done",
    504: "the request's compute deadline (COMPUTE_DEADLINE_S) passed",
}
# What any route behind the common middleware can answer, whatever it does.
COMMON = (401, 413, 422, 429, 431)


def error_responses(*statuses: int) -> dict:
    return {s: {"model": ErrorBody, "description": WHY[s]} for s in sorted(set(COMMON + statuses))}
