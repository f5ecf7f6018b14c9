"""What a customer reaches through a signed link: confirm a double opt-in, unsubscribe from a restock alert.

Answers are small HTML pages. A tampered, expired or unknown token changes nothing and says so plainly, without
telling which of the three it was.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from backinstock import ids
from backinstock.repositories.signups import SignupRepository
from backinstock.services import links

INVALID = (
    "This link is invalid or has expired",
    "Nothing was changed. If you still want to change your restock alert, use the link in the most recent message.",
)


def page(title: str, text: str, form_action: str | None = None, button: str | None = None) -> str:
    form = ""
    if form_action and button:
        form = (
            f'<form method="post" action="{escape(form_action)}"><button type="submit" '
            f'style="font-size:16px;padding:8px 16px">{escape(button)}</button></form>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        '<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">'
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>{form}</body></html>"
    )


def _stamp(
    repo: SignupRepository, key: bytes, token: str, purpose: links.Purpose, field: str, now: datetime | None
) -> dict[str, Any] | None:
    """The signup the token names, after setting `field` once; None for a bad token or an unknown signup."""
    moment = now or ids.now()
    claim = links.verify_token(key, token, purpose, moment)
    return repo.set_timestamp(claim.shop_id, claim.signup_id, field, ids.iso(moment)) if claim else None


def form_action(token: str) -> str:
    """The page's form posts back to its own path with the token, URL-encoded (a query value is written into the
    page as a URL, never as raw text)."""
    return f"?token={quote(token, safe='')}"


def _button_page(
    key: bytes, token: str, purpose: links.Purpose, now: datetime | None, title: str, text: str, button: str
) -> tuple[int, str]:
    """GET of a link: a page with one button that POSTs the token back, changing nothing itself (mail security
    scanners open every link in a message); a token that does not verify gets the invalid-link page."""
    if links.verify_token(key, token, purpose, now or ids.now()) is None:
        return 400, page(*INVALID)
    return 200, page(title, text, form_action=form_action(token), button=button)


def optin_form(key: bytes, token: str, now: datetime | None = None) -> tuple[int, str]:
    """GET: a page with a button; only the POST confirms."""
    return _button_page(
        key,
        token,
        "optin",
        now,
        "Confirm your restock alert?",
        "Press the button to confirm that you want to be told when this product is back in stock.",
        "Confirm my restock alert",
    )


def confirm_optin(repo: SignupRepository, key: bytes, token: str, now: datetime | None = None) -> tuple[int, str]:
    item = _stamp(repo, key, token, "optin", "optin_confirmed_at", now)
    if item is None:
        return 400, page(*INVALID)
    name = item.get("product_title") or "the product"
    return 200, page("You're on the list", f"Thanks for confirming. We'll let you know when {name} is back in stock.")


def unsubscribe_form(key: bytes, token: str, now: datetime | None = None) -> tuple[int, str]:
    """GET: a page with a button; only the POST unsubscribes."""
    return _button_page(
        key,
        token,
        "unsubscribe",
        now,
        "Unsubscribe from this restock alert?",
        "You will no longer be told when this product is back in stock.",
        "Unsubscribe",
    )


def unsubscribe(repo: SignupRepository, key: bytes, token: str, now: datetime | None = None) -> tuple[int, str]:
    item = _stamp(repo, key, token, "unsubscribe", "unsubscribed_at", now)
    if item is None:
        return 400, page(*INVALID)
    repo.release_guard(item)
    return 200, page("You're unsubscribed", "You will not receive this restock alert. You can sign up again anytime.")
