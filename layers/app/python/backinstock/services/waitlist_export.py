"""The waitlist's CSV rows (`export_signups`, declared with the signups: `actions/signups.py`, which also holds the
columns), one per signup, for the export jobs of `services.exports`.

The rows page through the same Query as the list (narrowest key, window as a key range, filters), newest first, and
resume after any signup: its key is the cursor. The first invocation counts first (`Select=COUNT`) for the progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from typing import Any

from backinstock import ids
from backinstock.models.signups import SignupExport
from backinstock.models.status import status_of
from backinstock.repositories.signups import ListFilter, SignupRepository
from backinstock.services.exports import Opened


def _filter(q: SignupExport) -> ListFilter:
    where = ListFilter()
    if q.status:
        where.status(q.status)
    if q.channel:
        where.equals("channel", q.channel)
    if q.email:
        where.contains("search_email", q.email)
    if q.phone:
        where.contains("search_phone", q.phone)
    return where


def rows(signups: SignupRepository, shop_id: str, q: SignupExport, cursor: Any) -> Opened:
    """Every signup matching the list's filters, from `cursor` on (None: from the newest)."""
    window = {
        "variant_id": q.variant_id,
        "product_id": q.product_id,
        "start": datetime.combine(q.from_, time.min, UTC) if q.from_ else None,
        "end": datetime.combine(q.to, time.max, UTC) if q.to else ids.now(),
    }
    expected = signups.count(shop_id, _filter(q), **window) if cursor is None else None
    pages = signups.iter_pages(shop_id, _filter(q), start_key=cursor, **window)

    def cells() -> Iterator[tuple[list[Any], Any]]:
        for items, keys in pages:
            for item, item_key in zip(items, keys, strict=True):
                yield (
                    [
                        item["signup_id"],
                        status_of(item),
                        item["channel"],
                        item["contact"],
                        item.get("quantity", 1),
                        item["variant_id"],
                        item["product_id"],
                        item.get("variant_title"),
                        item.get("product_title"),
                        item.get("customer_id"),
                        item.get("customer_name"),
                        item.get("customer_email"),
                        item.get("customer_phone"),
                        "true" if item.get("optin_required") else "false",
                        item.get("optin_confirmed_at"),
                        item.get("notifications_sent", 0),
                        item.get("last_notified_at"),
                        item.get("notified_at"),
                        item.get("blocked_at"),
                        item.get("unsubscribed_at"),
                        item["created_at"],
                    ],
                    item_key,
                )

    return Opened(cells(), expected)
