"""The local outbox: what the embedded backend's SES and SNS "delivered", read from moto's in-process backends.

Nothing leaves the machine in the local run: moto keeps every email, SMS and push message it accepts. This module
reads them (an internal of moto 5, pinned by the lock file) for `GET /local/outbox` and `backinstock outbox`.

moto keeps one body per SES email: the HTML part when a message has both (ours do), else the text part. The
outbox renders HTML to text, so the text shown for an email is the HTML body's text with its links.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from html.parser import HTMLParser
from typing import Any

OUTBOX_PATH = "/local/outbox"
URL = re.compile(r"https?://[^\s<>\"')]+")
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "table", "br", "hr", "form"}


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._href: list[str | None] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "title", "head"):
            self._skip += 1
        if tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            href = dict(attrs).get("href")
            self._href.append(href)
            if href:
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title", "head"):
            self._skip = max(self._skip - 1, 0)
        if tag == "a" and self._href:
            href = self._href.pop()
            if href:
                self.parts.append(f" <{href}>")
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, list[str]]:
    """The text of an HTML body (paragraphs on their own lines, each link's URL after its text) and its links."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text, parser.links


def links_in(*texts: str | None) -> list[str]:
    found: list[str] = []
    for text in texts:
        found.extend(URL.findall(text or ""))
    return list(dict.fromkeys(found))


def _looks_like_html(body: str) -> bool:
    return bool(re.match(r"\s*<(!doctype|html|body|p|div|table|h\d)\b", body, re.IGNORECASE))


def _email(
    message_id: str,
    source: str,
    to: list[str],
    subject: str | None,
    text: str | None,
    html: str | None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    html_links: list[str] = []
    if html:
        rendered, html_links = html_to_text(html)
        text = text or rendered
    return {
        "message_id": message_id,
        "from": source,
        "to": to,
        "subject": subject,
        "text": text,
        "links": list(dict.fromkeys(html_links + links_in(text))),
        "html": html,
        # every header field as sent (List-Unsubscribe, List-Unsubscribe-Post on restock emails)
        "headers": headers or {"From": source, "To": ", ".join(to), "Subject": subject or ""},
    }


def _ses_messages(backend: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in list(backend.sent_messages):
        if hasattr(message, "raw_data"):  # SendRawEmail
            parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
            text_part = parsed.get_body(preferencelist=("plain",))
            html_part = parsed.get_body(preferencelist=("html",))
            out.append(
                _email(
                    message.id,
                    message.source,
                    list(message.destinations or []) or [str(parsed.get("To", ""))],
                    str(parsed.get("Subject", "")) or None,
                    text_part.get_content() if text_part is not None else None,
                    html_part.get_content() if html_part is not None else None,
                    {name: str(value) for name, value in parsed.items()},
                )
            )
        elif hasattr(message, "template"):  # SendTemplatedEmail: moto does not render templates
            destinations = message.destinations if isinstance(message.destinations, dict) else {}
            out.append(
                {
                    "message_id": getattr(message, "id", None) or ",".join(getattr(message, "ids", [])),
                    "from": message.source,
                    "to": list(destinations.get("ToAddresses", [])),
                    "subject": None,
                    "text": f"(template {message.template} with data {message.template_data})",
                    "links": [],
                    "html": None,
                }
            )
        else:  # SendEmail: `body` is the HTML part when there is one, else the text part
            body = message.body or ""
            html = body if _looks_like_html(body) else None
            out.append(
                _email(
                    message.id,
                    message.source,
                    list(message.destinations.get("ToAddresses", [])),
                    message.subject,
                    None if html else body,
                    html,
                )
            )
    return out


def _push(message_id: str, target: str, raw: str) -> dict[str, Any]:
    """A push publish: with MessageStructure=json the message holds a payload per platform."""
    title = text = url = None
    try:
        structured = json.loads(raw)
    except ValueError:
        structured = None
    if isinstance(structured, dict) and "GCM" in structured:
        gcm = json.loads(structured["GCM"])
        title = gcm.get("notification", {}).get("title")
        text = gcm.get("notification", {}).get("body")
        url = gcm.get("data", {}).get("url")
    elif isinstance(structured, dict) and "default" in structured:
        text = structured["default"]
    else:
        text = raw
    return {
        "message_id": message_id,
        "target": target,
        "title": title,
        "text": text,
        "links": list(dict.fromkeys(([url] if url else []) + links_in(text))),
    }


def _backends(service: str) -> list[Any]:
    from moto.backends import get_backend

    return [backend for account in list(get_backend(service).values()) for backend in list(account.values())]  # type: ignore[call-overload]


def shop_of_link(url: str) -> str | None:
    """The shop a signed link names (its token's payload; not verified: this only sorts messages), else None."""
    import base64
    from urllib.parse import parse_qs, urlsplit

    token = (parse_qs(urlsplit(url).query).get("token") or [""])[0]
    try:
        payload = token.split(".")[0]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    return str(data.get("s")) if isinstance(data, dict) and data.get("s") else None


def belongs(message: dict[str, Any], shop_id: str, domain: str) -> bool:
    """A message is a shop's when one of its links is signed for the shop or points at its storefront."""
    urls = message.get("links") or []
    return any(shop_of_link(url) == shop_id or urlsplit_host(url) == domain.lower() for url in urls)


def urlsplit_host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


def read(limit: int | None = None, shop: tuple[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every email, SMS and push message the embedded backend accepted, oldest first (the last `limit` of each);
    with `shop` (its id and domain), only that shop's."""
    emails: list[dict[str, Any]] = []
    for backend in _backends("ses"):
        emails.extend(_ses_messages(backend))
    sms: list[dict[str, Any]] = []
    push: list[dict[str, Any]] = []
    for backend in _backends("sns"):
        for message_id, (phone, text) in list(backend.sms_messages.items()):
            sms.append({"message_id": message_id, "to": phone, "text": text, "links": links_in(text)})
        for arn, endpoint in list(backend.platform_endpoints.items()):
            for message_id, raw in list(endpoint.messages.items()):
                push.append(_push(message_id, arn, raw))
        for arn, topic in list(backend.topics.items()):
            for message_id, raw, *_ in list(topic.sent_notifications):
                push.append(_push(message_id, arn, raw))
    if shop is not None:
        emails, sms, push = ([m for m in items if belongs(m, *shop)] for items in (emails, sms, push))
    if limit is not None:
        emails, sms, push = (items[-limit:] if limit else [] for items in (emails, sms, push))
    return {"emails": emails, "sms": sms, "push": push}
