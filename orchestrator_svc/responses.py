"""What the orchestrator's routes can answer besides success, for the OpenAPI schema: every status code a
route returns is listed with the JSON error shape, so generated clients and schemathesis see the truth."""
from common.openapi import error_responses  # one description table and error shape for every service

ANY_ROUTE = (400, 401, 413, 422, 429)
STAGE_CALLS = (502, 503, 504)
# The vocoder's 409 backend_unavailable (wavernn without weights, hifigan not installed) passes through to
# whoever asked for that backend, or has it as DEFAULT_VOCODER.
VOCODING = (409, *STAGE_CALLS)


# Status codes beyond ANY_ROUTE, per (method, path); read from the routes' code paths.
ROUTE_ERRORS = {
    ("POST", "/v1/clone"): (415, *VOCODING), ("POST", "/v1/clone/preview"): (415, *VOCODING),
    ("POST", "/inference"): VOCODING, ("POST", "/v1/voices"): (415, *STAGE_CALLS),
    ("GET", "/v1/voices/{voice_id}"): (404,), ("DELETE", "/v1/voices/{voice_id}"): (404,),
    ("POST", "/v1/tts"): (404, *VOCODING), ("POST", "/v1/audio/speech"): (404, *VOCODING),
    ("GET", "/v1/jobs/{job_id}"): (404,), ("GET", "/v1/jobs/{job_id}/result"): (404, 409, 410),
    ("PATCH", "/v1/voices/{voice_id}"): (404,), ("GET", "/v1/models/{model_id}"): (404,),
    ("POST", "/v1/studio/speak"): (404, 415, *STAGE_CALLS),
}
OPEN_ROUTES = {"/healthz", "/readyz", "/metrics"}


def document_errors(app) -> None:
    """Add every error a route can answer to its OpenAPI responses (call before the schema is first built)."""
    from fastapi.routing import APIRoute
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        codes = {429} if route.path in OPEN_ROUTES else set(ANY_ROUTE)
        for method in route.methods:
            codes.update(ROUTE_ERRORS.get((method, route.path), ()))
        route.responses = {**error_responses(*codes, always=()), **route.responses}
        if route.path == "/readyz":
            route.responses[503] = {"description": "not ready: the failing checks, with reasons"}
        if route.path == "/metrics":
            route.responses[200] = {"description": "Prometheus text format",
                                    "content": {"text/plain": {"schema": {"type": "string"}}}}


def install_allow_header(app) -> None:
    """A 405 lists every method the path supports (Starlette lists only those of the first route that
    matched the path, so `Allow` disagreed with the schema for paths served by several routes)."""
    from starlette.exceptions import HTTPException
    from starlette.routing import Match

    from common.errors import error_response

    async def handler(request, exc: HTTPException):
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            methods = set()
            for route in app.routes:
                match, _ = route.matches({**request.scope, "method": "GET"}) if hasattr(route, "methods") \
                    else (Match.NONE, None)
                if match != Match.NONE and route.methods:
                    methods |= set(route.methods) - {"HEAD"}
            headers["Allow"] = ", ".join(sorted(methods))
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), headers or None)

    app.add_exception_handler(HTTPException, handler)
