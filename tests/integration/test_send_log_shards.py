"""The send log in 16 partitions (issue 23, part 2; repositories/shards.py, repositories/notifications.py): a row
lands in its id's shard of the table and of both indexes; the list reads every shard newest first, with a variant
filter, a product filter and none, and its pages stay stable (no row twice, none missing) across many shards; an
order is attributed to a notification whatever its shard. Rows are made by the real send path (bulk notify, the
worker), never written by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from backinstock import deps, ids
from backinstock.repositories.notifications import notification_pk, product_log_partitions
from backinstock.repositories.shards import partitions, shard_of
from backinstock.repositories.signups import product_pk, variant_pk
from backinstock_tools.testkit import Shop, new_shop, stock
from backinstock_tools.testkit.builders import signup
from backinstock_tools.testkit.drivers import Worker
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
ROWS = 40  # over 3 variants of 2 products; 40 ids cover at least 10 of the 16 shards (checked)
VARIANTS = (101, 102, 201)  # the kit's catalog: 101 and 102 of product 10, 201 of product 20
PRODUCT_OF = {101: 10, 102: 10, 201: 20}


@pytest.fixture
def sent(aws: None) -> tuple[Shop, list[dict[str, Any]]]:
    """A shop (the enterprise plan: this suite sends ~100 requests) whose `ROWS` signups were each sent one alert:
    the log rows as the worker wrote them (`NotificationRepository.notifications`), newest first."""
    shop = new_shop("many-shards.myshopify.com", plan="enterprise")
    stock(shop.id)
    made = [signup(shop, VARIANTS[n % len(VARIANTS)], f"c{n}@example.com") for n in range(ROWS)]
    status, body = call("POST", "/back_in_stock/signups/bulk_notify", shop.key, {"signup_ids": [s["id"] for s in made]})
    assert status == 200 and len(body["success"]) == ROWS, body
    Worker().drain()
    notified = {s["id"]: call("GET", f"/back_in_stock/signups/{s['id']}", shop.key)[1] for s in made}
    assert {s["status"] for s in notified.values()} == {"notified"}
    listed = every_row(shop, "")
    assert sorted(r["signup_id"] for r in listed) == sorted(notified)  # one row a signup
    return shop, sorted(listed, key=lambda r: r["id"], reverse=True)


def page_of(shop: Shop, query: str) -> dict[str, Any]:
    status, body = call("GET", f"/back_in_stock/notifications{query}", shop.key)
    assert status == 200, body
    return dict(body)


def every_row(shop: Shop, filters: str, per_page: int = 100) -> list[dict[str, Any]]:
    """Every page of a listing, in order (the first page's snapshot, `as_of`, for the next ones)."""
    first = page_of(shop, f"?per_page={per_page}{filters}")
    rows, meta = list(first["notifications"]), first["meta"]
    for number in range(2, meta["total_pages"] + 1):
        more = page_of(shop, f"?per_page={per_page}&page={number}&as_of={meta['as_of']}{filters}")
        assert more["meta"]["total_count"] == meta["total_count"]
        rows += more["notifications"]
    assert len(rows) == meta["total_count"]
    return rows


def test_a_log_row_is_in_its_ids_shard_of_the_table_and_of_both_indexes(
    sent: tuple[Shop, list[dict[str, Any]]],
) -> None:
    shop, rows = sent
    client, table = deps.notifications().client, deps.notifications().table_name
    for row in rows:
        nn = shard_of(row["id"])
        [item] = client.query(
            TableName=table,
            KeyConditionExpression="PK = :pk AND SK = :sk",
            ExpressionAttributeValues={
                ":pk": {"S": notification_pk(shop.id, row["id"])},
                ":sk": {"S": f"NOTIF#{row['id']}"},
            },
        )["Items"]
        variant, product = row["shopify_variant_id"], row["shopify_product_id"]
        assert item["PK"]["S"] == f"SHOP#{shop.id}#NOTIF#{nn}"
        assert (item["GSI1PK"]["S"], item["GSI1SK"]["S"]) == (
            f"{variant_pk(shop.id, variant)}#NOTIF#{nn}",
            item["SK"]["S"],
        )
        assert (item["GSI2PK"]["S"], item["GSI2SK"]["S"]) == (
            f"{product_pk(shop.id, product)}#NOTIF#{nn}",
            item["SK"]["S"],
        )
        assert item["GSI2PK"]["S"] in product_log_partitions(shop.id, product)
    assert len({shard_of(r["id"]) for r in rows}) >= 10  # spread: the reads below meet many shards
    # nothing of the log is left in the shop's own partition
    assert not client.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :notif)",
        ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop.id}"}, ":notif": {"S": "NOTIF#"}},
    )["Items"]
    assert partitions(f"SHOP#{shop.id}#NOTIF") == [f"SHOP#{shop.id}#NOTIF#{n:02d}" for n in range(16)]


@pytest.mark.parametrize(
    "filters, keep",
    [
        ("", lambda r: True),
        ("&variant_id=101", lambda r: r["shopify_variant_id"] == 101),
        ("&product_id=10", lambda r: r["shopify_product_id"] == 10),
        ("&product_id=20", lambda r: r["shopify_product_id"] == 20),
        ("&variant_id=102&status=sent", lambda r: r["shopify_variant_id"] == 102 and r["status"] == "sent"),
    ],
)
def test_the_list_is_newest_first_across_shards_and_its_pages_are_stable(
    sent: tuple[Shop, list[dict[str, Any]]], filters: str, keep: Any
) -> None:
    shop, rows = sent
    wanted = [r for r in rows if keep(r)]
    assert len(wanted) >= 10 and len({shard_of(r["id"]) for r in wanted}) >= 5
    # one page: every row, newest first (UUIDv7 ids are creation order)
    assert page_of(shop, f"?per_page=100{filters}")["notifications"] == wanted
    # pages of 3 (a page boundary falls between rows of different shards): each row once, none missing, in order
    for per_page in (3, 7):
        paged = every_row(shop, filters, per_page)
        assert [r["id"] for r in paged] == [r["id"] for r in wanted]


def test_a_page_after_new_rows_keeps_its_snapshot(sent: tuple[Shop, list[dict[str, Any]]]) -> None:
    shop, rows = sent
    first = page_of(shop, "?per_page=5")
    newer = signup(shop, 101, "late@example.com")
    assert call("POST", f"/back_in_stock/signups/{newer['id']}/notify", shop.key, None)[0] == 202
    Worker().drain()
    second = page_of(shop, f"?per_page=5&page=2&as_of={first['meta']['as_of']}")
    assert [r["id"] for r in first["notifications"] + second["notifications"]] == [r["id"] for r in rows[:10]]
    assert page_of(shop, "?per_page=1")["notifications"][0]["signup_id"] == newer["id"]  # a new page sees it


def test_an_order_is_attributed_to_its_notification_whatever_its_shard(
    sent: tuple[Shop, list[dict[str, Any]]],
) -> None:
    from backinstock.services.attribution import attribute_order

    shop, rows = sent
    by_shard = {shard_of(r["id"]): r for r in rows}
    assert len(by_shard) >= 10
    shop_row = deps.shops().get(shop.id)
    for n, row in enumerate(by_shard.values()):
        order = {
            "id": 5000 + n,
            "email": row["contact"],
            "created_at": ids.iso(ids.now()),
            "currency": "USD",
            "line_items": [
                {
                    "id": 1,
                    "variant_id": row["shopify_variant_id"],
                    "product_id": row["shopify_product_id"],
                    "price": "10.00",
                    "quantity": 1,
                }
            ],
        }
        [found] = attribute_order(deps.attribution(), shop_row, order)["attributions"]
        assert (found["notification_id"], found["signup_id"], found["confidence"]) == (
            row["id"],
            row["signup_id"],
            "medium",
        )


def test_attribution_candidates_are_every_sent_row_of_the_product_oldest_first(
    sent: tuple[Shop, list[dict[str, Any]]],
) -> None:
    shop, rows = sent
    tee = [r for r in rows if r["shopify_product_id"] == 10]
    start = ids.parse(rows[-1]["sent_at"]) - timedelta(days=1)
    found = deps.attribution().attributions.sent_to(shop.id, 10, [r["contact"] for r in tee], start, ids.now())
    assert [f["notification_id"] for f in found] == [r["id"] for r in reversed(tee)]
    assert len({shard_of(f["notification_id"]) for f in found}) >= 5
    # the contact filter: one customer's row alone
    [one] = deps.attribution().attributions.sent_to(shop.id, 10, [tee[3]["contact"]], start, ids.now())
    assert one["notification_id"] == tee[3]["id"]
