"""Delivery providers behind small interfaces: email (SES), SMS (SNS), push (SNS platform endpoints).

The worker takes a `Providers` bundle; tests and benchmarks pass stubs, the local run and production pass the real
ones (moto plays SES and SNS locally, through the very same calls)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from backinstock import aws


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
        response = client.publish(
            PhoneNumber=phone,
            Message=text,
            MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
        )
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
        response = client.publish(TargetArn=endpoint, Message=json.dumps(message), MessageStructure="json")
        return str(response["MessageId"])


@dataclass(frozen=True)
class Providers:
    email: EmailProvider
    sms: SmsProvider
    push: PushProvider
