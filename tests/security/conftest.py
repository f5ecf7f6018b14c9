"""The security suite: the API probed over HTTP as an attacker would, one module per OWASP API Security Top 10
(2023) risk, against the session's local run (`tests/local_server.py`, one server shared with `tests/e2e/`).

Routes come from the registry, and each route's request from its declared sample (`Action.sample`), so a route added
tomorrow is probed the day it is added. Two shops are set up once: the `victim`, whose objects the `attacker` (a
shop with a valid key of its own) tries to reach.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import uuid
from typing import Any

import pytest

from backinstock import ids
from backinstock.services import links
from tests.e2e.conftest import cli, eventually, http, outbox
from tests.local_server import aws_client

pytestmark = pytest.mark.security
PRODUCT = 7_700
_variants = itertools.count(7_701)

# What no error body may show: a stack trace, an AWS resource, a library's internals, a key of the table.
INTERNALS = re.compile(
    r"Traceback|File \"|arn:aws|botocore|boto3|pydantic|Exception|RecursionError|OverflowError|"
    r"\bPK\b|\bSK\b|GSI\dPK|SHOP#|SIGNUP#|NOTIF#|dynamodb|amazonaws|localhost:\d|127\.0\.0\.1:\d",
)


def new_shop(server: dict[str, Any], tag: str) -> dict[str, Any]:
    """A fresh shop (admin CLI, the high-limit plan) with one variant in its catalog."""
    # The high-limit plan: the suite sends hundreds of requests a minute through each shop (tests/integration/
    # test_rate_limits.py and tests/e2e/test_rate_limits.py prove the default plan's limit).
    domain = f"sec-{tag}-{uuid.uuid4().hex[:6]}.myshopify.com"
    created = cli(server, "shops", "create", "--domain", domain, "--plan", "enterprise")
    assert created.returncode == 0, created.stderr
    shop: dict[str, Any] = {**server, **json.loads(created.stdout)}
    shop["variant_id"] = variant_id = next(_variants)
    added = cli(
        server,
        *("catalog", "add", "--shop-id", shop["shop_id"], "--variant-id", str(variant_id)),
        *("--product-id", str(PRODUCT), "--title", "One", "--product-title", "Sec Tee", "--handle", "sec-tee"),
    )
    assert added.returncode == 0, added.stderr
    return shop


def call(shop: dict[str, Any], method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any, dict[str, str]]:
    """A request with the shop's key; `api_key=None` (or another key) to send none (or that one)."""
    kw.setdefault("api_key", shop.get("api_key"))
    return http(shop, method, path, body, **kw)


def link_secret(server: dict[str, Any]) -> bytes:
    """The local run's link-signing key, read from its Secrets Manager (moto): to sign expired links."""
    client = aws_client(server, "secretsmanager")
    arn = server["environment"]["LINK_SECRET_ARN"]
    return str(client.get_secret_value(SecretId=arn)["SecretString"]).encode()


def populate(server: dict[str, Any], shop: dict[str, Any]) -> dict[str, str]:
    """Objects of every kind a route takes an id of, and the links of its messages: the values of the samples'
    placeholders (`testkit.samples.SAMPLE_PLACEHOLDERS`) for this shop."""
    email = f"sec-{uuid.uuid4().hex[:8]}@example.com"
    body = {"channel": "email", "shopify_variant_id": shop["variant_id"], "email": email}
    status, notified, _ = call(shop, "POST", "/back_in_stock/signups", body)
    assert status == 201, notified
    status, pending, _ = call(shop, "POST", "/back_in_stock/signups", {**body, "email": "p-" + email})
    assert status == 201, pending
    status, spare, _ = call(shop, "POST", "/back_in_stock/signups", {**body, "email": "s-" + email})
    assert status == 201, spare
    assert call(shop, "POST", f"/back_in_stock/signups/{notified['id']}/notify")[0] == 202

    def notification() -> str | None:
        page = call(shop, "GET", f"/back_in_stock/notifications?variant_id={shop['variant_id']}")[1]
        return next((n["id"] for n in page["notifications"] if n["signup_id"] == notified["id"]), None)

    notification_id = eventually(notification, "the victim's notification")
    email_message = eventually(
        lambda: next((m for m in outbox(server)["emails"] if email in m["to"]), None), "the restock email"
    )
    unsubscribe = next(link for link in email_message["links"] if "/unsubscribe?token=" in link)
    created = cli(
        server,
        *("offers", "create", "--shop-id", shop["shop_id"], "--name", "Sec drop", "--selling-plan-id", "99001"),
        *("--variant-id", str(shop["variant_id"]), "--deposit-percent", "25", "--balance-due-days", "14"),
    )
    assert created.returncode == 0, created.stderr
    status, job, _ = call(shop, "POST", "/back_in_stock/reports/summary/export", {})
    assert status == 202, job
    restock_variant = {"shopify_variant_id": shop["variant_id"] + 500_000, "shopify_product_id": PRODUCT}
    status, restock, _ = call(shop, "POST", "/back_in_stock/restocks", restock_variant)
    assert status == 202, restock
    key = link_secret(server)
    return {
        "api_key": shop["api_key"],
        "shop_domain": shop["domain"],
        "signup_id": notified["id"],
        "pending_signup_id": pending["id"],
        "spare_signup_id": spare["id"],
        "notification_id": notification_id,
        "optin_token": links.make_token(key, shop["shop_id"], notified["id"], "optin", ids.now()),
        "unsubscribe_token": unsubscribe.split("token=", 1)[1],
        "job_id": job["job_id"],
        "download_token": links.make_token(key, shop["shop_id"], job["job_id"], "download", ids.now(), file="f.csv"),
        "offer_id": json.loads(created.stdout)["id"],
        "restock_id": restock["id"],
        "from": "2026-01-01",
        "to": "2026-03-31",
        "shopify_hmac": "",
        "email": email,
    }


@pytest.fixture(scope="session")
def victim(server: dict[str, Any]) -> dict[str, Any]:
    shop = new_shop(server, "victim")
    shop["values"] = populate(server, shop)
    return shop


@pytest.fixture(scope="session")
def attacker(server: dict[str, Any]) -> dict[str, Any]:
    shop = new_shop(server, "attacker")
    shop["values"] = populate(server, shop)
    return shop


WEBHOOK_SECRET = "whsec-security-suite-0123456789"


@pytest.fixture(scope="session")
def merchant(server: dict[str, Any]) -> dict[str, Any]:
    """A shop connected to Shopify with a webhook secret the suite knows: it plays an attacker who captured one of
    the shop's signed webhooks (and Shopify, for the privacy webhooks)."""
    shop = new_shop(server, "webhooks")
    connected = cli(
        server,
        *("shops", "connect-shopify", "--shop-id", shop["shop_id"], "--webhook-secret", WEBHOOK_SECRET),
        *("--access-token", "shpat_security_suite_0123456789"),
    )
    assert connected.returncode == 0, connected.stderr
    return shop


def signed(shop: dict[str, Any], topic: str, body: bytes, event_id: str | None = None) -> tuple[int, Any]:
    """`body` delivered as Shopify delivers it: signed with the shop's webhook secret, under `topic`."""
    signature = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop["domain"],
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
    }
    status, answer, _ = call(shop, "POST", "/webhooks/shopify", raw=body, api_key=None, headers=headers)
    return status, answer
