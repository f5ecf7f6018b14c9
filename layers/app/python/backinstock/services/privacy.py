"""Shopify's mandatory privacy webhooks: `customers/data_request`, `customers/redact`, `shop/redact`.

Shopify sends them to every app and expects them honoured (within 30 days): the webhook worker calls the three
functions below with the verified payload. Each is idempotent, because webhooks arrive at least once.

- `customer_data_request`: a report of what we hold about one customer of one shop (signups, the send log's rows,
  customer records, the attributions of the requested orders' lines to alerts, their preorder customer record and
  the requested orders' preorder ledger entries), stored as the shop's data-request item (repositories/privacy.py)
  for 30 days (TTL) and emailed once to the merchant (`Shop.email`), who answers the customer: Shopify gives apps
  no channel back. A replay sends no second email (a conditional claim on the stored item precedes the provider
  call; a failed send releases it for the retry).
- `redact_customer`: the customer's contacts are rubbed out of the shop's data: signups keep their history
  (ids, variants, timestamps, counters: the merchant's statistics) with `contact = "[redacted]"`, the other contact
  attributes removed and `unsubscribed_at` set, so no alert can ever go; pending guards, customer items, preorder
  customer profiles (their email and name; the preorder ledger and rollups hold only a customer key) and stored
  data-request reports about them are deleted; send-log rows get `contact = "[redacted]"`. Send claims and usage
  counters hold no contact, order attributions neither. Export files: the time the redaction finished is recorded
  (the shop's erasure item) and every download link of an export that started before it answers 410 at once; the
  files are never served again and the bucket's lifecycle rule deletes them within 7 days. The customer is
  identified by the payload's email (lower-cased) and phone (normalised as signups store it), then by every contact
  the rows found that way hold (an SMS signup found by its phone also names the email), until no new one appears.
- `redact_shop` (48 hours after uninstall): every item of the shop's partition and of each partition that
  `Privacy.extra_partitions` names (the factory passes the report rollups', the send claims' and the 16 signup and
  16 send-log partitions: repositories/shards.py), the shop's global API key items, its
  domain claim (only while it points to this shop) and its Secrets Manager secret. Afterwards the shop does not
  exist, its keys do not authenticate and every download link of its exports answers 410.

Rows are found by a Query of the shop's partition per sort-key prefix with a filter (signups and send-log rows: of
each of their 16 partitions, and of the shop's partition for rows not moved yet; see repositories/privacy.py):
no index by contact exists, none is worth its write cost for requests this rare, and a Scan is never used. Contacts
are never logged: log lines carry ids and counts only.

Known limits: a send already past its signup read when the redaction runs can still write one send-log row with the
contact after the redaction's pass (running the redaction again rubs it out); Powertools idempotency records of
`POST /signups` (their own table, keyed by request hash) keep the response, contact included, until they expire
(`api/idempotency.py`, 24 hours).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from backinstock import ids
from backinstock.models.signups import normalize_email, normalize_phone
from backinstock.providers import Email, EmailProvider
from backinstock.repositories.privacy import REDACTED, PrivacyRepository, customer_contact
from backinstock.repositories.shops import Shop, ShopRepository
from backinstock.services.preorder_ledger import customer_keys

if TYPE_CHECKING:
    from backinstock.repositories.shop_secrets import ShopSecrets

logger = Logger(child=True)

DATA_REQUEST_RETENTION = timedelta(days=30)
EMAIL_CLAIM_STALE_AFTER = timedelta(minutes=15)  # longer than the webhook worker's timeout (120 s) and its retries
MAX_FIND_ROUNDS = 4  # searches for the customer's rows, each adding the contacts the previous one found
MAX_REPORT_TEXT = 300_000  # bytes of JSON stored as text; above it gzip (an item holds 400 KB)


@dataclass(frozen=True)
class Privacy:
    """What the three functions need: the table (privacy queries and writes), shops, the shops' secrets, and the
    email provider (SES in production, moto locally) that reaches merchants."""

    records: PrivacyRepository
    shops: ShopRepository
    secrets: ShopSecrets
    email: EmailProvider
    # Partitions outside the shop's own that hold a shop's data, as functions shop id -> partition key (the report
    # rollups' shards, once-keys and marks; the send claims and leases; the signups' and the send log's 16 shards
    # each: `shop_partitions`, `send_partitions`, `purge_partitions`, `log_partitions`):
    # `redact_shop` purges each.
    extra_partitions: tuple[Callable[[str], str], ...] = ()


# ------------------------------------------------------------------------------------------ finding a customer
@dataclass
class _Customer:
    signups: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    contacts: set[str] = field(default_factory=set)


def _identity(payload: dict[str, Any]) -> tuple[set[str], set[str], str | None]:
    customer = payload.get("customer") or {}
    emails = {normalize_email(customer["email"])} if customer.get("email") else set()
    phones = {normalize_phone(customer["phone"])} if customer.get("phone") else set()
    customer_id = customer.get("id")
    return emails - {""}, phones - {""}, None if customer_id is None else str(customer_id)


def _held(item: dict[str, Any]) -> set[str]:
    """The contacts a signup or customer item holds."""
    held = {item.get(f) for f in ("contact", "customer_email", "customer_phone", "email", "phone")}
    held |= set(str(item.get("search_email") or "").split()) | set(str(item.get("search_phone") or "").split())
    return {str(v) for v in held if v} - {REDACTED}


def _find(privacy: Privacy, shop_id: str, emails: set[str], phones: set[str]) -> _Customer:
    """The customer's signups and customer items, and every contact they hold. A signup that names one of the
    customer's contacts names them all (an SMS signup can carry the email too), so the search repeats with the
    contacts it found until no new one appears (bounded: `MAX_FIND_ROUNDS`). Candidates are checked exactly: the
    Query's `contains` filter over-matches (a@x.io is in aa@x.io)."""
    found = _Customer(contacts=emails | phones)
    for _ in range(MAX_FIND_ROUNDS):
        if not found.contacts:
            break
        known = set(found.contacts)
        found.signups = [s for s in privacy.records.signup_candidates(shop_id, known) if _held(s) & known]
        found.customers = privacy.records.customers(shop_id, known)
        for item in found.signups + found.customers:
            found.contacts |= _held(item)
        if found.contacts == known:
            break
    return found


# ------------------------------------------------------------------------------------------- data request
SIGNUP_FIELDS = (
    "signup_id",
    "channel",
    "contact",
    "variant_id",
    "product_id",
    "variant_title",
    "product_title",
    "quantity",
    "customer_id",
    "customer_email",
    "customer_phone",
    "customer_name",
    "push_endpoint",
    "created_at",
    "optin_requested_at",
    "optin_confirmed_at",
    "notified_at",
    "last_notified_at",
    "blocked_at",
    "unsubscribed_at",
    "redacted_at",
    "notifications_sent",
)
NOTIFICATION_FIELDS = (
    "notification_id",
    "signup_id",
    "status",
    "channel",
    "contact",
    "variant_id",
    "product_id",
    "sent_at",
    "blocked_reason",
)
ATTRIBUTION_FIELDS = (
    "order_id",
    "order_name",
    "line_item_id",
    "variant_id",
    "product_id",
    "signup_id",
    "notification_id",
    "channel",
    "confidence",
    "quantity",
    "revenue",
    "currency",
    "ordered_at",
)


PREORDER_CUSTOMER_FIELDS = ("customer_key", "shopify_customer_id", "email", "name", "first_order_at", "last_order_at")
PREORDER_ORDER_FIELDS = ("order_id", "order_name", "placed_at", "currency", "presentment_currency", "lines", "cancel")


def _pick(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: item[f] for f in fields if item.get(f) is not None}


def _report(
    shop: Shop,
    payload: dict[str, Any],
    found: _Customer,
    notifications: list[dict[str, Any]],
    attributions: list[dict[str, Any]],
    at: str,
    preorders: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], []),
) -> dict[str, Any]:
    emails, phones, customer_id = _identity(payload)
    profiles, orders = preorders
    customers = []
    for c in found.customers:
        channel, contact = customer_contact(c)
        customers.append(
            {
                "channel": channel,
                "contact": contact,
                **_pick(c, ("customer_id", "email", "phone", "name", "created_at")),
            }
        )
    return {
        "data_request_id": str((payload.get("data_request") or {}).get("id")),
        "shop_domain": shop.domain,
        "generated_at": at,
        "customer": {
            "shopify_customer_id": customer_id,
            "email": next(iter(emails), None),
            "phone": next(iter(phones), None),
        },
        "orders_requested": payload.get("orders_requested") or [],
        "order_attributions": sorted(
            (_pick(a, ATTRIBUTION_FIELDS) for a in attributions), key=lambda a: (a["order_id"], a["line_item_id"])
        ),
        "signups": sorted((_pick(s, SIGNUP_FIELDS) for s in found.signups), key=lambda s: s["signup_id"]),
        "notifications": sorted(
            (_pick(n, NOTIFICATION_FIELDS) for n in notifications), key=lambda n: n["notification_id"]
        ),
        "customer_records": sorted(customers, key=lambda c: (c["channel"], c["contact"])),
        "preorder_customers": sorted(
            (_pick(c, PREORDER_CUSTOMER_FIELDS) for c in profiles), key=lambda c: c["customer_key"]
        ),
        "preorder_orders": sorted((_pick(o, PREORDER_ORDER_FIELDS) for o in orders), key=lambda o: o["order_id"]),
    }


def _stored_report(item: dict[str, Any]) -> dict[str, Any]:
    if "report" in item:
        return dict(json.loads(item["report"]))
    return dict(json.loads(gzip.decompress(bytes(item["report_gzip"]))))


def data_request_email(to: str, shop: Shop, report: dict[str, Any]) -> Email:
    request_id = report["data_request_id"]
    document = json.dumps(report, indent=2, sort_keys=True)
    summary = (
        f"{len(report['signups'])} restock signup(s), {len(report['notifications'])} alert(s) in the send log, "
        f"{len(report['customer_records'])} customer record(s), "
        f"{len(report['order_attributions'])} attribution(s) of the requested orders' lines to alerts, "
        f"{len(report.get('preorder_customers', []))} preorder customer record(s), "
        f"{len(report.get('preorder_orders', []))} of the requested orders in the preorder ledger"
    )
    text = (
        f"Shopify forwarded a customer's request for their data (data request {request_id}) for {shop.domain}.\n\n"
        f"Back in Stock holds: {summary}.\n\n"
        "Please pass the record below to the customer. It is also kept for 30 days under this data request id.\n\n"
        f"{document}\n"
    )
    html = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h1>Customer data request {escape(request_id)}</h1>"
        f"<p>Shopify forwarded a customer's request for their data for {escape(shop.domain)}.</p>"
        f"<p>Back in Stock holds: {escape(summary)}.</p>"
        "<p>Please pass the record below to the customer. It is also kept for 30 days under this data request id.</p>"
        f'<pre style="font-size:12px">{escape(document)}</pre></body></html>'
    )
    return Email(to=to, subject=f"Customer data request {request_id} for {shop.domain}", html=html, text=text)


def customer_data_request(
    privacy: Privacy, shop: Shop, payload: dict[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    """Store the customer's report once and email it once to the merchant. Returns the counts and what happened to
    the email: `sent`, `already_sent`, `in_progress` (another invocation holds the claim) or `no_merchant_email`."""
    request_id = str((payload.get("data_request") or {}).get("id") or "")
    if not request_id:
        raise ValueError("customers/data_request payload without data_request.id")
    moment = now or ids.now()
    at = ids.iso(moment)
    shop_id = shop.shop_id
    stored = privacy.records.data_request(shop_id, request_id)
    created = False
    if stored is None:
        emails, phones, customer_id = _identity(payload)
        found = _find(privacy, shop_id, emails, phones)
        notifications = privacy.records.notifications_to(shop_id, found.contacts) if found.contacts else []
        orders = [str(o) for o in payload.get("orders_requested") or []]
        attributions = privacy.records.order_attributions(shop_id, orders)
        profiles = privacy.records.preorder_customers(shop_id, _preorder_keys(customer_id, emails))
        preorders = (profiles, privacy.records.preorder_orders(shop_id, orders))
        report = _report(shop, payload, found, notifications, attributions, at, preorders)
        document = json.dumps(report, sort_keys=True)
        values: dict[str, Any] = {"created_at": at, "shopify_customer_id": customer_id}
        if len(document.encode()) <= MAX_REPORT_TEXT:
            values["report"] = document
        else:
            values["report_gzip"] = gzip.compress(document.encode())
        expires_at = int((moment + DATA_REQUEST_RETENTION).timestamp())
        created = privacy.records.put_data_request(shop_id, request_id, values, expires_at)
        stored = privacy.records.data_request(shop_id, request_id) if not created else values
    if stored is None:  # stored by a concurrent invocation, then expired or purged in between: let the retry redo it
        raise RuntimeError(f"data request {request_id} vanished while being stored")
    report = _stored_report(stored)
    held = (
        "signups",
        "notifications",
        "customer_records",
        "order_attributions",
        "preorder_customers",
        "preorder_orders",
    )
    counts = {k: len(report.get(k, [])) for k in held}
    result: dict[str, Any] = {"data_request_id": request_id, "stored": created, "counts": counts}

    if not shop.email:
        logger.warning(
            "data request stored; the shop has no merchant email to send it to",
            extra={"shop_id": shop_id, "data_request_id": request_id},
        )
        return {**result, "email": "no_merchant_email"}
    if stored.get("emailed_at"):
        return {**result, "email": "already_sent"}
    stale = ids.iso(moment - EMAIL_CLAIM_STALE_AFTER)
    if not privacy.records.claim_data_request_email(shop_id, request_id, at, stale):
        current = privacy.records.data_request(shop_id, request_id) or {}
        return {**result, "email": "already_sent" if current.get("emailed_at") else "in_progress"}
    try:
        message_id = privacy.email.send(data_request_email(shop.email, shop, report))
    except Exception:
        privacy.records.release_data_request_email(shop_id, request_id)  # the webhook's retry may send it
        raise
    privacy.records.mark_data_request_emailed(shop_id, request_id, ids.iso(ids.now()), message_id)
    logger.info(
        "data request emailed to the merchant", extra={"shop_id": shop_id, "data_request_id": request_id, **counts}
    )
    return {**result, "email": "sent"}


def _preorder_keys(customer_id: str | None, emails: set[str]) -> list[str]:
    """The keys the customer's preorder profile may have (services/preorder_ledger.py)."""
    keys = customer_keys(customer_id, None)
    for email in sorted(emails):
        keys += customer_keys(None, email)
    return keys


# ------------------------------------------------------------------------------------------ customer redact
def redact_customer(
    privacy: Privacy, shop: Shop, payload: dict[str, Any], now: datetime | None = None
) -> dict[str, int]:
    """Rub one customer's contacts out of the shop's data. Returns what was changed per item type; a second run
    finds nothing left and returns zeros."""
    at = ids.iso(now or ids.now())
    shop_id = shop.shop_id
    emails, phones, customer_id = _identity(payload)
    found = _find(privacy, shop_id, emails, phones)
    counts = {
        "signups": 0,
        "pending_guards": 0,
        "customers": 0,
        "notifications": 0,
        "data_requests": 0,
        "preorder_customers": 0,
    }
    # Signups first: once unsubscribed, no new send can start for them while the rest is cleaned.
    for s in found.signups:
        counts["signups"] += privacy.records.redact_signup(shop_id, s["signup_id"], at)
    if found.contacts:
        counts["pending_guards"] = privacy.records.delete_in_shop(
            shop_id, privacy.records.guard_keys(shop_id, found.contacts)
        )
        counts["customers"] = privacy.records.delete_found(shop_id, found.customers)
        for n in privacy.records.notifications_to(shop_id, found.contacts):
            counts["notifications"] += privacy.records.redact_notification(shop_id, n["notification_id"], at)
    profiles = privacy.records.preorder_customers(shop_id, _preorder_keys(customer_id, emails))
    counts["preorder_customers"] = privacy.records.delete_found(shop_id, profiles)
    counts["data_requests"] = privacy.records.delete_in_shop(
        shop_id, privacy.records.data_request_keys(shop_id, customer_id, found.contacts)
    )
    # Last, once the rows are rubbed out: every export that started before now may hold them, and its download link
    # answers 410 from here on (services/downloads.py).
    privacy.records.mark_erasure(shop_id, ids.now())
    logger.info("customer redacted", extra={"shop_id": shop_id, **counts})
    return counts


# ---------------------------------------------------------------------------------------------- shop redact
def redact_shop(privacy: Privacy, shop_id: str, payload: dict[str, Any]) -> dict[str, int]:
    """Purge everything of a shop. Keys go first (the API stops answering the shop), the shop partition last (it
    names the keys: a purge interrupted before it is redone in full by the webhook's retry)."""
    shop = privacy.shops.get(shop_id)
    hashes = set(privacy.records.api_key_hashes(shop_id)) | ({shop.api_key_hash} if shop else set())
    domains = {d.strip().lower() for d in (shop.domain if shop else None, payload.get("shop_domain")) if d}
    counts = {
        "api_keys": sum(privacy.records.delete_api_key(h, shop_id) for h in sorted(hashes)),
        "domain_claims": sum(privacy.records.release_domain(d, shop_id) for d in sorted(domains)),
        "extra_items": 0,
        "shop_items": 0,
    }
    privacy.secrets.delete(shop_id)
    for partition in privacy.extra_partitions:
        counts["extra_items"] += privacy.records.purge_partition(partition(shop_id))
    counts["shop_items"] = privacy.records.purge_shop(shop_id)
    logger.info("shop purged", extra={"shop_id": shop_id, **counts})
    return counts
