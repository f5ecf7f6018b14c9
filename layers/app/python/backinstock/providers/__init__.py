"""Delivery providers behind small interfaces: email (SES), SMS (SNS), push (SNS platform endpoints).

The worker takes a `Providers` bundle; tests and benchmarks pass stubs, the local run and production pass the real
ones (moto plays SES and SNS locally, through the very same calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from backinstock import aws

# The provider's own throttling codes (SES v1 `Throttling` "Maximum sending rate exceeded.", SES v2
# `TooManyRequestsException`, SNS `Throttled`/`Throttling`): backpressure, never a failure (services/sending.py).
THROTTLE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "Throttled", "ThrottledException"}
)


class ProviderThrottled(Exception):
    """The provider refused the call for its sending rate: try again later, the message is not at fault."""

    def __init__(self, code: str) -> None:
        super().__init__(f"the provider throttled the send ({code})")
        self.code = code


class ProviderRefused(Exception):
    """The provider refused this recipient for good (rejected, malformed, suppressed, opted out): `reason` is the
    sentence a merchant reads in the send log. Retrying would be refused again."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


REFUSED = {
    "rejected": "The email provider (Amazon SES) rejected the message to this address",
    "suppressed": "The address is on the email provider's suppression list (an earlier bounce or complaint)",
    "email_invalid": "The email address is not valid: the email provider refused it",
    "sms_opted_out": "The phone number opted out of SMS (it replied STOP)",
    "sms_invalid": "The phone number is not valid: the SMS provider refused it",
    "push_disabled": "The customer's push endpoint is disabled (the app was removed or its notifications turned off)",
    "push_invalid": "The push endpoint is not valid: the push provider refused it",
}


def provider_error(exc: Exception, channel: str) -> Exception:
    """What a provider's `ClientError` means to the send path: `ProviderThrottled`, `ProviderRefused` (with the
    merchant's reason), or the error itself (a fault: retried, then dead-lettered). Matches codes, and the
    message only where one code covers both a bad recipient and a bad request of ours."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code, message = str(error.get("Code") or ""), str(error.get("Message") or "").lower()
    if code in THROTTLE_CODES:
        return ProviderThrottled(code)
    refused: str | None = None
    if channel == "email":
        if code == "MessageRejected":
            refused = "suppressed" if "suppress" in message else "rejected"
        elif code in ("InvalidParameterValue", "BadRequestException") and ("address" in message or "@" in message):
            refused = "email_invalid"
    elif channel == "sms":
        if code in ("OptedOut", "OptedOutException") or (code == "InvalidParameter" and "opted out" in message):
            refused = "sms_opted_out"
        elif code == "InvalidParameter":
            refused = "sms_invalid"
    elif channel == "push":
        if code == "EndpointDisabled":
            refused = "push_disabled"
        elif code == "InvalidParameter":
            refused = "push_invalid"
    return ProviderRefused(code, REFUSED[refused]) if refused else exc


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    return ClientError


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    html: str
    text: str
    headers: tuple[tuple[str, str], ...] = ()  # more header fields (List-Unsubscribe): sent as a MIME message


def mime(sender: str, mail: Email) -> bytes:
    """The email as a MIME message (text and HTML alternatives) with its extra header fields, unfolded."""
    from email.message import EmailMessage
    from email.policy import SMTP

    message = EmailMessage(policy=SMTP.clone(max_line_length=998))  # RFC 5322: a header is one line
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    for name, value in mail.headers:
        message[name] = value
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message.as_bytes()


class EmailProvider(Protocol):
    def send(self, email: Email) -> str: ...


class SmsProvider(Protocol):
    def send(self, phone: str, text: str) -> str: ...


class PushProvider(Protocol):
    def send(self, endpoint: str, title: str, body: str, url: str) -> str: ...


class SesEmail:
    def __init__(self, sender: str, client: Any = None, v2_client: Any = None) -> None:
        self.sender = sender
        self._client = client
        self._v2_client = v2_client

    def send(self, email: Email) -> str:
        try:
            return self._send(email)
        except _client_error() as exc:
            raise provider_error(exc, "email") from exc

    def _send(self, email: Email) -> str:
        if email.headers:
            # SES's v2 SendEmail takes a raw MIME message (the v1 Simple form has no header fields); it is
            # authorized by the same `ses:SendEmail` and the same `ses:FromAddress` condition.
            v2 = self._v2_client or aws.client("sesv2")
            # The recipient is the message's To field (a Destination would be a second list to keep in step).
            sent = v2.send_email(FromEmailAddress=self.sender, Content={"Raw": {"Data": mime(self.sender, email)}})
            return str(sent["MessageId"])
        client = self._client or aws.client("ses")
        response = client.send_email(
            Source=self.sender,
            Destination={"ToAddresses": [email.to]},
            Message={
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {
                    "Html": {"Data": email.html, "Charset": "UTF-8"},
                    "Text": {"Data": email.text, "Charset": "UTF-8"},
                },
            },
        )
        return str(response["MessageId"])


class SnsSms:
    def __init__(self, client: Any = None) -> None:
        self._client = client

    def send(self, phone: str, text: str) -> str:
        client = self._client or aws.client("sns")
        try:
            response = client.publish(
                PhoneNumber=phone,
                Message=text,
                MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
            )
        except _client_error() as exc:
            raise provider_error(exc, "sms") from exc
        return str(response["MessageId"])


class SnsPush:
    """Push through an SNS platform application endpoint (APNs / FCM) registered for the subscriber."""

    def __init__(self, client: Any = None) -> None:
        self._client = client

    def send(self, endpoint: str, title: str, body: str, url: str) -> str:
        import json

        client = self._client or aws.client("sns")
        message = {
            "default": f"{title}: {body} {url}",
            "GCM": json.dumps({"notification": {"title": title, "body": body}, "data": {"url": url}}),
            "APNS": json.dumps({"aps": {"alert": {"title": title, "body": body}}, "url": url}),
        }
        try:
            response = client.publish(TargetArn=endpoint, Message=json.dumps(message), MessageStructure="json")
        except _client_error() as exc:
            raise provider_error(exc, "push") from exc
        return str(response["MessageId"])


def ses_max_send_rate(client: Any = None) -> float:
    """The SES account's sending quota, emails per second (GetSendQuota's MaxSendRate: 1 in the sandbox, 14 for a
    new production account, raised on request)."""
    quota = (client or aws.client("ses")).get_send_quota()
    return float(quota["MaxSendRate"])


@dataclass(frozen=True)
class Providers:
    email: EmailProvider
    sms: SmsProvider
    push: PushProvider
