"""Waitlist rules (reference 004): list, read, create, delete, notify, bulk operations, transfer.

No HTTP and no boto3: repositories and the queue are passed in (`Waitlist`). Sends are not made here: notify and
bulk notify enqueue them for the send worker (`services.sending`), which decides and delivers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from backinstock import ids
from backinstock.errors import Conflict, NotFound, Problem, ValidationFailed
from backinstock.models import signups as m
from backinstock.models.status import status_of
from backinstock.queue import SENDS_PER_MESSAGE, SendQueue
from backinstock.repositories.catalog import CatalogRepository
from backinstock.repositories.rollups import RollupRepository
from backinstock.repositories.shops import ShopRepository
from backinstock.repositories.signups import GuardTaken, ListFilter, SignupMissing, SignupRepository
from backinstock.services.rollups import dimension_for

OUTSTANDING_FOR = timedelta(minutes=15)  # a notify's send that was never processed stops holding later ones
# How long a processed send still holds the signup's send slot after its notify: 0, the spacing window between two
# alerts is the shop's setting (delivery.resend_spacing_minutes), checked against the signup's `last_notified_at`.
RESEND_SPACING = timedelta(0)
ALREADY_NOTIFIED = "Signup was already notified. Pass allow_resend to send again."
NOT_FOUND = "Signup not found"


@dataclass(frozen=True)
class Waitlist:
    signups: SignupRepository
    catalog: CatalogRepository
    shops: ShopRepository
    queue: SendQueue
    rollups: RollupRepository | None = None  # the lists' counts (None: counted from the matching ids)


# ------------------------------------------------------------------------------------------------ representation
def view(item: dict[str, Any]) -> m.Signup:
    required = bool(item.get("optin_required"))
    return m.Signup(
        id=item["signup_id"],
        status=status_of(item),
        channel=item["channel"],
        contact=item["contact"],
        quantity=int(item.get("quantity", 1)),
        variant=m.Variant(
            shopify_variant_id=item["variant_id"],
            shopify_product_id=item["product_id"],
            title=item.get("variant_title"),
        ),
        customer=m.Customer(
            id=item["customer_id"],
            email=item.get("customer_email"),
            phone=item.get("customer_phone"),
            name=item.get("customer_name"),
        ),
        optin=m.Optin(required=required, confirmed=bool(item.get("optin_confirmed_at")) if required else None),
        notifications_sent=int(item.get("notifications_sent", 0)),
        last_notified_at=item.get("last_notified_at"),
        created_at=item["created_at"],
    )


# A listing of at most this many rows is counted from its ids (one keys-only Query page, exact at once); a longer
# one from the rollup counters where its filters have one (docs/GUIDE.md, "What a list costs").
EXACT_UP_TO = 1000


def page(
    query: m.ListQuery,
    where: ListFilter,
    list_ids: Callable[..., list[str]],
    fetch: Callable[[list[str]], dict[str, dict[str, Any]]],
    now: datetime | None = None,
    counted: Callable[[datetime, datetime], int | None] | None = None,
    first_ids: Callable[..., tuple[list[str], bool]] | None = None,
) -> tuple[list[dict[str, Any]], m.PageMeta]:
    """One page of a list (signups or notifications): the filters shared by both lists are added to `where`, `fetch`
    reads the page's items by id. The ids (newest first, up to the snapshot time) are read up to the page's end or
    `EXACT_UP_TO` (`first_ids`); a listing that ends there is counted from them. A longer one is counted by
    `counted(upper bound, now)` (the rollup counters) when its filters have a counter, else from every matching id."""
    if query.channel:
        where.equals("channel", query.channel)
    now = now or ids.now()
    upper = query.upper_bound(now)
    start = (query.page - 1) * query.per_page
    window = {"variant_id": query.variant_id, "product_id": query.product_id, "start": query.from_, "end": upper}
    matching: list[str] | None = None
    total: int | None = None
    if counted is not None and first_ids is not None:
        matching, complete = first_ids(where, limit=max(EXACT_UP_TO, start + query.per_page), **window)
        total = len(matching) if complete else counted(upper, now)
    if matching is None or total is None:
        matching = list_ids(where, **window)
        total = len(matching)
    page_ids = matching[start : start + query.per_page]
    found = fetch(page_ids) if page_ids else {}
    meta = m.PageMeta.of(total, query.page, query.per_page, ids.iso(upper))
    return [found[i] for i in page_ids if i in found], meta


def counter_total(
    rollups: RollupRepository,
    shop_id: str,
    query: m.ListQuery,
    kind: str,
    status: str | None,
    list_ids: Callable[..., list[str]],
    where: ListFilter,
) -> Callable[[datetime, datetime], int | None]:
    """The count of a list from the all-time counters `<kind>[_<status>]` of the filters' dimension (one GetItem),
    less the matching rows created after the snapshot (`as_of`: one Query of the few newest keys). None (count the
    ids) for filters without a counter: a window (`from`, `to`), a contact search, a variant and a product at once.
    The counters follow the table stream: a write shows in the count when the aggregator has applied it (seconds)."""

    def total(upper: datetime, now: datetime) -> int | None:
        if query.from_ is not None or query.to is not None:
            return None
        if query.variant_id is not None and query.product_id is not None:
            return None
        dimension = dimension_for(query.variant_id, query.product_id, query.channel)
        name = f"{kind}_{status}" if status else kind
        count = rollups.total(shop_id, dimension, name, consistent=False)
        if upper < now:  # a later page of a snapshot: the rows created since its first page are not listed
            newer = list_ids(
                where,
                variant_id=query.variant_id,
                product_id=query.product_id,
                start=upper + timedelta(milliseconds=1),
                end=now,
            )
            count -= len(newer)
        return max(count, 0)

    return total


# --------------------------------------------------------------------------------------------------------- reads
def list_signups(
    waitlist: Waitlist, shop_id: str, query: m.SignupListQuery, now: datetime | None = None
) -> m.SignupList:
    where = ListFilter()
    if query.status:
        where.status(query.status)
    if query.email:
        where.contains("search_email", m.normalize_email(query.email))
    if query.phone:
        where.contains("search_phone", m.normalize_phone(query.phone))
    list_ids = partial(waitlist.signups.list_ids, shop_id)
    counted = None
    if waitlist.rollups is not None and not query.email and not query.phone:
        counted = counter_total(waitlist.rollups, shop_id, query, "signups", query.status, list_ids, where)
    items, meta = page(
        query,
        where,
        list_ids,
        partial(waitlist.signups.signups, shop_id),
        now,
        counted,
        partial(waitlist.signups.first_ids, shop_id),
    )
    return m.SignupList(signups=[view(i) for i in items], meta=meta)


def get_signup(waitlist: Waitlist, shop_id: str, signup_id: str) -> m.Signup:
    return view(_require(waitlist, shop_id, signup_id))


def _require(waitlist: Waitlist, shop_id: str, signup_id: str) -> dict[str, Any]:
    item = waitlist.signups.signup(shop_id, signup_id) if ids.is_uuid(signup_id) else None
    if item is None:
        raise NotFound(f"{NOT_FOUND}: no signup {signup_id} in this shop")
    return item


# -------------------------------------------------------------------------------------------------------- create
def resolve_variant(
    catalog: CatalogRepository, shop_id: str, variant_id: int, product_id: int | None, field_prefix: str = ""
) -> dict[str, Any]:
    """The catalog's view of a variant: `{variant_id, product_id, title, product_title}`. An unknown variant needs an
    explicit product id; a product id that contradicts the catalog is refused. (Signups, transfers and restocks
    started by hand name their variant alike.)"""
    known = catalog.variant(shop_id, variant_id)
    if known is None:
        if product_id is None:
            raise ValidationFailed(
                problems=[
                    Problem(
                        "unknown_variant",
                        f"variant {variant_id} is not in this shop's catalog: pass {field_prefix}shopify_product_id "
                        "too, or sync the catalog first",
                        f"{field_prefix}shopify_variant_id",
                    )
                ]
            )
        return {"variant_id": variant_id, "product_id": product_id, "title": None, "product_title": None}
    if product_id is not None and product_id != known["product_id"]:
        raise ValidationFailed(
            problems=[
                Problem(
                    "product_mismatch",
                    f"variant {variant_id} belongs to product {known['product_id']}, not {product_id}",
                    f"{field_prefix}shopify_product_id",
                )
            ]
        )
    return {
        "variant_id": variant_id,
        "product_id": int(known["product_id"]),
        "title": known.get("title"),
        "product_title": known.get("product_title"),
        "handle": known.get("handle"),
    }


def create_signup(waitlist: Waitlist, shop_id: str, body: m.SignupCreate, now: datetime | None = None) -> m.Signup:
    moment = now or ids.now()
    at = ids.iso(moment)
    from backinstock.services.settings import settings_of  # only create needs the settings models (cold start)

    variant = resolve_variant(waitlist.catalog, shop_id, body.shopify_variant_id, body.shopify_product_id)
    optin_required = settings_of(waitlist.shops.require(shop_id)).compliance.optin_required
    customer = waitlist.signups.upsert_customer(
        shop_id, body.channel, body.contact, str(uuid.uuid4()), body.name, body.email, body.phone, at
    )
    signup_id = ids.uuid7(moment)
    search_email = " ".join(v for v in (body.email, customer.get("email")) if v)
    search_phone = " ".join(v for v in (body.phone, customer.get("phone")) if v)
    item = {
        "entity": "signup",
        "signup_id": signup_id,
        "shop_id": shop_id,
        "channel": body.channel,
        "contact": body.contact,
        "quantity": body.quantity,
        "variant_id": variant["variant_id"],
        "product_id": variant["product_id"],
        "variant_title": variant.get("title"),
        "product_title": variant.get("product_title"),
        "product_handle": variant.get("handle"),
        "customer_id": customer["customer_id"],
        "customer_email": customer.get("email"),
        "customer_phone": customer.get("phone"),
        "customer_name": customer.get("name"),
        "optin_required": optin_required,
        "notifications_sent": 0,
        "created_at": at,
        "search_email": search_email or None,
        "search_phone": search_phone or None,
    }  # its keys and index entries: the repository's (`SignupRepository.create`)
    # The opt-in confirmation (when required) is not queued here: the table's stream queues it once the write is
    # committed (services/optin.py), so a refused create (409) or a failed write leaves no message behind.
    create_unique(waitlist, item)
    return view(item)


def create_unique(waitlist: Waitlist, item: dict[str, Any]) -> None:
    try:
        waitlist.signups.create(item)
        return
    except GuardTaken as taken:
        owner = waitlist.signups.guard_owner(item["shop_id"], taken.owner_id) if taken.owner_id else None
        if owner is not None and status_of(owner) in ("pending", "blocked"):
            raise _duplicate(item, f" (signup {owner['signup_id']})", status_of(owner)) from None
        stale = taken.owner_id
    # The guard's owner was notified, unsubscribed or deleted without releasing it (a crash in between): take it.
    try:
        waitlist.signups.create(item, stale_guard_owner=stale)
    except GuardTaken:
        raise _duplicate(item) from None


def _duplicate(item: dict[str, Any], owner: str = "", status: str = "pending") -> Conflict:
    """The 409 of a create that duplicates a waiting signup. A blocked signup (a send was attempted and stopped,
    e.g. by plan limits) is still on the waitlist: the next restock sends to it, so it holds the contact's place as
    a pending one does, and the message says which of the two it is."""
    # The contact is not repeated back: the caller sent it, and an error message may end up in a log.
    if status == "blocked":
        return Conflict(
            f"A blocked signup already exists for this contact on variant {item['variant_id']} over "
            f"{item['channel']}{owner}: its last send was stopped (see the notification log, status=blocked), and it "
            "stays on the waitlist for the next restock, so no second signup is created"
        )
    return Conflict(
        f"A pending signup already exists for this contact on variant {item['variant_id']} over "
        f"{item['channel']}{owner}"
    )


# -------------------------------------------------------------------------------------------------------- delete
def delete_signup(waitlist: Waitlist, shop_id: str, signup_id: str) -> m.Deleted:
    if not ids.is_uuid(signup_id):
        raise NotFound(f"{NOT_FOUND}: no signup {signup_id} in this shop")
    try:
        waitlist.signups.delete_unnotified(shop_id, signup_id)
    except SignupMissing:
        raise NotFound(f"{NOT_FOUND}: no signup {signup_id} in this shop") from None
    return m.Deleted(deleted=True, signup_id=signup_id)


def bulk_delete(waitlist: Waitlist, shop_id: str, body: m.BulkDeleteBody) -> m.BulkDeleted:
    """All or nothing: an id that is not a signup of this shop (unknown, or another shop's: the same answer, one
    problem per id in bulk notify's words) or one that is not pending (notified, blocked, unsubscribed) fails the
    whole request with a 422 naming the offending ids, and nothing is deleted."""
    wanted = list(dict.fromkeys(body.signup_ids))
    found = waitlist.signups.signups(shop_id, [i for i in wanted if ids.is_uuid(i)])
    problems = [
        Problem(
            "not_found",
            f"{NOT_FOUND}: no signup {signup_id} in this shop; nothing was deleted",
            f"signup_ids[{body.signup_ids.index(signup_id)}]",
        )
        for signup_id in wanted
        if signup_id not in found
    ]
    # Reference 004: pending signups only. A notified, blocked or unsubscribed signup has history: all or nothing.
    settled = [i for i in wanted if i in found and status_of(found[i]) != "pending"]
    if settled:
        shown = ", ".join(f"{i} ({status_of(found[i])})" for i in settled[:50])
        shown += f" and {len(settled) - 50} more" if len(settled) > 50 else ""
        problems.append(
            Problem(
                "not_pending",
                f"{len(settled)} signup(s) are not pending (notified, blocked or unsubscribed signups are history and "
                f"cannot be deleted); nothing was deleted: {shown}",
                "signup_ids",
            )
        )
    if problems:
        raise ValidationFailed(problems=problems)
    targets = [found[i] for i in wanted]
    waitlist.signups.delete_many_unnotified(shop_id, targets)
    return m.BulkDeleted(deleted_count=len(targets))


# -------------------------------------------------------------------------------------------------------- notify
def _send(signup_id: str, allow_resend: bool) -> dict[str, Any]:
    return {"send_id": str(uuid.uuid4()), "signup_id": signup_id, "allow_resend": allow_resend}


def spacing_of(waitlist: Waitlist, shop_id: str) -> timedelta:
    """The shop's resend spacing window (settings delivery.resend_spacing_minutes)."""
    from backinstock.services.settings import settings_of  # the settings models only where a notify needs them

    return timedelta(minutes=settings_of(waitlist.shops.require(shop_id)).delivery.resend_spacing_minutes)


def _hold(
    waitlist: Waitlist, shop_id: str, send: dict[str, Any], moment: datetime, spacing: timedelta
) -> m.SpacedSend | None:
    """Take the signup's one send slot for `send` (a conditional write: of concurrent requests, one wins). None: taken,
    queue the send; else why not: `joined` (a send is queued or in flight) or `held` (alerted within the window)."""
    until = moment + max(OUTSTANDING_FOR, spacing)
    signup_id = send["signup_id"]
    old = waitlist.signups.mark_send_outstanding(shop_id, signup_id, send["send_id"], moment, until, spacing)
    if old is None:
        return None
    last = old.get("last_notified_at")
    recent = last is not None and ids.parse(last) > moment - spacing
    outstanding = old.get("send_outstanding") and int(old.get("send_outstanding_until", 0)) > moment.timestamp()
    ends = [ids.parse(last) + spacing] if recent and last else []
    if outstanding:
        ends.append(datetime.fromtimestamp(int(old["send_outstanding_until"]), UTC))
    joined = outstanding and not old.get("send_outstanding_done")
    return m.SpacedSend(
        signup_id=signup_id, spacing="joined" if joined else "held", held_until=ids.iso(max(ends)) if ends else None
    )


def _outstanding(send: dict[str, Any], moment: datetime) -> dict[str, Any]:
    """The queued form of a send that holds its signup's send slot: when it was queued (`outstanding`, epoch
    seconds; `held_at`, to the millisecond: the send's claim refuses it if any alert went out since)."""
    return {**send, "outstanding": int(moment.timestamp()), "held_at": ids.iso(moment)}


def notify(
    waitlist: Waitlist, shop_id: str, signup_id: str, body: m.NotifyBody, now: datetime | None = None
) -> m.Queued:
    """At most one alert per signup per spacing window (settings delivery.resend_spacing_minutes), and one send
    outstanding (queued or in flight) at a time: the signup carries the send's id until the worker has processed it
    and the window after it has passed (or until `OUTSTANDING_FOR` passes, should the message be lost); a notify
    meanwhile joins that send or is held, instead of queueing another, so `allow_resend` cannot flood one
    customer."""
    item = _require(waitlist, shop_id, signup_id)
    if item.get("notified_at") and not body.allow_resend:
        raise Conflict(ALREADY_NOTIFIED)
    send = _send(signup_id, body.allow_resend)
    moment = now or ids.now()
    spacing = spacing_of(waitlist, shop_id)
    spaced = _hold(waitlist, shop_id, send, moment, spacing)
    if spaced is not None:
        return m.Queued(
            signup_id=signup_id, queued=True, coalesced=True, spacing=spaced.spacing, held_until=spaced.held_until
        )
    try:
        waitlist.queue.send({"kind": "send", "shop_id": shop_id, "sends": [_outstanding(send, moment)]})
    except Exception:
        waitlist.signups.release_send_outstanding(shop_id, signup_id, send["send_id"], moment)
        raise
    return m.Queued(signup_id=signup_id, queued=True)


def send_processed(repo: SignupRepository, shop_id: str, send: dict[str, Any]) -> None:
    """The worker processed a notify's send (sent, blocked or skipped): it frees the signup's send slot. The spacing
    window then holds the signup through its `last_notified_at` (an alert was sent), with the shop's setting at the
    time of the next request; a blocked or skipped send was no alert and holds nothing."""
    if send.get("outstanding"):
        until = datetime.fromtimestamp(int(send["outstanding"]), UTC) + RESEND_SPACING
        repo.release_send_outstanding(shop_id, send["signup_id"], send["send_id"], until, done=True)


HOLD_THREADS = 16  # conditional writes in flight when bulk notify takes its signups' send slots


def bulk_notify(
    waitlist: Waitlist, shop_id: str, body: m.BulkNotifyBody, now: datetime | None = None
) -> tuple[m.BulkNotifyResult, bool]:
    """Returns the result and whether every id queued (200) or not (207). Each signup's send slot is taken with a
    conditional write, as notify does: of parallel bulk notifies for one signup, one queues its alert, the others
    join it (listed in `spaced`), and an alert within the spacing window holds the signup."""
    wanted = list(dict.fromkeys(body.signup_ids))
    found = waitlist.signups.signups(shop_id, [i for i in wanted if ids.is_uuid(i)])
    failed: list[m.BulkFailure] = []
    candidates: list[str] = []
    for signup_id in wanted:
        item = found.get(signup_id)
        if item is None:
            failed.append(m.BulkFailure(signup_id=signup_id, error=NOT_FOUND))
        elif item.get("notified_at") and not body.allow_resend:
            failed.append(m.BulkFailure(signup_id=signup_id, error=ALREADY_NOTIFIED))
        else:
            candidates.append(signup_id)
    moment = now or ids.now()
    spacing = spacing_of(waitlist, shop_id) if candidates else timedelta(0)
    sends = [_send(i, body.allow_resend) for i in candidates]
    with ThreadPoolExecutor(max_workers=HOLD_THREADS) as pool:  # boto3 clients are thread-safe
        holds = list(pool.map(lambda s: _hold(waitlist, shop_id, s, moment, spacing), sends))
    spaced = [h for h in holds if h is not None]
    queueable = [_outstanding(s, moment) for s, h in zip(sends, holds, strict=True) if h is None]
    chunks = [queueable[i : i + SENDS_PER_MESSAGE] for i in range(0, len(queueable), SENDS_PER_MESSAGE)]
    messages = [{"kind": "send", "shop_id": shop_id, "sends": chunk} for chunk in chunks]
    refused = set(waitlist.queue.send_many(messages))
    success: list[str] = []
    for index, chunk in enumerate(chunks):
        if index in refused:
            for send in chunk:  # not queued: give the slot back, so that a retry of this id can queue
                waitlist.signups.release_send_outstanding(shop_id, send["signup_id"], send["send_id"], moment)
            failed.extend(
                m.BulkFailure(signup_id=s["signup_id"], error="Could not be queued; retry this id") for s in chunk
            )
        else:
            success.extend(s["signup_id"] for s in chunk)
    answered = {h.signup_id for h in spaced} | set(success)
    success = [i for i in candidates if i in answered]  # in the request's order
    result = m.BulkNotifyResult(success=success, failed=failed, spaced=spaced or None)
    return result, not failed


# ------------------------------------------------------------------------------------------------------ transfer
def transfer(waitlist: Waitlist, shop_id: str, body: m.TransferBody) -> m.TransferAccepted:
    """Validate now, move asynchronously: the send worker moves the waitlist a page at a time (tens of thousands
    of signups do not fit one request)."""
    target = resolve_variant(waitlist.catalog, shop_id, body.to_shopify_variant_id, body.to_shopify_product_id, "to_")
    source_known = waitlist.catalog.variant(shop_id, body.from_shopify_variant_id)
    if (
        source_known is not None
        and body.from_shopify_product_id is not None
        and int(source_known["product_id"]) != body.from_shopify_product_id
    ):
        raise ValidationFailed(
            problems=[
                Problem(
                    "product_mismatch",
                    f"variant {body.from_shopify_variant_id} belongs to product {source_known['product_id']}, "
                    f"not {body.from_shopify_product_id}",
                    "from_shopify_product_id",
                )
            ]
        )
    transfer_id = str(uuid.uuid4())
    waitlist.queue.send(
        {
            "kind": "transfer",
            "shop_id": shop_id,
            "transfer_id": transfer_id,
            "from_variant_id": body.from_shopify_variant_id,
            "from_product_id": body.from_shopify_product_id,
            "target": {k: v for k, v in target.items() if k != "handle"},
            "scope": body.scope,
            "start_key": None,
        }
    )
    return m.TransferAccepted(
        success=True,
        scope=body.scope,
        from_shopify_variant_id=body.from_shopify_variant_id,
        to_shopify_variant_id=body.to_shopify_variant_id,
        transfer_id=transfer_id,
    )


TRANSFER_PAGE = 200


def in_scope(item: dict[str, Any], scope: str) -> bool:
    if scope == "all":
        return True
    if scope == "notified":
        return bool(item.get("notified_at"))
    # pending means one thing everywhere: the list's status (models.status), so a blocked signup is not pending
    return status_of(item) == "pending"


def run_transfer_page(waitlist: Waitlist, message: dict[str, Any]) -> dict[str, Any]:
    """Move one page of the source variant's signups (the worker's `transfer` message). Returns counts and the
    continuation message when more pages remain."""
    shop_id = message["shop_id"]
    items, next_key = waitlist.signups.by_variant(
        shop_id, message["from_variant_id"], message.get("start_key"), TRANSFER_PAGE
    )
    moved = dropped = 0
    for item in items:
        if message.get("from_product_id") and item["product_id"] != message["from_product_id"]:
            continue
        if not in_scope(item, message["scope"]):
            continue
        holds_guard = status_of(item) in ("pending", "blocked")
        if waitlist.signups.move(item, message["target"], take_guard=holds_guard):
            moved += 1
        else:
            dropped += 1
    follow = {**message, "start_key": next_key} if next_key else None
    return {"moved": moved, "dropped": dropped, "next": follow}
