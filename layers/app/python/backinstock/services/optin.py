"""The double opt-in confirmation's outbox: the table's stream delivers every committed signup, and a new signup
that needs confirming gets its confirmation message from there (`workers.rollups`), never from the request.

A request that the table refuses (a duplicate's 409, a failed write) therefore leaves no message behind, and a
committed signup always gets its message (the stream retries a record until it is handled). The send worker sends
the mail at most once per signup (`services.sending.send_optin` claims `optin_requested_at`), so a record the
stream delivers twice is harmless.
"""

from __future__ import annotations

from typing import Any


def confirmation_message(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """The send queue's `optin` message for a stream record, or None: only the creation of a signup that requires
    double opt-in (and is not confirmed yet) asks for one. `committed_at` tells the worker that the signup was
    written: if it cannot find it, it was deleted since, and the message is acknowledged."""
    if old is not None or new is None or new.get("entity") != "signup":
        return None
    if not new.get("optin_required") or new.get("optin_confirmed_at"):
        return None
    return {
        "kind": "optin",
        "shop_id": new["shop_id"],
        "signup_id": new["signup_id"],
        "committed_at": new["created_at"],
    }
