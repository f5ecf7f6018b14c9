"""Shops and API keys: creation, key rotation, and authentication of a presented key.

API keys are random (256 bits, URL-safe), shown once, stored only as their SHA-256 hash.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from backinstock.errors import ValidationFailed
from backinstock.repositories.shops import Shop

KEY_PREFIX = "bis_"
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,61}\.myshopify\.com$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PLANS = ("free", "starter", "growth", "pro", "enterprise")


class ShopStore(Protocol):
    def create(self, shop: dict[str, Any], key_hash: str, now: str) -> None: ...

    def require(self, shop_id: str) -> Shop: ...

    def shop_id_for_key(self, key_hash: str) -> str | None: ...

    def identity_for_key(self, key_hash: str) -> tuple[str, str | None] | None: ...

    def rotate_key(self, shop_id: str, old_hash: str, new_hash: str, now: str, plan: str | None = None) -> None: ...

    def set_sms_verification(self, shop_id: str, status: str, now: str) -> Shop: ...


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def create_shop(
    store: ShopStore,
    domain: str,
    plan: str = "free",
    currency: str = "USD",
    timezone: str = "UTC",
    shop_id: str | None = None,
    email: str | None = None,
) -> dict[str, str]:
    """Create a shop and its first API key. Returns the key: the only time it is ever shown."""
    domain = domain.strip().lower()
    fields = {"domain": domain, "plan": plan, "currency": currency, "timezone": timezone, "email": email}
    problems = [p for name, value in fields.items() if value is not None and (p := field_problem(name, value))]
    if problems:
        raise ValidationFailed(*problems)
    api_key = new_key()
    now = _now()
    shop: dict[str, str | None] = {
        "shop_id": shop_id or uuid.uuid4().hex[:16],
        "domain": domain,
        "plan": plan,
        "currency": currency,
        "timezone": timezone,
        "created_at": now,
        "email": email,
    }
    store.create(shop, hash_key(api_key), now)
    return {"shop_id": str(shop["shop_id"]), "domain": domain, "api_key": api_key}


def field_problem(name: str, value: str) -> str | None:
    """What is wrong with a shop's field (`domain`, `plan`, `currency`, `timezone`, `email`), or None: the rules
    `create_shop` applies, for the CLI to check an option before anything runs."""
    if name == "domain" and not _DOMAIN.match(value):
        return f"domain must be a myshopify domain like my-shop.myshopify.com (got {value!r})"
    if name == "plan" and value not in PLANS:
        return f"plan must be one of {', '.join(PLANS)} (got {value!r})"
    if name == "currency" and not _CURRENCY.match(value):
        return f"currency must be an ISO 4217 code like USD (got {value!r})"
    if name == "timezone" and not _valid_timezone(value):
        return f"timezone must be an IANA time zone like Europe/Paris (got {value!r})"
    if name == "email" and not _EMAIL.match(value):
        return f"email must be an email address like owner@example.com (got {value!r})"
    return None


def _valid_timezone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def rotate_key(store: ShopStore, shop_id: str) -> dict[str, str]:
    """Issue a new key and revoke the current one. Returns the new key (shown once)."""
    shop = store.require(shop_id)
    api_key = new_key()
    store.rotate_key(shop_id, shop.api_key_hash, hash_key(api_key), _now(), shop.plan)
    return {"shop_id": shop_id, "domain": shop.domain, "api_key": api_key}


SMS_VERIFICATION_STATUSES = ("pending", "verified", "rejected")


def set_sms_verification(store: ShopStore, shop_id: str, status: str) -> dict[str, Any]:
    """Record the outcome of the SMS restricted-content verification (an operator's decision): SMS sends go out
    only while it is `verified`. Returns the channels' view of it."""
    if status not in SMS_VERIFICATION_STATUSES:
        raise ValidationFailed(f"status must be one of {', '.join(SMS_VERIFICATION_STATUSES)} (got {status!r})")
    shop = store.set_sms_verification(shop_id, status, _now())
    return {"shop_id": shop_id, "sms_verification": shop.sms_verification}


def authenticate(store: ShopStore, headers: dict[str, str]) -> str | None:
    """The shop id for the request's key (`X-Auth-Token: <key>` or `Authorization: Bearer <key>`), or None.

    Missing, malformed, unknown and revoked keys are indistinguishable to the caller.
    """
    found = identify(store, headers)
    return found[0] if found else None


def identify(store: ShopStore, headers: dict[str, str]) -> tuple[str, str | None] | None:
    """The shop id and plan (its rate limit) for the request's key, or None: `authenticate`'s rules.

    One identity per request: the key is `X-Auth-Token` or `Authorization: Bearer`, and a request that sends both
    must send the same key in each (else None, a 401). So the identity is a function of either header alone, and
    API Gateway's authorizer cache, keyed on one of them (the route's identity source), can never hand one request
    the identity another request's other header named."""
    lowered = {k.lower(): v for k, v in (headers or {}).items() if isinstance(v, str)}
    api_key = lowered.get("x-auth-token", "").strip()
    authorization = lowered.get("authorization", "").strip()
    bearer: str | None = None  # None: no Authorization header; "": one that carries no key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        bearer = value.strip() if scheme.lower() == "bearer" else ""
    if api_key and bearer is not None and bearer != api_key:
        return None
    token = api_key or bearer or ""
    if not token or len(token) > 200:
        return None
    return store.identity_for_key(hash_key(token))


MIN_SECRET_LENGTH = 16


def connect_shopify(
    store: Any,
    secrets_store: Any,
    shop_id: str,
    webhook_secret: str,
    access_token: str,
    email: str | None = None,
    admin_api_url: str | None = None,
) -> dict[str, Any]:
    """Store the shop's Shopify webhook secret and Admin API access token (Secrets Manager), and optionally the
    merchant's email (alerts, reports) and an Admin API URL override (the local run's fake Shopify)."""
    from backinstock.repositories.shop_secrets import ShopifyCredentials

    problems = []
    if len(webhook_secret.strip()) < MIN_SECRET_LENGTH:
        problems.append(f"webhook secret must be at least {MIN_SECRET_LENGTH} characters (the app's client secret)")
    if len(access_token.strip()) < MIN_SECRET_LENGTH:
        problems.append(f"access token must be at least {MIN_SECRET_LENGTH} characters (shpat_...)")
    if email is not None and not _EMAIL.match(email):
        problems.append(f"email must be an email address like owner@example.com (got {email!r})")
    if admin_api_url is not None and not re.match(r"^https?://[^\s/]+", admin_api_url):
        problems.append(f"admin API URL must be an http(s) URL (got {admin_api_url!r})")
    if problems:
        raise ValidationFailed(*problems)
    store.require(shop_id)
    secrets_store.put(shop_id, ShopifyCredentials(webhook_secret.strip(), access_token.strip()))
    shop = store.set_shopify_connection(shop_id, _now(), email, admin_api_url)
    return {
        "shop_id": shop_id,
        "domain": shop.domain,
        "email": shop.email,
        "shopify_connected_at": shop.shopify_connected_at,
        "admin_api_url": shop.admin_api_url,
        "secrets": "stored in Secrets Manager; never shown again",
    }
