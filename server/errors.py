"""Domain errors raised by services; one handler maps them to HTTP with a message a person can act on.

    DomainError
     ├── InvalidInput        422
     ├── NotAuthenticated    401
     ├── Forbidden           403
     ├── NotFound            404
     ├── Conflict            409
     ├── PayloadTooLarge     413
     └── RateLimited         429 (with Retry-After)

A database DataError (a value the database cannot store) is mapped to 422 as well.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI catches DomainError without loading the web framework or the ORM (~0.3 s per command)
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status_code = 422


class NotAuthenticated(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class PayloadTooLarge(DomainError):
    status_code = 413


class RateLimited(DomainError):
    status_code = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def install_error_handlers(app: FastAPI) -> None:
    from fastapi.responses import JSONResponse
    from sqlalchemy.exc import DataError

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        headers: dict[str, str] = {}
        if isinstance(exc, NotAuthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after_s)
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=headers)

    async def unstorable(request: Request, exc: Exception) -> JSONResponse:
        # e.g. a NUL character in a query parameter or form field: PostgreSQL text cannot hold it (SQLite can)
        return JSONResponse({"detail": "the request holds a value the database cannot store, such as a NUL "
                                       "character"}, status_code=422)

    app.add_exception_handler(DomainError, handle)
    app.add_exception_handler(DataError, unstorable)
