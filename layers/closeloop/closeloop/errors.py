"""Domain errors, and the one place where each becomes an HTTP answer."""

from __future__ import annotations

from http import HTTPStatus


class DomainError(Exception):
    """Base of the errors a person can act on; `reason` is safe to show them."""

    status = HTTPStatus.BAD_REQUEST
    code = "bad_request"

    def __init__(self, reason: str, *, details: object | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class InvalidInput(DomainError):
    """The request is well-formed but its content breaks a rule."""

    status = HTTPStatus.BAD_REQUEST
    code = "invalid_input"


class NotAuthenticated(DomainError):
    status = HTTPStatus.UNAUTHORIZED
    code = "not_authenticated"


class Forbidden(DomainError):
    status = HTTPStatus.FORBIDDEN
    code = "forbidden"


class NotFound(DomainError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class Gone(DomainError):
    status = HTTPStatus.GONE
    code = "gone"


class Conflict(DomainError):
    """Someone else changed the item first: reload and try again."""

    status = HTTPStatus.CONFLICT
    code = "conflict"


class Unavailable(DomainError):
    """A dependency cannot be reached right now."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "unavailable"


def http_answer(error: DomainError) -> tuple[int, dict[str, object]]:
    """The status and JSON body for a domain error; every route answers errors in this shape."""
    body: dict[str, object] = {"error": error.code, "message": error.reason}
    if error.details is not None:
        body["details"] = error.details
    return int(error.status), body
