"""Shopify's privacy webhooks (services/privacy.py) against moto: signups made through the real API, alerts sent by
the real send worker, then `customers/redact`, `customers/data_request` and `shop/redact` applied to that data."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter
from typing import Any

import pytest

from backinstock import aws, config, deps, ids
from backinstock.infra_spec import TTL_ATTRIBUTE
from backinstock.providers import Email
from backinstock.repositories.attributions import AttributionRepository
from backinstock.repositories.base import from_item
from backinstock.repositories.notifications import notification_partitions
from backinstock.repositories.shop_secrets import ShopifyCredentials, ShopSecrets
from backinstock.repositories.signups import signup_partitions
from backinstock.services import privacy, shops
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import signup
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
JANE_EMAIL, JANE_PHONE = "jane@example.com", "+15551234567"
MERCHANT = "owner@first-shop.example"


# ------------------------------------------------------------------------------------------------------ helpers
@pytest.fixture
def p(aws: None) -> privacy.Privacy:
    return deps.privacy()


def notify(key: str, signup_id: str, **body: Any) -> None:
    status, answer = call("POST", f"{SIGNUPS}/{signup_id}/notify", key, body or None)
    assert status == 202, answer


def partition(pk: str) -> list[dict[str, Any]]:
    """Every item of a partition (Query by key, paginated)."""
    pages = (
        aws.client("dynamodb")
        .get_paginator("query")
        .paginate(
            TableName=config.table_name(),
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
    )
    return [from_item(item) for page in pages for item in page["Items"]]


def shards(shop_id: str) -> list[str]:
    """The shop's 16 signup and 16 send-log partitions."""
    return [*signup_partitions(shop_id), *notification_partitions(shop_id)]


def shop_items(shop_id: str) -> list[dict[str, Any]]:
    """Every item of the shop's partition and of its signup and send-log shards."""
    return [item for pk in (f"SHOP#{shop_id}", *shards(shop_id)) for item in partition(pk)]


def dump(shop_id: str, but: str | None = None) -> str:
    """The shop's partition and its signup and send-log shards as lower-case JSON text (`but`: without the items of
    that entity)."""
    items = [i for i in shop_items(shop_id) if but is None or i.get("entity") != but]
    return json.dumps(items, sort_keys=True, default=str).lower()


def mentions(text: str, contact: str) -> bool:
    """`contact` as a whole token of the text (so `xjane@example.com` does not mention `jane@example.com`)."""
    return re.search(rf"(?<![\w.+%-]){re.escape(contact.lower())}(?![\w.-])", text) is not None


def customer_payload(
    email: str | None = JANE_EMAIL, phone: str | None = JANE_PHONE, customer_id: int = 42, **extra: Any
) -> dict[str, Any]:
    customer = {"id": customer_id, "email": email, "phone": phone}
    return {"shop_id": 1, "shop_domain": "first-shop.myshopify.com", "customer": customer, **extra}


@pytest.fixture
def jane(shop: Shop, other_shop: Shop, catalog: dict[str, int], worker: Any) -> dict[str, Any]:
    """Jane: an email signup (notified, so in the send log), an SMS signup that also gives her email, a pending email
    signup (its guard is live). Bob and xjane (a superstring of Jane's address) are other customers of the shop;
    Jane also signed up at the other shop."""
    key = shop.key
    notified = signup(key, 101, "Jane@Example.com", name="Jane Doorknob")
    sms = signup(key, 102, JANE_EMAIL, phone="+1 (555) 123-4567", channel="sms")
    pending = signup(key, 201, JANE_EMAIL)
    bob = signup(key, 101, "bob@example.com", name="Bob")
    xjane = signup(key, 102, "xjane@example.com")
    signup(other_shop, 999, JANE_EMAIL, product=99)
    notify(key, notified["id"])
    notify(key, bob["id"])
    worker.drain()
    text = dump(shop.id)
    assert mentions(text, JANE_EMAIL) and mentions(text, JANE_PHONE) and "jane doorknob" in text
    assert len([i for i in shop_items(shop.id) if i["entity"] == "notification"]) == 2
    return {"notified": notified, "sms": sms, "pending": pending, "bob": bob, "xjane": xjane}


def the_shop(shop: Shop) -> Any:
    return deps.shops().require(shop.id)


# ------------------------------------------------------------------------------------------------ customers/redact
def test_redact_rubs_the_customer_out_of_every_item_of_the_shop_and_only_them(
    p: privacy.Privacy, shop: Shop, other_shop: Shop, jane: dict[str, Any]
) -> None:
    other_before = dump(other_shop.id)

    counts = privacy.redact_customer(
        p, the_shop(shop), customer_payload(email="JANE@example.com ", phone="+1 555 123 4567")
    )

    # a send no longer releases its signup's guard (the next signup of the contact takes a notified owner's guard
    # over): the notified, the SMS and the pending signups hold one each
    assert counts == {
        "signups": 3,
        "pending_guards": 3,
        "customers": 2,
        "notifications": 1,
        "data_requests": 0,
        "preorder_customers": 0,
    }
    text = dump(shop.id)
    for personal in (JANE_EMAIL, JANE_PHONE, JANE_PHONE[1:]):
        assert not mentions(text, personal), personal
    assert "jane doorknob" not in text
    # other customers of the shop are untouched, the decoy superstring included
    assert mentions(text, "bob@example.com") and mentions(text, "xjane@example.com")
    for name in ("bob", "xjane"):
        status, body = call("GET", f"{SIGNUPS}/{jane[name]['id']}", shop.key)
        assert status == 200 and body["contact"] == jane[name]["contact"] and body["status"] != "unsubscribed"
    # the other shop's data is untouched
    assert dump(other_shop.id) == other_before and mentions(other_before, JANE_EMAIL)
    # the signups keep their history, unreadable contact, unsubscribed
    status, body = call("GET", f"{SIGNUPS}/{jane['notified']['id']}", shop.key)
    assert status == 200
    assert body["contact"] == "[redacted]" and body["status"] == "unsubscribed" and body["notifications_sent"] == 1
    assert body["customer"]["email"] is None and body["customer"]["name"] is None
    rows = call("GET", "/back_in_stock/notifications", shop.key)[1]["notifications"]
    assert {r["signup_id"]: r["contact"] for r in rows} == {
        jane["notified"]["id"]: "[redacted]",
        jane["bob"]["id"]: "bob@example.com",
    }


def test_the_phone_alone_finds_the_sms_signup_and_through_the_email_it_carries_the_rest(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any]
) -> None:
    counts = privacy.redact_customer(p, the_shop(shop), customer_payload(email=None, phone="+1-555-123-4567"))

    assert counts["signups"] == 3 and counts["customers"] == 2 and counts["notifications"] == 1
    text = dump(shop.id)
    assert not mentions(text, JANE_PHONE) and not mentions(text, JANE_EMAIL)
    assert mentions(text, "xjane@example.com") and mentions(text, "bob@example.com")
    for name in ("sms", "pending"):
        status, body = call("GET", f"{SIGNUPS}/{jane[name]['id']}", shop.key)
        assert status == 200 and body["contact"] == "[redacted]" and body["customer"]["email"] is None


def test_a_redacted_signup_can_never_be_alerted_again(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any], worker: Any, outbox: Any
) -> None:
    key = shop.key
    sent_before = len(outbox.emails())
    privacy.redact_customer(p, the_shop(shop), customer_payload())
    call("PATCH", "/back_in_stock/settings/delivery", key, {"resend_spacing_minutes": 0})  # resends at once

    notify(key, jane["pending"]["id"])
    notify(key, jane["notified"]["id"], allow_resend=True)
    worker.drain()

    assert len(outbox.emails()) == sent_before
    rows = call("GET", "/back_in_stock/notifications?status=blocked", key)[1]["notifications"]
    assert {r["signup_id"] for r in rows} == {jane["pending"]["id"], jane["notified"]["id"]}
    assert all(r["contact"] == "[redacted]" and "unsubscribed" in r["blocked_reason"] for r in rows)
    assert not mentions(dump(shop.id), JANE_EMAIL)
    # and she may sign up again, as a new consent: the old guard no longer blocks it
    assert signup(key, 201, JANE_EMAIL)["status"] == "pending"


def test_redacting_twice_changes_nothing_more(p: privacy.Privacy, shop: Shop, jane: dict[str, Any]) -> None:
    later = ids.now()
    privacy.redact_customer(p, the_shop(shop), customer_payload())
    after_first = dump(shop.id, but="erasure")
    first_mark = p.records.erased_since(shop.id)

    counts = privacy.redact_customer(p, the_shop(shop), customer_payload(), now=later.replace(year=later.year + 1))

    assert counts == dict.fromkeys(counts, 0)
    assert dump(shop.id, but="erasure") == after_first
    # Only the erasure mark moves (forward: export links made before the second run retire too; services/downloads)
    second_mark = p.records.erased_since(shop.id)
    assert first_mark is not None and second_mark is not None and second_mark >= first_mark


def test_redaction_deletes_stored_data_request_reports_about_the_customer(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any]
) -> None:
    privacy.customer_data_request(p, the_shop(shop), customer_payload(data_request={"id": 7}))
    privacy.customer_data_request(
        p, the_shop(shop), customer_payload(email="bob@example.com", phone=None, customer_id=43, data_request={"id": 8})
    )
    counts = privacy.redact_customer(p, the_shop(shop), customer_payload())
    assert counts["data_requests"] == 1
    assert p.records.data_request(shop.id, "7") is None
    assert p.records.data_request(shop.id, "8") is not None


# --------------------------------------------------------------------------------------- customers/data_request
def test_data_request_is_stored_for_30_days_and_emailed_to_the_merchant_once(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any], outbox: Any
) -> None:
    deps.shops().set_shopify_connection(shop.id, ids.iso(ids.now()), MERCHANT, None)
    attributed = {"order_id": "299938", "line_item_id": "1", "variant_id": 101, "signup_id": jane["notified"]["id"]}
    for order_id in ("299938", "555"):  # the second order was not requested
        AttributionRepository(config.table_name()).record(
            {**attributed, "order_id": order_id, "shop_id": shop.id, "ordered_at": ids.iso(ids.now())}
        )
    payload = customer_payload(orders_requested=[299938, 280263], data_request={"id": 9999})
    before = len(outbox.emails())

    first = privacy.customer_data_request(p, the_shop(shop), payload)
    replay = privacy.customer_data_request(p, the_shop(shop), payload)

    assert first == {
        "data_request_id": "9999",
        "stored": True,
        "counts": {
            "signups": 3,
            "notifications": 1,
            "customer_records": 2,
            "order_attributions": 1,
            "preorder_customers": 0,
            "preorder_orders": 0,
        },
        "email": "sent",
    }
    assert replay == {**first, "stored": False, "email": "already_sent"}
    [email] = outbox.emails()[before:]
    assert email.destinations["ToAddresses"] == [MERCHANT]
    assert email.subject == "Customer data request 9999 for first-shop.myshopify.com"
    assert JANE_EMAIL in email.body and jane["notified"]["id"] in email.body and "bob@example.com" not in email.body

    item = p.records.data_request(shop.id, "9999")
    assert item is not None and item["emailed_at"]
    assert abs(item[TTL_ATTRIBUTE] - (time.time() + 30 * 86400)) < 120
    report = json.loads(item["report"])
    assert {s["signup_id"] for s in report["signups"]} == {jane[n]["id"] for n in ("notified", "sms", "pending")}
    notified = next(s for s in report["signups"] if s["signup_id"] == jane["notified"]["id"])
    assert notified["contact"] == JANE_EMAIL and notified["notified_at"] and notified["variant_id"] == 101
    [row] = report["notifications"]
    assert (row["status"], row["channel"], row["variant_id"]) == ("sent", "email", 101) and row["sent_at"]
    assert {(c["channel"], c["contact"]) for c in report["customer_records"]} == {
        ("email", JANE_EMAIL),
        ("sms", JANE_PHONE),
    }
    assert report["orders_requested"] == [299938, 280263]
    assert [(a["order_id"], a["signup_id"]) for a in report["order_attributions"]] == [
        ("299938", jane["notified"]["id"])
    ]


def test_a_shop_without_an_email_still_gets_the_report_stored(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any], outbox: Any
) -> None:
    assert the_shop(shop).email is None
    result = privacy.customer_data_request(p, the_shop(shop), customer_payload(data_request={"id": 5}))
    assert result["email"] == "no_merchant_email" and result["stored"] is True
    item = p.records.data_request(shop.id, "5")
    assert item is not None and len(json.loads(item["report"])["signups"]) == 3
    assert not any(MERCHANT in e.destinations["ToAddresses"] for e in outbox.emails())


def test_a_failed_email_is_sent_by_the_retry_and_only_then(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any]
) -> None:
    deps.shops().set_shopify_connection(shop.id, ids.iso(ids.now()), MERCHANT, None)
    sent: list[Email] = []

    class Flaky:
        def send(self, email: Email) -> str:
            if not sent and not getattr(self, "failed", False):
                self.failed = True
                raise RuntimeError("SES throttled")
            sent.append(email)
            return f"m-{len(sent)}"

    flaky = dataclasses.replace(p, email=Flaky())
    payload = customer_payload(data_request={"id": 77})
    with pytest.raises(RuntimeError):
        privacy.customer_data_request(flaky, the_shop(shop), payload)
    assert privacy.customer_data_request(flaky, the_shop(shop), payload)["email"] == "sent"
    assert privacy.customer_data_request(flaky, the_shop(shop), payload)["email"] == "already_sent"
    assert len(sent) == 1 and sent[0].to == MERCHANT


def test_a_large_report_is_stored_compressed_and_still_readable(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(privacy, "MAX_REPORT_TEXT", 100)
    result = privacy.customer_data_request(p, the_shop(shop), customer_payload(data_request={"id": 6}))
    item = p.records.data_request(shop.id, "6")
    assert item is not None and "report" not in item and item["report_gzip"]
    assert result["counts"]["signups"] == 3
    assert privacy.redact_customer(p, the_shop(shop), customer_payload())["data_requests"] == 1  # by Shopify id


# ----------------------------------------------------------------------------------------------------- shop/redact
def test_shop_redact_purges_the_shop_and_nothing_else(
    p: privacy.Privacy,
    shop: Shop,
    other_shop: Shop,
    jane: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop_id, other_id = shop.id, other_shop.id
    old_hash = the_shop(shop).api_key_hash
    new_key = shops.rotate_key(deps.shops(), shop_id)["api_key"]
    for sid in (shop_id, other_id):
        ShopSecrets().put(sid, ShopifyCredentials("whsec", "token"))
    p = dataclasses.replace(p, extra_partitions=(lambda sid: f"SHOP#{sid}#ROLLUP#variant",))
    client = aws.client("dynamodb")
    for sid in (shop_id, other_id):
        for bucket in ("2026-05", "2026-06"):
            client.put_item(
                TableName=config.table_name(),
                Item={"PK": {"S": f"SHOP#{sid}#ROLLUP#variant"}, "SK": {"S": bucket}, "signups": {"N": "3"}},
            )
    other_before = dump(other_id)
    assert call("GET", SIGNUPS, new_key)[0] == 200

    counts = privacy.redact_shop(p, shop_id, {"shop_id": 1, "shop_domain": "first-shop.myshopify.com"})

    assert counts["api_keys"] == 2 and counts["domain_claims"] == 1 and counts["extra_items"] == 2
    assert counts["shop_items"] > 10
    assert partition(f"SHOP#{shop_id}") == [] and partition(f"SHOP#{shop_id}#ROLLUP#variant") == []
    assert deps.shops().get(shop_id) is None
    for key_hash in (old_hash, shops.hash_key(new_key)):
        assert partition(f"APIKEY#{key_hash}") == []
    assert partition("DOMAIN#first-shop.myshopify.com") == []
    assert ShopSecrets().get(shop_id) is None
    assert call("GET", SIGNUPS, new_key)[0] == 401
    assert call("GET", SIGNUPS, shop.key)[0] == 401
    # the other shop is whole
    assert dump(other_id) == other_before
    assert len(partition(f"SHOP#{other_id}#ROLLUP#variant")) == 2
    assert ShopSecrets().get(other_id) is not None
    assert call("GET", SIGNUPS, other_shop.key)[0] == 200
    assert deps.shops().shop_id_for_domain("second-shop.myshopify.com") == other_id
    # and a replay finds nothing to do
    again = privacy.redact_shop(p, shop_id, {"shop_id": 1, "shop_domain": "first-shop.myshopify.com"})
    assert again == dict.fromkeys(again, 0)


def test_shop_redact_leaves_a_domain_claim_that_points_to_another_shop(
    p: privacy.Privacy, shop: Shop, other_shop: Shop
) -> None:
    counts = privacy.redact_shop(p, shop.id, {"shop_domain": "Second-Shop.myshopify.com"})
    assert counts["domain_claims"] == 1  # its own, read from the shop item; not the payload's foreign one
    assert deps.shops().shop_id_for_domain("second-shop.myshopify.com") == other_shop.id
    assert deps.shops().shop_id_for_domain("first-shop.myshopify.com") is None


def test_shop_purge_writes_batches_of_25_and_retries_unprocessed_items(
    p: privacy.Privacy, shop: Shop, catalog: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(60):
        deps.catalog().put_variant(shop.id, 1000 + n, 7, f"Size {n}", "Sock", "sock")
    client = p.records.client
    real = client.batch_write_item
    sizes: list[int] = []

    def flaky(**request: Any) -> Any:
        [(table, writes)] = request["RequestItems"].items()
        sizes.append(len(writes))
        if len(sizes) == 1:  # the first call: half of it comes back unprocessed
            real(RequestItems={table: writes[:10]})
            return {"UnprocessedItems": {table: writes[10:]}}
        return real(**request)

    monkeypatch.setattr(client, "batch_write_item", flaky)
    counts = privacy.redact_shop(p, shop.id, {})
    assert max(sizes) == 25 and sizes[1] == 15  # the retry carries exactly the unprocessed part
    assert counts["shop_items"] >= 63 and partition(f"SHOP#{shop.id}") == []


# ------------------------------------------------------------------------------------ the sharded layout (issue 23)
def unmoved(shop_id: str, item_pk: str, sk: str) -> None:
    """Put a row back where the layout before issue 23 kept it (`SHOP#<id>`, indexed by GSI1/GSI2), as a table not
    migrated yet holds it (`backinstock migrate keys`)."""
    client, table = aws.client("dynamodb"), config.table_name()
    item = client.get_item(TableName=table, Key={"PK": {"S": item_pk}, "SK": {"S": sk}})["Item"]
    for name in ("GSI3PK", "GSI3SK", "GSI4PK", "GSI4SK"):
        item.pop(name, None)
    variant, product = item["variant_id"]["N"], item["product_id"]["N"]
    old = {"GSI1PK": f"SHOP#{shop_id}#VARIANT#{variant}", "GSI2PK": f"SHOP#{shop_id}#PRODUCT#{product}"}
    item.update({**{k: {"S": v} for k, v in old.items()}, "GSI1SK": {"S": sk}, "GSI2SK": {"S": sk}})
    client.put_item(TableName=table, Item={**item, "PK": {"S": f"SHOP#{shop_id}"}})
    client.delete_item(TableName=table, Key={"PK": {"S": item_pk}, "SK": {"S": sk}})


def test_redact_finds_the_customers_rows_in_several_shards_and_rows_not_moved_yet(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any], worker: Any
) -> None:
    key = shop.key
    more = [signup(key, 300 + n, JANE_EMAIL, product=30) for n in range(8)]
    for s in more[:2]:
        notify(key, s["id"])
    worker.drain()
    rows = [i for i in shop_items(shop.id) if mentions(json.dumps(i, default=str).lower(), JANE_EMAIL)]
    signup_shards = {i["PK"] for i in rows if i.get("entity") == "signup"}
    log_shards = {i["PK"] for i in rows if i.get("entity") == "notification"}
    assert len(signup_shards) >= 2 and len(log_shards) >= 1, (signup_shards, log_shards)
    # one signup and one log row of hers still where the old layout kept them
    legacy_signup = next(i for i in rows if i.get("entity") == "signup")
    legacy_row = next(i for i in rows if i.get("entity") == "notification")
    unmoved(shop.id, legacy_signup["PK"], legacy_signup["SK"])
    unmoved(shop.id, legacy_row["PK"], legacy_row["SK"])
    assert {legacy_signup["SK"], legacy_row["SK"]} <= {i["SK"] for i in partition(f"SHOP#{shop.id}")}

    counts = privacy.redact_customer(p, the_shop(shop), customer_payload())

    assert counts["signups"] == 3 + 8 and counts["notifications"] == 1 + 2
    text = dump(shop.id)
    assert not mentions(text, JANE_EMAIL) and not mentions(text, JANE_PHONE)
    assert mentions(text, "bob@example.com") and mentions(text, "xjane@example.com")
    legacy = {i["SK"]: i for i in partition(f"SHOP#{shop.id}")}
    assert (
        legacy[legacy_signup["SK"]]["contact"] == "[redacted]" and legacy[legacy_row["SK"]]["contact"] == "[redacted]"
    )
    # the data request finds them everywhere too (each once)
    report = privacy.customer_data_request(p, the_shop(shop), customer_payload(data_request={"id": 3}))
    assert report["counts"]["signups"] == 0  # redacted: nothing names her any more


def test_a_data_request_counts_a_row_met_in_its_shard_and_its_old_place_once(
    p: privacy.Privacy, shop: Shop, jane: dict[str, Any]
) -> None:
    """While `migrate keys` moves a row, it exists at both keys for a moment: the report names it once."""
    client, table = aws.client("dynamodb"), config.table_name()
    for item in [i for i in shop_items(shop.id) if i.get("entity") in ("signup", "notification")]:
        raw = client.get_item(TableName=table, Key={"PK": {"S": item["PK"]}, "SK": {"S": item["SK"]}})["Item"]
        client.put_item(TableName=table, Item={**raw, "PK": {"S": f"SHOP#{shop.id}"}})
    result = privacy.customer_data_request(p, the_shop(shop), customer_payload(data_request={"id": 4}))
    assert result["counts"]["signups"] == 3 and result["counts"]["notifications"] == 1


def test_shop_redact_leaves_no_item_in_any_signup_or_log_shard(
    p: privacy.Privacy, shop: Shop, other_shop: Shop, jane: dict[str, Any], worker: Any
) -> None:
    for n in range(12):
        signup(shop.key, 101, f"customer{n}@example.com")
    before = {pk: len(partition(pk)) for pk in shards(shop.id)}
    assert sum(1 for pk in signup_partitions(shop.id) if before[pk]) >= 2
    assert sum(1 for pk in notification_partitions(shop.id) if before[pk]) >= 1
    other_before = {pk: partition(pk) for pk in shards(other_shop.id)}
    assert any(other_before.values())

    counts = privacy.redact_shop(p, shop.id, {"shop_domain": "first-shop.myshopify.com"})

    assert counts["extra_items"] >= sum(before.values()) == 5 + 12 + 2
    assert [pk for pk in shards(shop.id) if partition(pk)] == []
    assert partition(f"SHOP#{shop.id}") == []
    assert {pk: partition(pk) for pk in shards(other_shop.id)} == other_before


# --------------------------------------------------------------------------------------------------------- no Scan
def test_none_of_the_privacy_functions_scans(p: privacy.Privacy, shop: Shop, jane: dict[str, Any]) -> None:
    calls: Counter[str] = Counter()
    aws.client("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda event_name, **_: calls.update([event_name.rsplit(".", 1)[-1]])
    )
    privacy.customer_data_request(p, the_shop(shop), customer_payload(data_request={"id": 1}))
    privacy.redact_customer(p, the_shop(shop), customer_payload())
    privacy.redact_shop(p, shop.id, {})
    assert calls["Query"] > 0 and calls["BatchWriteItem"] > 0
    assert "Scan" not in calls
