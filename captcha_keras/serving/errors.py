"""Errors as JSON, each with the status that says what went wrong.

Every error body is `{"error": {"status": N, "message": "...", ...}}`: 400 a
bad image or field, 401 a missing or wrong API key, 404 an unknown model or
path, 405 a wrong method, 409 a training that cannot start now, 413 too
large, 415 a body that is neither multipart nor JSON, 422 a malformed
request, 503 busy.
"""

import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


class ApiError(Exception):
    """An error a client caused (or, 503, the service is too busy), with its status.

    Args:
        status: int. The HTTP status.
        message: str. What went wrong, for a person.
        **extra: more JSON fields of the error (for example the known models).
    """

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def to_dict(self):
        return {"status": self.status, "message": self.message, **self.extra}


def error_response(status, message, headers=None, **extra):
    """The JSON response of an error."""
    return JSONResponse({"error": {"status": status, "message": message, **extra}}, status_code=status, headers=headers)


async def api_error(request, error):
    headers = {"Retry-After": "1"} if error.status == 503 else None
    return error_response(error.status, error.message, headers=headers, **error.extra)


async def http_error(request, error):
    messages = {
        404: f"No such path: {request.url.path}. See /docs.",
        405: f"{request.method} is not allowed on {request.url.path}.",
    }
    return error_response(
        error.status_code, messages.get(error.status_code, str(error.detail)), headers=getattr(error, "headers", None)
    )


async def validation_error(request, error):
    problems = [f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in error.errors()]
    return error_response(422, "Malformed request: " + "; ".join(problems))


async def server_error(request, error):
    # A bug of ours, not the client's input: logged with its traceback, answered as JSON.
    logging.getLogger("captcha_keras.serving").exception("internal error on %s %s", request.method, request.url.path)
    return error_response(500, f"Internal error ({type(error).__name__}); the service goes on.")


def install(app):
    """Registers the JSON error handlers on a FastAPI app."""
    app.add_exception_handler(Exception, server_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
