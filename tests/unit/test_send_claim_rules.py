"""A send's claim rules, pure (issue 23 parts 2 and 5): the resend spacing a send is held to (`spaced_before`), the
same clause on a signup as read (`send_spacing_holds`, the worker's early skip; the claim's condition says it again
in DynamoDB), and which claim a signup holds for a send (`claim_of`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backinstock import ids
from backinstock.models.settings import Settings
from backinstock.repositories.notifications import claim_of
from backinstock.repositories.signups import send_spacing_holds
from backinstock.services.sending import spaced_before

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_campaigns_send_is_held_to_the_shops_window_and_a_notifys_to_its_notify() -> None:
    settings = Settings()
    window = timedelta(minutes=settings.delivery.resend_spacing_minutes)
    assert spaced_before({"send_id": "c"}, settings, NOW) == ids.iso(NOW - window)
    held = {
        "send_id": "n",
        "outstanding": int((NOW - timedelta(minutes=3)).timestamp()),
        "held_at": "2026-12-07T11:57:00.250Z",
    }
    assert spaced_before(held, settings, NOW) == "2026-12-07T11:57:00.250Z"
    del held["held_at"]  # queued before `held_at` was: its second
    assert spaced_before(held, settings, NOW) == "2026-12-07T11:57:00.000Z"


@pytest.mark.parametrize(
    ("signup", "send_id", "holds"),
    [
        ({}, "c", True),
        ({"send_outstanding": "n", "send_outstanding_until": int(NOW.timestamp()) + 60}, "c", False),  # a notify's
        ({"send_outstanding": "n", "send_outstanding_until": int(NOW.timestamp()) + 60}, "n", True),  # its own slot
        ({"send_outstanding": "n", "send_outstanding_until": int(NOW.timestamp())}, "c", True),  # processed / expired
        ({"last_notified_at": "2026-12-07T11:55:00.000Z"}, "c", False),  # an alert after the bound
        ({"last_notified_at": "2026-12-07T11:40:00.000Z"}, "c", True),
    ],
)
def test_the_spacing_clause_on_a_signup_as_read(signup: dict[str, object], send_id: str, holds: bool) -> None:
    assert send_spacing_holds(signup, send_id, NOW, "2026-12-07T11:50:00.000Z") is holds


def test_a_signup_holds_the_claim_of_its_last_send_only() -> None:
    claim = {"send_id": "s2", "status": "sending", "notification_id": "n2"}
    signup = {"signup_id": "x", "last_send": claim}
    assert claim_of(signup, "s2") == claim
    assert claim_of(signup, "s1") is None
    assert claim_of(None, "s2") is None and claim_of({}, "s2") is None
