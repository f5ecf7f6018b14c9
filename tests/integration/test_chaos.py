"""`make chaos` in small: the whole pipeline under seeded faults keeps every invariant, a seed replays exactly, and
putting back (removing) any one of the guards below makes some seed break an invariant.

Each guard is removed by monkeypatching in the test, never in product code. Every removal is one small function in
`GUARDS`: when a guard's implementation moves (issue 12 replaces the rollup aggregator's per-record markers), its
function is the one place to re-point.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest

from backinstock_tools import chaos

# Provider limits low enough that the pace has work to do in a small run (and its removal breaks the limit).
SMALL = chaos.Config(seed=3, restock_signups=16, side_signups=4, client_ops=20, fault_rate=3.0, provider_rate=5.0)
TINY = chaos.Config(seed=1, restock_signups=8, side_signups=3, client_ops=10, fault_rate=4.0, provider_rate=4.0)


def test_a_small_chaos_run_keeps_every_invariant() -> None:
    result = chaos.run(SMALL)
    assert result.ok, result.report()
    assert len(result.invariants) == 10
    injected = {kind for kind, count in result.faults.items() if count}
    assert len(injected) >= 8, result.report()  # a mix, not one kind
    assert any("chaos-poison" in d for d in result.dead_letters)  # the planted poison message is listed


def test_a_seed_replays_the_same_run() -> None:
    first, second = chaos.run(TINY), chaos.run(TINY)
    assert first.faults == second.faults
    assert first.figures == second.figures


# ----------------------------------------------------------------------------------------------- the guards
def without_send_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    """The send worker no longer sees an earlier claim, and its claim on the signup is written unconditionally (the
    once-guard, the notifiable check and the spacing clause go): a redelivered or concurrently run send goes out
    again."""
    from backinstock.repositories import notifications
    from backinstock.repositories.notifications import NotificationRepository

    original = NotificationRepository.signup_claim

    def unconditional(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        update = original(self, *args, **kwargs)
        update["ConditionExpression"] = "attribute_exists(PK)"
        used = set(re.findall(r":\w+", update["UpdateExpression"]))
        update["ExpressionAttributeValues"] = {
            k: v for k, v in update["ExpressionAttributeValues"].items() if k in used
        }
        return update

    monkeypatch.setattr(notifications, "claim_of", lambda signup, send_id: None)
    monkeypatch.setattr(NotificationRepository, "signup_claim", unconditional)


def without_conflict_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transaction cancelled by a concurrent one is no longer tried again in place (`Repository.transact`): the
    cancellation reaches the caller, and the message goes back to the queue (towards the dead-letter queue)."""
    from backinstock.repositories.base import Repository

    monkeypatch.setattr(Repository, "conflict_only", lambda self, exc: False)


def without_webhook_dedupe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Intake queues every delivery, whatever its event id."""
    from backinstock.repositories.webhooks import WebhookRepository

    monkeypatch.setattr(WebhookRepository, "mark_received", lambda self, *args, **kwargs: True)


def without_rollup_replay_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The aggregator no longer knows which stream records it applied: a replayed or retried batch counts again.
    The guard is the per-source-partition high-water mark (`RollupRepository.mark`/`marks`, written by `mark_put` on the
    condition that it still holds what was read): here the mark is never read and its write is unconditional."""
    from backinstock.repositories.rollups import RollupRepository

    original = RollupRepository.mark_put

    def unconditional(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        put = original(self, *args, **kwargs)
        for field in ("ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"):
            put["Put"].pop(field, None)
        return put

    monkeypatch.setattr(RollupRepository, "mark", lambda self, shop_id, source: None)
    monkeypatch.setattr(RollupRepository, "marks", lambda self, shop_id, sources: dict.fromkeys(sources))
    monkeypatch.setattr(RollupRepository, "mark_put", unconditional)


def without_stale_update_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """An inventory level is stored whatever its age: a late, older sold-out overwrites the restock's level."""
    from backinstock.repositories import restocks

    def any_age(self: Any, shop_id: str, variant_id: int, location_id: int, available: int, updated_at: str,
                inventory_item_id: int) -> bool:  # fmt: skip
        values = {"entity": "stock_level", "variant_id": variant_id, "location_id": location_id,
                  "inventory_item_id": inventory_item_id, "available": available, "updated_at": updated_at}  # fmt: skip
        item = {**restocks.key(restocks._pk(shop_id), f"STOCK#{variant_id}#{location_id}"), **restocks.to_item(values)}
        self.client.put_item(TableName=self.table_name, Item=item)
        return True

    monkeypatch.setattr(restocks.RestockRepository, "set_level", any_age)


def without_send_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every send has its turn at once: the workers call SES and SNS as fast as they can, and the sustained provider
    limit (`Config.provider_rate`) refuses what goes beyond it."""
    from backinstock.services import pacing

    monkeypatch.setattr(pacing.Turns, "take", lambda self, channel: True)


def without_resend_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A signup's send slot is taken whatever holds it (no outstanding send, no spacing window): a resend moments
    after an alert queues a second one."""
    from backinstock.repositories.signups import SignupRepository, signup_key

    def unconditional(self: Any, shop_id: str, signup_id: str, send_id: str, now: Any, until: Any,
                      spacing: Any = None) -> None:  # fmt: skip
        self.client.update_item(
            TableName=self.table_name,
            Key=signup_key(shop_id, signup_id),
            UpdateExpression="SET send_outstanding = :id, send_outstanding_until = :until",
            ExpressionAttributeValues={":id": {"S": send_id}, ":until": {"N": str(int(until.timestamp()))}},
        )

    monkeypatch.setattr(SignupRepository, "mark_send_outstanding", unconditional)


GUARDS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "send claim": (without_send_claim, "no message was sent twice"),
    "transaction conflict retry": (without_conflict_retry, "no transaction cancelled by contention"),
    "webhook dedupe": (without_webhook_dedupe, "every Shopify event was queued once"),
    "rollup replay guard": (without_rollup_replay_guard, "reports verify is clean"),
    "stale-update check": (without_stale_update_check, "every eligible signup got exactly one restock message"),
    "send pace": (without_send_pace, "the sends kept to the provider's limit"),
    "resend spacing": (without_resend_spacing, "no message was sent twice"),
}


# Seeds tried in turn until one breaks the guard's invariant. Since signups and log rows are sharded (issue 23), the
# tiny run's schedule changed: seeds 1-3 no longer redeliver a message whose claim the removed send-claim guard would
# have refused; seed 5 does (14 alerts to 13 recipients).
GUARD_SEEDS = (1, 2, 3, 5)


@pytest.mark.parametrize("guard", sorted(GUARDS))
def test_removing_a_guard_breaks_its_invariant(guard: str, monkeypatch: pytest.MonkeyPatch) -> None:
    remove, invariant = GUARDS[guard]
    remove(monkeypatch)
    broken: list[str] = []
    for seed in GUARD_SEEDS:
        result = chaos.run(dataclasses.replace(TINY, seed=seed))
        broken = [i.name for i in result.invariants if not i.ok]
        if any(name.startswith(invariant) for name in broken):
            return
    raise AssertionError(f"with the {guard} removed, seeds {GUARD_SEEDS} kept '{invariant}' (broken: {broken})")
