"""Domain errors. Services raise them; `backinstock.api.http` turns them into the one error envelope."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: a machine code, the field it concerns (dotted path) and a message."""

    code: str
    message: str
    field: str | None = None

    def text(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class AppError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, *messages: str, problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or []) + [Problem(self.code, m) for m in messages]
        super().__init__("; ".join(p.text() for p in self.problems))


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Gone(AppError):
    status = 410
    code = "gone"


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(AppError):
    """The shop's points for the rolling minute are used up: nothing ran. `retry_after`: seconds to wait."""

    status = 429
    code = "rate_limited"

    def __init__(self, *messages: str, retry_after: int) -> None:
        super().__init__(*messages)
        self.retry_after = retry_after
