"""The local run's SES and SNS sending quotas (`backinstock serve --email-rate R --sms-rate R`).

moto plays SES and SNS; this makes them behave like an account with a sending quota: beyond R messages in a second
they refuse with the providers' own throttling errors (SES `Throttling` "Maximum sending rate exceeded.", SNS
`Throttled`), and SES's GetSendQuota answers MaxSendRate = R, which the send pace reads (services/pacing.py). The
send worker's SMS rate is the stack setting SMS_SEND_RATE, which `serve` sets to the same R. Without a rate the
providers refuse nothing and report `UNLIMITED_EMAIL_RATE` (the tests' local backend).

moto internals (its SES quota model and its send methods) are patched here: moto is pinned in pyproject.toml.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

UNLIMITED_EMAIL_RATE = 1000.0  # what the local SES reports without --email-rate (the pace then barely waits)


class Window:
    """Messages accepted in the current second; refuses once `rate` are in it. `clock` may be a virtual one."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.time) -> None:
        self.rate = rate
        self.clock = clock
        self.second = -1
        self.count = 0
        self.refused = 0
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            second = math.floor(self.clock())
            if second != self.second:
                self.second, self.count = second, 0
            if self.count >= self.rate:
                self.refused += 1
                return False
            self.count += 1
            return True


_STATE: dict[str, Any] = {"email": None, "sms": None, "quota": UNLIMITED_EMAIL_RATE}


def install(
    email_rate: float | None = None, sms_rate: float | None = None, clock: Callable[[], float] = time.time
) -> None:
    """Set (or, with None, lift) the local SES and SNS SMS limits; idempotent, in the process that runs moto.
    `clock`: what a second is (the chaos run's virtual clock)."""
    _patch()
    _STATE["email"] = Window(email_rate, clock) if email_rate else None
    _STATE["sms"] = Window(sms_rate, clock) if sms_rate else None
    _STATE["quota"] = float(email_rate) if email_rate else UNLIMITED_EMAIL_RATE


def refused() -> int:
    """Messages refused for the rate since `install`."""
    return sum(w.refused for w in (_STATE["email"], _STATE["sms"]) if w is not None)


def describe(email_rate: float | None, sms_rate: float | None) -> str:
    """The banner's line."""

    def one(rate: float | None) -> str:
        return f"{rate:g}/s" if rate else "unlimited"

    return f"email {one(email_rate)}, SMS {one(sms_rate)} (beyond it SES and SNS answer with their throttling errors)"


_PATCHED: list[bool] = []


def _patch() -> None:
    if _PATCHED:
        return
    _PATCHED.append(True)
    from moto.core.exceptions import ServiceException
    from moto.ses import models as ses
    from moto.sns import models as sns

    class SesThrottling(ServiceException):
        code = "Throttling"
        message = "Maximum sending rate exceeded."

    class SnsThrottled(ServiceException):
        code = "Throttled"
        message = "Rate exceeded"

    quota_class = ses.SESQuota

    class Quota(quota_class):  # type: ignore[misc,valid-type]
        def __init__(self, sent: int) -> None:
            super().__init__(sent)
            self.max_send_rate = _STATE["quota"]

    ses.SESQuota = Quota  # type: ignore[misc]

    def limited(method: Any, channel: str, error: type[Exception], applies: Callable[..., bool]) -> Any:
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            window = _STATE[channel]
            if window is not None and applies(*args, **kwargs) and not window.admit():
                raise error()
            return method(self, *args, **kwargs)

        return send

    always: Callable[..., bool] = lambda *a, **k: True  # noqa: E731
    ses.SESBackend.send_email = limited(ses.SESBackend.send_email, "email", SesThrottling, always)  # type: ignore[method-assign]
    ses.SESBackend.send_raw_email = limited(ses.SESBackend.send_raw_email, "email", SesThrottling, always)  # type: ignore[method-assign]

    def to_phone(*args: Any, **kwargs: Any) -> bool:
        return bool(kwargs.get("phone_number") or (len(args) > 2 and args[2]))

    sns.SNSBackend.publish = limited(sns.SNSBackend.publish, "sms", SnsThrottled, to_phone)  # type: ignore[method-assign]
