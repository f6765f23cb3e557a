"""Error tree of the router: each error carries the HTTP status it maps to.

The Worker turns any `RouterError` into a JSON response in one place, so code
that detects bad input raises the matching subclass and never builds a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class RouterError(Exception):
    """Base of every error the router reports to a client."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON error body: `error`, `code` and any details."""
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        body.update(self.details)
        return body


class BadRequest(RouterError):
    """The request body or a parameter is malformed."""


class Unauthorized(RouterError):
    """A signature or bearer token is missing or wrong."""

    status = 401
    code = "unauthorized"


class SignatureError(Unauthorized):
    """A webhook signature is missing, malformed or matches no secret."""

    code = "invalid_signature"


class NotFound(RouterError):
    """The requested path or entity does not exist."""

    status = 404
    code = "not_found"


class MethodNotAllowed(RouterError):
    """The path exists but not for this HTTP method."""

    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(RouterError):
    """The request body is larger than the router accepts."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RouterError):
    """The request body has a content type the endpoint does not read."""

    status = 415
    code = "unsupported_media_type"


class Unprocessable(RouterError):
    """The body parses but its content is invalid, such as a bad policy."""

    status = 422
    code = "unprocessable"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a policy file: where it is and what is wrong."""

    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return (
            f"{where}: {self.key}: {self.message}"
            if self.key
            else f"{where}: {self.message}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: source, line, key and message."""
        return {
            "source": self.source,
            "line": self.line,
            "key": self.key,
            "message": self.message,
        }


class PolicyInvalid(Unprocessable):
    """A policy file has problems; `problems` lists every one of them."""

    code = "invalid_policy"

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        summary = "; ".join(str(problem) for problem in problems[:3])
        more = f"; and {count - 3} more" if count > 3 else ""
        super().__init__(
            f"policy has {count} {noun}: {summary}{more}",
            problems=[problem.to_dict() for problem in problems],
        )
        self.problems = problems
