"""The send pace's pure rules: what a provider's error means to the send path, how a second's budget is split,
how long a deferred message waits. (Through the worker, against moto: tests/integration/test_send_pace.py.)"""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError

from backinstock.providers import REFUSED, ProviderRefused, ProviderThrottled, provider_error
from backinstock.services import pacing


def error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "SendEmail")


@pytest.mark.parametrize(
    ("channel", "code", "message"),
    [
        ("email", "Throttling", "Maximum sending rate exceeded."),  # SES v1
        ("email", "TooManyRequestsException", "Too many requests"),  # SES v2
        ("sms", "Throttled", "Rate exceeded"),  # SNS
        ("push", "Throttling", "Rate exceeded"),
    ],
)
def test_a_providers_throttle_is_backpressure(channel: str, code: str, message: str) -> None:
    classified = provider_error(error(code, message), channel)
    assert isinstance(classified, ProviderThrottled) and classified.code == code


@pytest.mark.parametrize(
    ("channel", "code", "message", "reason"),
    [
        ("email", "MessageRejected", "Email address is not verified.", "rejected"),
        ("email", "MessageRejected", "Address is on the suppression list", "suppressed"),
        ("email", "InvalidParameterValue", "Missing final '@domain'", "email_invalid"),
        ("sms", "InvalidParameter", "Invalid parameter: PhoneNumber", "sms_invalid"),
        ("sms", "InvalidParameter", "Phone number is opted out", "sms_opted_out"),
        ("push", "EndpointDisabled", "Endpoint is disabled", "push_disabled"),
    ],
)
def test_a_permanent_refusal_carries_the_merchants_reason(channel: str, code: str, message: str, reason: str) -> None:
    classified = provider_error(error(code, message), channel)
    assert isinstance(classified, ProviderRefused) and classified.reason == REFUSED[reason]
    assert "@" not in classified.reason  # no address in what the log keeps


@pytest.mark.parametrize(
    ("channel", "code", "message"),
    [
        ("email", "ServiceUnavailable", ""),  # a fault: retried, then dead-lettered
        ("email", "InvalidParameterValue", "Header too long"),  # a bad request of ours, not a bad address
        ("email", "MailFromDomainNotVerifiedException", ""),
        ("sms", "InternalError", ""),
    ],
)
def test_other_errors_stay_faults(channel: str, code: str, message: str) -> None:
    original = error(code, message)
    assert provider_error(original, channel) is original


def test_a_deferred_message_waits_longer_each_time_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "rng", random.Random(1))
    waits = [pacing.defer_seconds(n) for n in range(12)]
    assert all(1 <= w <= pacing.MAX_DEFER_SECONDS for w in waits)
    assert waits[0] <= pacing.HORIZON_SLOTS and waits[-1] >= pacing.MAX_DEFER_SECONDS // 2
