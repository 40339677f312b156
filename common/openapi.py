"""The error responses every route documents in its OpenAPI schema, in the one shape they all have
(`{"error": {"code", "message", "request_id"}}`), so clients generated from the schema know them.

Stage routers take `error_responses(...)` with the statuses they can return; the orchestrator's
`document_errors` (orchestrator_svc/responses.py) reads its own route table through the same helper.
"""
from pydantic import BaseModel

# Placeholders for schema values read from the running service's settings (resolve_settings): integers, as
# FastAPI validates the schema (maxItems >= 0...) before we see it, and far above any real bound.
_PLACEHOLDERS: dict[int, str] = {}


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# One description per status for all four services (the orchestrator's routes and the stages' alike).
WHY = {
    400: "the body could not be parsed (malformed JSON or multipart; the orchestrator's routes)",
    401: "missing or invalid API key (when API_KEYS is set)",
    404: "no such voice, job or model for this key",
    409: "not possible now: the job has not succeeded (yet), or the request needs something this server is "
         "not configured with",
    410: "the job's result has expired",
    413: "body, upload, fetched reference, text, audio or array over a limit",
    415: "the upload is not audio in a readable format",
    422: "invalid input, the message names the field (a stage also answers 422 to JSON that does not parse or "
         "nests too deeply)",
    429: "rate limited (per key, or failed key checks per address); see Retry-After",
    431: "request headers over MAX_HEADER_BYTES",
    499: "the client closed the connection before the work was done",
    502: "a stage failed",
    503: "busy (MAX_CONCURRENT requests running and MAX_QUEUED waiting), or a stage is unavailable; see "
         "Retry-After",
    504: "not done in time: a stage's compute deadline (COMPUTE_DEADLINE_S) passed, or a stage did not answer the "
         "orchestrator within STAGE_TIMEOUT_S",
}
# What any stage route behind the common middleware can answer, whatever it does.
COMMON = (401, 413, 422, 429, 431)


def error_responses(*statuses: int, always: tuple[int, ...] = COMMON) -> dict:
    """OpenAPI `responses` for `statuses` plus those `always` answered, each with the one error shape."""
    return {s: {"model": ErrorBody, "description": WHY[s]} for s in sorted(set(always + statuses))}


def setting(name: str) -> int:
    """A schema value that is the service's setting `name` (MAX_TEXT_CHARS, MAX_MEL_FRAMES...), filled in when
    the app's schema is built, so the schema states the limits this server enforces, not the defaults."""
    for placeholder, known in _PLACEHOLDERS.items():
        if known == name:
            return placeholder
    placeholder = 2_000_000_001 + len(_PLACEHOLDERS)
    _PLACEHOLDERS[placeholder] = name
    return placeholder


def resolve_settings(node, settings):
    if isinstance(node, dict):
        return {k: resolve_settings(v, settings) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_settings(v, settings) for v in node]
    if isinstance(node, (int, float)) and not isinstance(node, bool) and node in _PLACEHOLDERS:
        return getattr(settings, _PLACEHOLDERS[node])
    return node


def transform_schema(app, transform) -> None:
    """Make `app.openapi()` pass the schema it builds through `transform`, once (the result is what FastAPI
    caches and serves). Transforms stack: each wraps the `app.openapi` before it."""
    build, done = app.openapi, False

    def openapi() -> dict:
        nonlocal done
        if not done:
            app.openapi_schema = transform(build())
            done = True
        return app.openapi_schema
    app.openapi = openapi


def state_settings_in_schema(app, settings) -> None:
    """Make `app.openapi()` fill in every `setting(...)` placeholder from `settings`."""
    transform_schema(app, lambda schema: resolve_settings(schema, settings))
