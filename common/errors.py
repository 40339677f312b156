"""One JSON error shape for every service: {"error": {"code", "message", "request_id"}}."""
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.cancel import WorkStopped

log = logging.getLogger("voxclone.errors")


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def bad_request(message: str, code: str = "invalid_input") -> APIError:
    return APIError(422, code, message)


def parse_body(model, raw: bytes):
    """Validate a JSON body read by hand (routes that also accept multipart), with the usual 422."""
    from pydantic import ValidationError
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise APIError(422, "invalid_request", describe_errors(exc)) from None


def error_response(request: Request, status: int, code: str, message: str, headers=None) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    return JSONResponse({"error": {"code": code, "message": message, "request_id": rid}}, status_code=status,
                        headers=headers)


def describe_errors(exc) -> str:
    """Readable summary of a pydantic / FastAPI validation error: 'field: problem; ...'."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return error_response(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(WorkStopped)
    async def _stopped(request: Request, exc: WorkStopped):
        return error_response(request, exc.status, exc.code, exc.reason)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        return error_response(request, 422, "invalid_request", describe_errors(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        # FastAPI turns whatever goes wrong while it reads a body into 400 "There was an error parsing the
        # body"; what went wrong says the real answer.
        if isinstance(exc.__cause__, APIError):  # the body limit stopped a chunked upload: 413
            return await _api_error(request, exc.__cause__)
        if isinstance(exc.__cause__, RecursionError):
            return error_response(request, 422, "invalid_json", "the JSON body is nested too deeply")
        if exc.status_code == 400 and exc.__cause__ is not None:  # e.g. a body that is not UTF-8
            return error_response(request, 422, "invalid_json", "the body is not valid JSON")
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(request, 500, "internal_error", f"internal error: {type(exc).__name__}")
