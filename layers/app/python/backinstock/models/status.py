"""A signup's compiled status (reference 004, "The status field"): one definition for the list's `status` (and its
filter), the representation, the waitlist export and the report rollups, so that `pending` means one thing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Status = Literal["pending", "notified", "unsubscribed", "blocked"]


def status_of(item: Mapping[str, Any]) -> Status:
    """From timestamps, with the reference's precedence: unsubscribed > notified > blocked > pending. `pending` is
    waiting with no send attempted; a send that was attempted but stopped (plan limits, a disabled channel, double
    opt-in not confirmed) makes the signup `blocked`, not pending."""
    if item.get("unsubscribed_at"):
        return "unsubscribed"
    if item.get("notified_at"):
        return "notified"
    if item.get("blocked_at"):
        return "blocked"
    return "pending"
