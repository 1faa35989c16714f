"""Errors as HTTP answers: one mapping, in one place.

Every error is a JSON body ``{"error": <code>, "reason": <message>}`` with a
4xx status for anything the client can fix (the engine's error tree, by
class) and 5xx only for the store failing underneath: 503 while another
writer holds the log, 507 while the disk is full (a retry after space is
freed succeeds), 500 for anything else.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from zeitbus.errors import (
    DatabaseBusy,
    DiskFull,
    InvalidArgument,
    InvalidEvent,
    InvalidKey,
    TooManyResults,
    ZeitbusError,
)


class HttpError(Exception):
    """An answer other than success, raised by the HTTP layer itself."""

    def __init__(
        self, status: int, code: str, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.headers = headers or {}


# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[ZeitbusError], int], ...] = (
    (InvalidArgument, 400),
    (InvalidEvent, 400),
    (InvalidKey, 404),
    (TooManyResults, 413),
    (DatabaseBusy, 503),
    (DiskFull, 507),  # Insufficient Storage (WebDAV's, the one status that says so)
)


def status_of(error: ZeitbusError) -> int:
    """The HTTP status for an engine error."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_response(status: int, code: str, reason: str, **headers: str) -> JSONResponse:
    """The JSON body every error has."""
    return JSONResponse({"error": code, "reason": reason}, status_code=status, headers=headers)


async def on_http_error(request: Request, error: Exception) -> Response:
    """Starlette handler for HttpError."""
    assert isinstance(error, HttpError)
    return error_response(error.status, error.code, error.reason, **error.headers)


async def on_zeitbus_error(request: Request, error: Exception) -> Response:
    """Starlette handler for the engine's errors."""
    assert isinstance(error, ZeitbusError)
    return error_response(status_of(error), error.code, error.message)


async def on_starlette_http_exception(request: Request, error: Exception) -> Response:
    """Routing's own answers (404 for an unknown path, 405) as JSON too."""
    status = int(getattr(error, "status_code", 500))
    codes = {404: "not_found", 405: "method_not_allowed"}
    headers = dict(getattr(error, "headers", None) or {})  # 405's Allow, for one
    reason = str(getattr(error, "detail", ""))
    return error_response(status, codes.get(status, "http_error"), reason, **headers)
