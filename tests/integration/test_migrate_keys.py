"""`backinstock migrate keys` (services/migration.py, repositories/migration.py) against moto: a shop's history made
through the real write paths and put back where the layout before issue 23 kept it (`SHOP#<id>`, GSI1/GSI2), then
moved: every row exactly once at its key, lists see them again, a run killed halfway is finished by the next one, and
the report counters do not move (the stream aggregator run over the move's records; `reports verify` clean)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from backinstock import aws, config, deps
from backinstock.repositories.base import from_item
from backinstock.repositories.migration import KeyMigrationRepository
from backinstock.repositories.notifications import notification_partitions
from backinstock.repositories.signups import signup_partitions
from backinstock.services import migration, rollup_audit
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
OLD_INDEX = ("GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")
NEW_SIGNUP_INDEX = ("GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK")


def partition(pk: str, prefix: str | None = None) -> list[dict[str, Any]]:
    values = {":pk": {"S": pk}, **({":prefix": {"S": prefix}} if prefix else {})}
    pages = (
        aws.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=config.table_name(),
            KeyConditionExpression="PK = :pk" + (" AND begins_with(SK, :prefix)" if prefix else ""),
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )
    )
    return [item for page in pages for item in page["Items"]]


def sharded_rows(shop_id: str) -> list[dict[str, Any]]:
    return [i for pk in (*signup_partitions(shop_id), *notification_partitions(shop_id)) for i in partition(pk)]


def old_rows(shop_id: str) -> list[dict[str, Any]]:
    return partition(f"SHOP#{shop_id}", "SIGNUP#") + partition(f"SHOP#{shop_id}", "NOTIF#")


def to_old_layout(shop_id: str) -> int:
    """Every signup and log row of the shop put back where the layout before issue 23 kept it: `SHOP#<id>`, index
    keys `SHOP#<id>#VARIANT#<v>` (GSI1) and `SHOP#<id>#PRODUCT#<p>` (GSI2), no GSI3/GSI4. Returns how many."""
    client, table = aws.client("dynamodb"), config.table_name()
    rows = sharded_rows(shop_id)
    for raw in rows:
        old = {k: v for k, v in raw.items() if k not in (*OLD_INDEX, *NEW_SIGNUP_INDEX)}
        sk = raw["SK"]["S"]
        variant, product = raw["variant_id"]["N"], raw["product_id"]["N"]
        old.update(
            PK={"S": f"SHOP#{shop_id}"},
            GSI1PK={"S": f"SHOP#{shop_id}#VARIANT#{variant}"},
            GSI1SK={"S": sk},
            GSI2PK={"S": f"SHOP#{shop_id}#PRODUCT#{product}"},
            GSI2SK={"S": sk},
        )
        client.put_item(TableName=table, Item=old)
        client.delete_item(TableName=table, Key={"PK": raw["PK"], "SK": raw["SK"]})
    return len(rows)


def history(shop: Shop, stream: Any) -> None:
    from backinstock_tools.local.seed import seed

    seed(shop.id, signups=40, days=20)
    stream.drain()


def listed(shop: Shop, path: str, key: str) -> int:
    status, body = call("GET", f"/back_in_stock/{path}?per_page=1", shop.key)
    assert status == 200, body
    return int(body["meta"]["total_count"])


def audit(shop_id: str) -> list[rollup_audit.Difference]:
    """`reports verify`'s comparison over every base record of the shop: its partition and its 32 shards (old rows
    and moved ones alike), against the stored counters."""
    expected = rollup_audit.Expected(shop_id)
    rows = old_rows(shop_id) + sharded_rows(shop_id)
    rows += partition(f"SHOP#{shop_id}", "ATTR#") + partition(f"SHOP#{shop_id}", "PREORDER#")
    for raw in rows:
        expected.add(from_item(raw))
    return rollup_audit.compare(expected, deps.rollups().counter_map(shop_id))


def test_migration_moves_every_row_once_and_the_reports_do_not_move(
    shop: Shop, stream: Any, outbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from backinstock_tools import cli

    history(shop, stream)
    signups_before = listed(shop, "signups", "signups")
    sent_before = listed(shop, "notifications", "notifications")
    assert signups_before == 40 and sent_before > 5
    moved = to_old_layout(shop.id)
    stream.drain()  # the conversion's own records (an INSERT and a REMOVE a row) net to nothing
    counters = deps.rollups().counter_map(shop.id)
    assert audit(shop.id) == []
    mails = len(outbox.emails())
    # Before the migration, the lists (new keys only) do not see the old rows
    assert listed(shop, "signups", "signups") == 0 and listed(shop, "notifications", "notifications") == 0
    legacy_claim = {"PK": {"S": f"SHOP#{shop.id}#SEND#03"}, "SK": {"S": "SEND#s-1"}, "entity": {"S": "send_claim"}}
    aws.client("dynamodb").put_item(TableName=config.table_name(), Item=legacy_claim)

    capsys.readouterr()  # the aggregator's log lines so far
    assert cli.main(["migrate", "keys", "--shop-id", shop.id, "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["signups"] == {"to_move": 40} and dry["notifications"] == {"to_move": moved - 40}
    assert len(old_rows(shop.id)) == moved and sharded_rows(shop.id) == []  # a dry run writes nothing

    calls: Counter[str] = Counter()
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda event_name, **_: calls.update([event_name.rsplit(".", 1)[-1]])
    )
    assert cli.main(["migrate", "keys", "--shop", shop.id]) == 0
    summary = json.loads(capsys.readouterr().out)
    # three writes a row (copy and mark, unmark, delete), a Query per page of 100 of each kind, the shop's GetItem
    assert calls == {"TransactWriteItems": moved, "UpdateItem": moved, "DeleteItem": moved, "Query": 2, "GetItem": 1}
    assert summary == {
        "dry_run": False,
        "shops": 1,
        "signups": {"moved": 40},
        "notifications": {"moved": moved - 40},
        "conflicts": 0,
    }
    assert old_rows(shop.id) == []
    rows = sharded_rows(shop.id)
    assert len(rows) == moved and not any("relocated" in r for r in rows)
    for raw in rows:
        if raw["entity"]["S"] == "signup":
            assert not set(OLD_INDEX) & set(raw) and set(NEW_SIGNUP_INDEX) <= set(raw)
        else:
            assert raw["GSI1PK"]["S"].startswith(f"SHOP#{shop.id}#VARIANT#") and "#NOTIF#" in raw["GSI1PK"]["S"]
    assert listed(shop, "signups", "signups") == signups_before
    assert listed(shop, "notifications", "notifications") == sent_before
    # the legacy claim stays
    assert partition(f"SHOP#{shop.id}#SEND#03") != []

    stream.drain()  # the move's records through the aggregator
    assert deps.rollups().counter_map(shop.id) == counters
    assert audit(shop.id) == []
    assert len(outbox.emails()) == mails  # no merchant alert (waitlist thresholds) fired by the move
    # a second run finds nothing
    capsys.readouterr()
    assert cli.main(["migrate", "keys", "--all", "--quiet"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["signups"] == {} and again["notifications"] == {}


class Killed(Exception):
    pass


def test_a_run_killed_halfway_is_finished_by_the_next_and_every_row_is_there_once(
    shop: Shop, stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(shop, stream)
    total = to_old_layout(shop.id)
    stream.drain()
    counters = deps.rollups().counter_map(shop.id)
    ids_before = Counter(r["SK"]["S"] for r in old_rows(shop.id))
    context = deps.key_migration()

    finish = KeyMigrationRepository._finish
    calls = {"n": 0}

    def killed_halfway(self: KeyMigrationRepository, row: Any) -> None:
        calls["n"] += 1
        if calls["n"] > total // 2:  # killed after the half's copy, before its old row goes
            raise Killed
        finish(self, row)

    monkeypatch.setattr(KeyMigrationRepository, "_finish", killed_halfway)
    with pytest.raises(Killed):
        migration.migrate_keys(context, [shop.id], page_size=7)
    monkeypatch.setattr(KeyMigrationRepository, "_finish", finish)
    # halfway: the moved half at its keys, the rest (and the one caught mid-move, at both) in the old partition
    marked = [r for r in old_rows(shop.id) if "relocated" in r]
    assert len(marked) == 1 and len(old_rows(shop.id)) == total - total // 2
    assert len(sharded_rows(shop.id)) == total // 2 + 1

    stream.drain()  # the moved half's INSERTs and REMOVEs, and the copy of the one caught mid-move: no change
    assert deps.rollups().counter_map(shop.id) == counters
    summary = migration.migrate_keys(context, migration.shop_ids(context, None), page_size=7)

    outcomes: Counter[str] = Counter()
    for counts in summary.rows.values():
        outcomes.update(counts)
    assert outcomes == {"moved": total - total // 2 - 1, "finished": 1}
    assert old_rows(shop.id) == []
    rows = sharded_rows(shop.id)
    assert Counter(r["SK"]["S"] for r in rows) == ids_before  # every row exactly once
    assert not any("relocated" in r for r in rows)
    assert listed(shop, "signups", "signups") == 40
    stream.drain()
    assert deps.rollups().counter_map(shop.id) == counters
    assert audit(shop.id) == []


def test_a_row_redacted_while_it_moves_is_copied_as_redacted(shop: Shop, stream: Any) -> None:
    """The move's transaction holds the old row to the image it read: a redaction in between cancels it, and the
    row is read again, so the copy never carries a contact the redaction rubbed out."""
    from backinstock.repositories.migration import OldRow
    from backinstock.repositories.privacy import PrivacyRepository

    history(shop, stream)
    to_old_layout(shop.id)
    records = deps.key_migration().records
    [page, *_] = list(records.old_rows(shop.id, "signups"))
    row = page[0]
    signup_id = row.raw["SK"]["S"].split("#", 1)[1]
    assert PrivacyRepository(config.table_name()).redact_signup(shop.id, signup_id, "2026-12-07T19:00:00.000Z")

    assert records.move(OldRow(shop.id, "signups", row.raw), "2026-12-07T19:00:01.000Z") == "moved"

    status, body = call("GET", f"/back_in_stock/signups/{signup_id}", shop.key)
    assert status == 200 and body["contact"] == "[redacted]" and body["status"] == "unsubscribed"


def test_a_customer_waiting_in_an_old_row_is_not_signed_up_twice_before_the_move(
    shop: Shop, catalog: dict[str, int]
) -> None:
    """The pending guard names the old signup, which the lists cannot see yet: the create looks for its owner at the
    old key too, and answers the duplicate as before the upgrade (no second pending signup to alert twice)."""
    from backinstock_tools.testkit.builders import signup, signup_body

    first = signup(shop.key, 101, "waiting@example.com")
    assert to_old_layout(shop.id) == 1
    status, body = call("POST", "/back_in_stock/signups", shop.key, signup_body(101, "waiting@example.com"))
    assert status == 409 and first["id"] in json.dumps(body), body
    migration.migrate_keys(deps.key_migration(), [shop.id])
    assert listed(shop, "signups", "signups") == 1
    status, body = call("GET", f"/back_in_stock/signups/{first['id']}", shop.key)
    assert status == 200 and body["status"] == "pending"


def test_two_runs_racing_on_a_row_move_it_once(shop: Shop, catalog: dict[str, int]) -> None:
    """A run that read a row before another run copied it finds the copy there and the row marked: it finishes the
    move (no conflict, nothing twice)."""
    from backinstock_tools.testkit.builders import signup

    first = signup(shop.key, 101, "one@example.com")
    to_old_layout(shop.id)
    records = deps.key_migration().records
    [[stale]] = list(records.old_rows(shop.id, "signups"))
    assert records._copy(stale, "2026-12-07T19:00:00.000Z") == "copied"  # the other run, stopped after step 1

    assert records.move(stale, "2026-12-07T19:00:01.000Z") == "finished"
    assert old_rows(shop.id) == [] and [r["SK"]["S"] for r in sharded_rows(shop.id)] == [f"SIGNUP#{first['id']}"]
    assert not any("relocated" in r for r in sharded_rows(shop.id))
