"""The only pages a shopper ever sees, opened from a phone's mail app: the unsubscribe and opt-in confirmation pages,
in a real browser (Playwright driving Debian's Chromium, `/usr/bin/chromium`, which `make install` installs).

Each page renders under its Content-Security-Policy with no console error, its button works with JavaScript off,
it fits a 375-pixel-wide screen, and a tampered or expired link shows a page that says what happened.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from backinstock import ids
from backinstock.services import links
from tests.e2e.conftest import cli, eventually, http
from tests.local_server import aws_client

CHROMIUM = Path("/usr/bin/chromium")
# The network of these machines is closed: no first-run, sync, component or background requests.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 667}
INVALID_TITLE = "This link is invalid or has expired"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium: `make install` installs Debian's chromium (as root)", allow_module_level=True)


@contextmanager
def browser(profile: Path, javascript: bool) -> Iterator[Any]:
    """A Chromium of a fresh profile, a phone-sized window, JavaScript on or off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport={"width": PHONE["width"], "height": PHONE["height"]},
            java_script_enabled=javascript,
        )
        try:
            yield context
        finally:
            context.close()


def link_secret(server: dict[str, Any]) -> bytes:
    """The local run's link-signing key (its Secrets Manager): to sign expired links."""
    arn = server["environment"]["LINK_SECRET_ARN"]
    return str(aws_client(server, "secretsmanager").get_secret_value(SecretId=arn)["SecretString"]).encode()


def _notified_signup(server: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A signup of its own, notified: its id and the unsubscribe link of the restock email it got."""
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    body = {"channel": "email", "shopify_variant_id": 40011, "email": email}
    status, signup, _ = http(server, "POST", "/back_in_stock/signups", body)
    assert status == 201, signup
    assert http(server, "POST", f"/back_in_stock/signups/{signup['id']}/notify")[0] == 202

    def link() -> str | None:
        shown = cli(server, "outbox")
        mails = [m for m in json.loads(shown.stdout)["emails"] if m["to"] == [email]]
        return next((u for m in mails for u in m["links"] if "/unsubscribe?token=" in u), None)

    return signup, eventually(link, "the restock email's unsubscribe link")


def _signup_status(server: dict[str, Any], signup_id: str) -> Any:
    return http(server, "GET", f"/back_in_stock/signups/{signup_id}")[1]


def _renders_cleanly(context: Any, url: str, button: str) -> None:
    """Under its CSP, no console error (a blocked style or resource is one), no page error; fits 375 px."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    response = page.goto(url)
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert page.get_by_role("button", name=button).is_visible()
    page.wait_for_load_state("load")
    assert problems == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The button is big enough to tap (WCAG's 24 px minimum target) and inside the screen.
    box = page.get_by_role("button", name=button).bounding_box()
    assert box is not None and box["height"] >= 24 and box["x"] + box["width"] <= PHONE["width"]
    page.close()


def _works_without_javascript(context: Any, url: str, button: str, done: str) -> None:
    page = context.new_page()
    page.goto(url)
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()  # a plain form POST: no script involved
    assert page.get_by_role("heading", name=done).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.close()


def _says_what_happened(context: Any, url: str) -> None:
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 400
    assert page.get_by_role("heading", name=INVALID_TITLE).is_visible()
    assert "Nothing was changed" in page.content()
    page.close()


def test_the_unsubscribe_page_in_a_browser(server: dict[str, Any], tmp_path: Path) -> None:
    signup, link = _notified_signup(server)
    key = link_secret(server)
    expired = links.link(
        server["base_url"],
        links.make_token(key, server["shop_id"], signup["id"], "unsubscribe", ids.now() - timedelta(days=91)),
        "unsubscribe",
    )
    with browser(tmp_path / "js", javascript=True) as context:
        _renders_cleanly(context, link, "Unsubscribe")
        assert _signup_status(server, signup["id"])["status"] == "notified"  # opening the page changes nothing
        _says_what_happened(context, link[:-4] + "AAAA")  # tampered
        _says_what_happened(context, expired)
    with browser(tmp_path / "no-js", javascript=False) as context:
        _says_what_happened(context, expired)
        _works_without_javascript(context, link, "Unsubscribe", "You're unsubscribed")
    assert _signup_status(server, signup["id"])["status"] == "unsubscribed"


def test_the_optin_page_in_a_browser(server: dict[str, Any], tmp_path: Path) -> None:
    email = f"optin-{uuid.uuid4().hex[:8]}@example.com"
    body = {"channel": "email", "shopify_variant_id": 40011, "email": email}
    status, signup, _ = http(server, "POST", "/back_in_stock/signups", body)
    assert status == 201, signup
    key = link_secret(server)
    now = ids.now()
    link = links.link(server["base_url"], links.make_token(key, server["shop_id"], signup["id"], "optin", now), "optin")
    old = links.make_token(key, server["shop_id"], signup["id"], "optin", now - timedelta(days=8))
    with browser(tmp_path / "js", javascript=True) as context:
        _renders_cleanly(context, link, "Confirm my restock alert")
        _says_what_happened(context, links.link(server["base_url"], old, "optin"))
        _says_what_happened(context, link.replace("optin/confirm", "unsubscribe"))  # a link of another purpose
    with browser(tmp_path / "no-js", javascript=False) as context:
        # "You're on the list" is the page of a stored confirmation (a token that did not stamp the signup gets the
        # invalid-link page); the API shows `optin.confirmed` only for a shop that requires double opt-in, and this
        # server's demo shop is shared with the other e2e tests, so its settings stay as they are.
        _works_without_javascript(context, link, "Confirm my restock alert", "You're on the list")
