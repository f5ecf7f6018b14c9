"""The send worker's rules: decide per signup whether to send, deliver through a provider, log every attempt.

Every queued send carries a `send_id`. The worker claims it on its signup before calling the provider (the signup's
`last_send`, with the checks a send needs in the write's condition: not claimed before, notifiable, the resend
spacing) and records the log row after; a message delivered twice finds the claim and does not send again:
- claim `sending` or `blocked` whose log row exists: the work is done; nothing happens.
- claim `sending` without its log row: an earlier attempt crashed after claiming, so the provider may or may not
  have accepted the message. The worker does not send again (no double sends); it records the attempt as sent. The
  trade-off is at-most-once delivery in the rare crash between claim and provider call. (`blocked`: its row.)
- the provider refuses the recipient for good (`ProviderRefused`: SES MessageRejected, a malformed or suppressed
  address, an opted-out or invalid phone number, a disabled push endpoint): the claim is released and the send is
  recorded blocked with the provider's reason (`providers.REFUSED`); never retried.
- the provider throttles (`ProviderThrottled`), or the pace has no token for it (`Deferred`, raised before the
  claim): the claim (if any) is released and the worker defers the message's remaining sends (queued again with a
  delay, `workers/send.py`): backpressure, never a failure.
- any other provider error: the claim (and the send's usage, unless the message's lease holds it) is released and
  the error propagates, so SQS redelivers and the send is retried (up to the queue's maxReceiveCount, then the
  dead-letter queue).

The worker runs a message's sends as one `Batch` (`prepare`, then `settle` once all are done): their claims and
signups read in one BatchGetItem, and the month's quota reserved for the whole message in one transaction, so a
send writes its signup (its claim) and its log row, two calls and no transaction, and no shared item
(docs/ARCHITECTURE.md, "The send path's keys").

Blocked reasons, checked in this order, each a sentence a merchant understands (see `BLOCKED`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any

from aws_lambda_powertools import Logger

from backinstock import ids
from backinstock.models.settings import Settings
from backinstock.providers import Email, ProviderRefused, Providers, ProviderThrottled
from backinstock.repositories.notifications import (
    AlreadyClaimed,
    NotificationRepository,
    NotNotifiable,
    QuotaExceeded,
    lease_id,
)
from backinstock.repositories.shops import Shop, ShopRepository
from backinstock.repositories.signups import SignupRepository, send_spacing_holds
from backinstock.services import links
from backinstock.services.pacing import Pace

logger = Logger(child=True)

# Monthly sends per plan (None: unlimited). A send blocked by the quota is logged, not retried.
PLAN_MONTHLY_SENDS: dict[str, int | None] = {
    "free": 100,
    "starter": 1_000,
    "growth": 10_000,
    "pro": 100_000,
    "enterprise": None,
}
CLAIM_RETENTION = timedelta(days=15)  # longer than the queue keeps a message (4 days) and the DLQ (14 days)

BLOCKED = {
    "unsubscribed": "The contact unsubscribed from restock alerts",
    "channel_disabled": "The {channel} channel is disabled in settings (channels.{channel}.enabled)",
    "optin_unconfirmed": "Double opt-in is required and the customer has not confirmed it yet",
    "sms_verification": "SMS sending is held until the shop's SMS restricted-content verification completes "
    "(status: {status})",
    "quota": "The {plan} plan's monthly send quota ({limit} sends) is used up for {month}",
}


@dataclass(frozen=True)
class Sender:
    signups: SignupRepository
    notifications: NotificationRepository
    shops: ShopRepository
    providers: Providers
    link_secret: bytes
    public_base_url: str
    pace: Pace | None = None  # None: no pacing (benchmarks of the data path)


# A note on an error of `process_send` raised before the provider accepted the message (`not_sent`).
NOT_SENT = "backinstock: the send did not reach the provider"


def not_sent(exc: BaseException) -> bool:
    return NOT_SENT in getattr(exc, "__notes__", ())


class Deferred(Exception):
    """The pace has no token for this send within its horizon: nothing was claimed; send it later."""


@dataclass
class Outcome:
    status: str  # sent | blocked | skipped | recovered
    reason: str | None = None


def blocked_reason(item: dict[str, Any], shop: Shop, settings: Settings) -> str | None:
    channel = item["channel"]
    if item.get("unsubscribed_at"):
        return BLOCKED["unsubscribed"]
    if not getattr(settings.channels, channel).enabled:
        return BLOCKED["channel_disabled"].format(channel=channel)
    if item.get("optin_required") and not item.get("optin_confirmed_at"):
        return BLOCKED["optin_unconfirmed"]
    if channel == "sms":
        status = (shop.sms_verification or {}).get("status", "not started")
        if status != "verified":
            return BLOCKED["sms_verification"].format(status=status)
    return None


def _notification(
    item: dict[str, Any], notification_id: str, status: str, reason: str | None, at: str, campaign_id: str | None
) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,  # a restock campaign's send: counted for the campaign (services/rollups.py)
        "notification_id": notification_id,
        "shop_id": item["shop_id"],
        "signup_id": item["signup_id"],
        "status": status,
        "blocked_reason": reason,
        "channel": item["channel"],
        "contact": item["contact"],
        "variant_id": item["variant_id"],
        "product_id": item["product_id"],
        "sent_at": at,
        "created_at": at,
    }


def spaced_before(send: dict[str, Any], settings: Settings, moment: datetime) -> str:
    """The resend spacing of a send (issue 23, part 5): no alert of its signup may have gone out after this moment.
    A notify's send: the moment its notify took the signup's slot (the notify checked the window before it); any
    other send (a campaign's): the shop's window before now."""
    if send.get("held_at"):
        return str(send["held_at"])
    if send.get("outstanding"):  # queued before `held_at` was
        return ids.iso(datetime.fromtimestamp(int(send["outstanding"]), moment.tzinfo))
    return ids.iso(moment - timedelta(minutes=settings.delivery.resend_spacing_minutes))


# How old the batch's read of a signup may be when its send is decided: an unsubscribe or a notification since then
# is seen within this long (the read is repeated for the rest of the message once it is older).
STALE_AFTER_S = 1.0


@dataclass
class Batch:
    """What the sends of one queue message share (`prepare`): their claims and signups, read in one BatchGetItem
    per 50 sends (again for the sends left once the read is `STALE_AFTER_S` old), and the month's quota reserved for
    all of them at once (`lease`; None: a send at a time, when the month's rest is smaller than the message).
    `returned` counts the reservations the message did not use."""

    claims: dict[str, dict[str, Any]]
    signups: dict[str, dict[str, Any]]
    month: str
    lease: str | None
    sends: list[dict[str, Any]] = field(default_factory=list)
    read_at: float = field(default_factory=time.monotonic)
    returned: int = 0

    def fresh(self, s: Sender, shop_id: str, send: dict[str, Any]) -> None:
        """Read the claims and signups of this send and the ones after it again if the last read is too old."""
        if time.monotonic() - self.read_at <= STALE_AFTER_S:
            return
        rest = self.sends[next((i for i, x in enumerate(self.sends) if x is send), 0) :] or [send]
        claims, signups = s.notifications.prefetch(shop_id, rest)
        for x in rest:
            self.claims.pop(x["send_id"], None)
            self.signups.pop(x["signup_id"], None)
        self.claims.update(claims)
        self.signups.update(signups)
        self.read_at = time.monotonic()


def prepare(sender: Sender, shop: Shop, sends: list[dict[str, Any]], now: datetime | None = None) -> Batch:
    moment = now or ids.now()
    month = moment.strftime("%Y-%m")
    claims, items = sender.notifications.prefetch(shop.shop_id, sends)
    send_ids = list(dict.fromkeys(x["send_id"] for x in sends))
    lease = None
    if send_ids:
        candidate = lease_id(month, send_ids)
        limit = PLAN_MONTHLY_SENDS.get(shop.plan, 0)
        expires_at = int((moment + CLAIM_RETENTION).timestamp())
        if sender.notifications.reserve(shop.shop_id, candidate, month, len(send_ids), limit, expires_at):
            lease = candidate
    return Batch(claims, items, month, lease, sends=list(sends))


def settle(sender: Sender, shop: Shop, batch: Batch) -> None:
    """Every send of the message is done: its unused reservations go back to the month (once)."""
    if batch.lease is not None:
        sender.notifications.settle(shop.shop_id, batch.lease, batch.month, batch.returned)


def _unused(batch: Batch | None) -> None:
    if batch is not None:
        batch.returned += 1


def process_send(
    sender: Sender,
    shop: Shop,
    settings: Settings,
    send: dict[str, Any],
    now: datetime | None = None,
    batch: Batch | None = None,
    turn: Callable[[str], bool] | None = None,
) -> Outcome:
    """`turn(channel)`: the pace's token for a send that will reach the provider (waits for it; False: none now,
    the send raises `Deferred` before anything is written)."""
    shop_id, send_id, signup_id = shop.shop_id, send["send_id"], send["signup_id"]
    allow_resend = bool(send.get("allow_resend"))
    campaign = send.get("campaign_id")
    moment = now or ids.now()
    at = ids.iso(moment)
    expires_at = int((moment + CLAIM_RETENTION).timestamp())
    lease = batch.lease if batch is not None else None

    if batch is not None:
        batch.fresh(sender, shop_id, send)
        claim, item = batch.claims.get(send_id), batch.signups.get(signup_id)
    else:
        claim = sender.notifications.claim(shop_id, signup_id, send_id)
        item = sender.signups.signup(shop_id, signup_id)
    if claim is not None:
        if lease is None or claim.get("lease") != lease or claim["status"] != "sending":
            _unused(batch)  # this message's lease did not pay for it
        if claim["status"] not in ("sending", "blocked") or item is None or not claim.get("notification_id"):
            return Outcome("skipped", "already processed")
        status = "sent" if claim["status"] == "sending" else "blocked"
        row = _notification(
            item, claim["notification_id"], status, claim.get("reason"), claim["attempted_at"], campaign
        )
        recorded = (
            sender.notifications.record_sent(row, send_id, None)
            if status == "sent"
            else sender.notifications.record(row)
        )
        if not recorded:
            return Outcome("skipped", "already processed")
        logger.warning(
            "send interrupted after its claim; recorded it without sending again", extra={"send_id": send_id}
        )
        return Outcome("recovered")
    if item is None:
        _unused(batch)
        return Outcome("skipped", "signup deleted")
    if item.get("notified_at") and not allow_resend:
        _unused(batch)
        return Outcome("skipped", "already notified; no resend was asked for")
    spaced = spaced_before(send, settings, moment)
    if not send_spacing_holds(item, send_id, moment, spaced):
        _unused(batch)  # another send holds the signup's slot, or an alert went out within the window
        return Outcome("skipped", "resend spacing")

    notification_id = ids.uuid7(moment)
    reason = blocked_reason(item, shop, settings)
    month = batch.month if lease is not None and batch is not None else moment.strftime("%Y-%m")
    limit = PLAN_MONTHLY_SENDS.get(shop.plan, 0)
    if reason is None and turn is not None and not turn(item["channel"]):
        raise Deferred(send_id)
    before: dict[str, Any] | None = item
    if reason is None:
        try:
            before = (
                sender.notifications.claim_send(
                    shop_id,
                    send_id,
                    signup_id,
                    notification_id,
                    month,
                    limit,
                    allow_resend,
                    expires_at,
                    at,
                    lease,
                    spaced,
                    frees_slot=bool(send.get("outstanding")),
                )
                or item
            )
        except AlreadyClaimed:
            return Outcome("skipped", "claimed concurrently")
        except NotNotifiable:
            return Outcome("skipped", "notified concurrently")
        except QuotaExceeded:
            reason = BLOCKED["quota"].format(plan=shop.plan, limit=limit, month=month)
        except Exception as exc:
            exc.add_note(NOT_SENT)  # nothing went to the provider: the worker gives the pace's token back
            raise
    if reason is not None:
        _unused(batch)
        try:
            sender.notifications.record_blocked(
                _notification(item, notification_id, "blocked", reason, at, campaign), send_id, expires_at, allow_resend
            )
        except (AlreadyClaimed, NotNotifiable):
            return Outcome("skipped", "processed concurrently")
        return Outcome("blocked", reason)

    try:
        provider_id = deliver(sender, shop, item, moment)
    except ProviderRefused as refused:
        # A refusal is an outcome: the claim goes (so the blocked row can take its place), the send is logged blocked.
        sender.notifications.release_claim(shop_id, send_id, month, lease is not None, signup_id, before)
        _unused(batch)  # a blocked send uses no quota
        logger.info("the provider refused the recipient", extra={"send_id": send_id, "error": refused.code})
        try:
            sender.notifications.record_blocked(
                _notification(item, notification_id, "blocked", refused.reason, at, campaign),
                send_id,
                expires_at,
                allow_resend,
            )
        except (AlreadyClaimed, NotNotifiable):
            return Outcome("skipped", "processed concurrently")
        return Outcome("blocked", refused.reason)
    except Exception as exc:
        exc.add_note(NOT_SENT)  # the provider did not accept it (the pace's token goes back)
        sender.notifications.release_claim(shop_id, send_id, month, lease is not None, signup_id, before)
        raise
    sender.notifications.record_sent(
        _notification(item, notification_id, "sent", None, at, campaign), send_id, provider_id
    )
    if batch is not None:  # a later send of the message to the same signup sees it notified (and its claim)
        claimed = {"send_id": send_id, "status": "sending", "notification_id": notification_id, "attempted_at": at}
        batch.signups[signup_id] = {
            **item,
            "notified_at": item.get("notified_at") or at,
            "last_notified_at": at,
            "last_send": {**claimed, "lease": lease},
        }
    # The signup's pending guard is not released here: the next signup of the same contact takes a notified
    # owner's guard over (`services.signups.create_signup`), so a send writes no guard item.
    return Outcome("sent")


# ---------------------------------------------------------------------------------------------------- messages
UTM = "utm_source=backinstock&utm_medium={channel}&utm_campaign=restock"


def product_url(shop: Shop, item: dict[str, Any]) -> str:
    handle = item.get("product_handle")
    path = f"/products/{handle}" if handle else f"/products/{item['product_id']}"
    return f"https://{shop.domain}{path}?variant={item['variant_id']}&{UTM.format(channel=item['channel'])}"


def product_name(item: dict[str, Any]) -> str:
    product = item.get("product_title") or f"Product {item['product_id']}"
    variant = item.get("variant_title")
    return f"{product} ({variant})" if variant and variant != "Default Title" else product


def deliver(sender: Sender, shop: Shop, item: dict[str, Any], moment: datetime) -> str:
    name = product_name(item)
    url = product_url(shop, item)
    token = links.make_token(sender.link_secret, shop.shop_id, item["signup_id"], "unsubscribe", moment)
    unsubscribe = links.link(sender.public_base_url, token, "unsubscribe")
    channel = item["channel"]
    if channel == "email":
        return sender.providers.email.send(restock_email(item["contact"], name, url, unsubscribe))
    if channel == "sms":
        return sender.providers.sms.send(
            item["contact"], f"{name} is back in stock: {url} Unsubscribe: {unsubscribe} or reply STOP"
        )
    endpoint = item.get("push_endpoint")
    if not endpoint:
        raise ValueError(f"push signup {item['signup_id']} has no push endpoint")
    return sender.providers.push.send(endpoint, "Back in stock", f"{name} is back in stock", url)


def restock_email(to: str, name: str, url: str, unsubscribe: str) -> Email:
    subject = f"{name} is back in stock"
    text = (
        f"Good news: {name} is back in stock.\n\nShop it now: {url}\n\n"
        f"You asked to be told when it returned. Unsubscribe: {unsubscribe}\n"
    )
    html = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h1>{escape(name)} is back in stock</h1>"
        f"<p>You asked us to tell you when it returned. It is available now.</p>"
        f'<p><a href="{escape(url)}">Shop {escape(name)}</a></p>'
        f'<p style="font-size:12px;color:#666"><a href="{escape(unsubscribe)}">Unsubscribe</a> from this alert.</p>'
        "</body></html>"
    )
    # RFC 8058 one-click unsubscribe, which large mailbox providers require of bulk senders: the mailbox POSTs
    # `List-Unsubscribe=One-Click` to the signed link, which `POST /back_in_stock/unsubscribe` accepts.
    headers = (("List-Unsubscribe", f"<{unsubscribe}>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return Email(to=to, subject=subject, html=html, text=text, headers=headers)


def send_optin(
    sender: Sender,
    shop: Shop,
    item: dict[str, Any],
    now: datetime | None = None,
    turn: Callable[[str], bool] | None = None,
) -> Outcome:
    """The double opt-in confirmation: a link the customer clicks to confirm. Not a restock alert: no quota,
    no log row. Sent at most once per signup (`optin_requested_at` is claimed before the provider call). It takes
    the pace's token like a send (`Deferred` when there is none); a throttled confirmation gives its claim back and
    raises `ProviderThrottled` (the worker defers the message)."""
    if item.get("optin_confirmed_at") or item.get("unsubscribed_at") or item.get("notified_at"):
        return Outcome("skipped", "nothing to confirm")
    if turn is not None and not turn(item["channel"]):
        raise Deferred(item["signup_id"])
    moment = now or ids.now()
    marked = ids.iso(moment)
    if not sender.signups.mark_once(shop.shop_id, item["signup_id"], "optin_requested_at", marked):
        return Outcome("skipped", "confirmation already sent")
    try:
        _send_optin(sender, shop, item, moment)
    except ProviderThrottled:
        sender.signups.unmark(shop.shop_id, item["signup_id"], "optin_requested_at", marked)
        raise
    return Outcome("sent")


def _send_optin(sender: Sender, shop: Shop, item: dict[str, Any], moment: datetime) -> None:
    token = links.make_token(sender.link_secret, shop.shop_id, item["signup_id"], "optin", moment)
    confirm = links.link(sender.public_base_url, token, "optin")
    name = product_name(item)
    if item["channel"] == "sms":
        sender.providers.sms.send(item["contact"], f"Confirm your restock alert for {name}: {confirm}")
        return
    text = f"Please confirm that you want an alert when {name} is back in stock: {confirm}\n"
    html = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<p>Please confirm that you want an email when <b>{escape(name)}</b> is back in stock.</p>"
        f'<p><a href="{escape(confirm)}">Confirm my restock alert</a></p>'
        '<p style="font-size:12px;color:#666">Ignore this email if you did not ask for it.</p></body></html>'
    )
    sender.providers.email.send(
        Email(to=item["contact"], subject=f"Confirm your restock alert for {name}", html=html, text=text)
    )
