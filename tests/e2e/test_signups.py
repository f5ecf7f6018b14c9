"""Signups and notifications as a merchant and a customer meet them: HTTP against `backinstock serve`, the send
worker run by the local queue poller, messages read back from the local outbox, customer links followed.

Each test works in a shop of its own (created with the admin CLI) and on variants of its own, so tests neither see
nor disturb each other's waitlists, settings or send log.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest

from backinstock_tools.testkit.builders import signup as make_signup
from tests.e2e.conftest import cli, email_to, eventually, fetch, http, outbox
from tests.local_server import aws_client

pytestmark = pytest.mark.e2e

SIGNUP_KEYS = {
    "id",
    "status",
    "channel",
    "contact",
    "quantity",
    "variant",
    "customer",
    "optin",
    "notifications_sent",
    "last_notified_at",
    "created_at",
}
NOTIFICATION_KEYS = {
    "id",
    "status",
    "blocked_reason",
    "channel",
    "contact",
    "shopify_variant_id",
    "shopify_product_id",
    "signup_id",
    "sent_at",
}
PRODUCT = 700
_variants = itertools.count(70001)
_shops = itertools.count(1)


def new_shop(server: dict[str, Any], **catalog: tuple[int, str, str]) -> dict[str, Any]:
    """A fresh shop (admin CLI) with the given catalog: name -> (variant id, variant title, product title)."""
    created = cli(server, "shops", "create", "--domain", f"signups-{next(_shops)}-{uuid.uuid4().hex[:6]}.myshopify.com")
    assert created.returncode == 0, created.stderr
    shop: dict[str, Any] = {**server, **json.loads(created.stdout), "catalog": {}}
    for name, (variant_id, title, product_title) in catalog.items():
        added = cli(
            server,
            "catalog",
            "add",
            "--shop-id",
            shop["shop_id"],
            "--variant-id",
            str(variant_id),
            "--product-id",
            str(PRODUCT),
            "--title",
            title,
            "--product-title",
            product_title,
            "--handle",
            "alpine-parka",
        )
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["variant_id"] == variant_id
        shop["catalog"][name] = variant_id
    return shop


@pytest.fixture(scope="module")
def shop(server: dict[str, Any]) -> dict[str, Any]:
    return new_shop(server, parka=(next(_variants), "Red / M", "Alpine Parka"))


def api(shop: dict[str, Any], method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    status, payload, _ = http(shop, method, "/back_in_stock" + path, body, api_key=shop["api_key"], **kw)
    return status, payload


def signup(shop: dict[str, Any], variant_id: int, email: str | None = None, phone: str | None = None) -> dict[str, Any]:
    """The kit's signup (`testkit.builders.signup`), over HTTP to the session's server."""

    def send(method: str, path: str, api_key: str | None, body: Any) -> tuple[int, Any]:
        status, payload, _ = http(shop, method, path, body, api_key=api_key)
        return status, payload

    return make_signup(shop["api_key"], variant_id, email, phone=phone, product=PRODUCT, send=send)


def fresh_variant() -> int:
    return next(_variants)


def logged(shop: dict[str, Any], signup_id: str, variant_id: int, status: str) -> dict[str, Any] | None:
    """The send log's entry for `signup_id` once it has the wanted status."""
    code, page = api(shop, "GET", f"/notifications?variant_id={variant_id}")
    assert code == 200, page
    return next((n for n in page["notifications"] if n["signup_id"] == signup_id and n["status"] == status), None)


def tampered(link: str) -> str:
    head, signature = link.rsplit(".", 1)
    return f"{head}.{('A' if signature[0] != 'A' else 'B')}{signature[1:]}"


# ----------------------------------------------------------------------------------------------------- tests
def test_create_read_duplicate_and_list_with_stable_pages(shop: dict[str, Any]) -> None:
    variant = fresh_variant()
    first = signup(shop, variant, email="Jane@Example.com")
    assert set(first) == SIGNUP_KEYS
    assert first["status"] == "pending" and first["channel"] == "email" and first["contact"] == "jane@example.com"
    assert first["variant"] == {"shopify_variant_id": variant, "shopify_product_id": PRODUCT, "title": None}
    assert first["customer"]["email"] == "jane@example.com" and first["customer"]["id"]
    assert first["optin"] == {"required": False, "confirmed": None}
    assert (first["quantity"], first["notifications_sent"], first["last_notified_at"]) == (1, 0, None)

    status, again = api(
        shop,
        "POST",
        "/signups",
        {"channel": "email", "shopify_variant_id": variant, "shopify_product_id": PRODUCT, "email": "jane@example.com"},
    )
    assert status == 409 and first["id"] in again["errors"][0]

    status, read = api(shop, "GET", f"/signups/{first['id']}")
    assert (status, read) == (200, first)
    assert api(shop, "GET", f"/signups/{uuid.uuid4()}")[0] == 404

    others = [signup(shop, variant, email=f"buyer{i}@example.com")["id"] for i in range(2)]
    signup(shop, variant, phone="+15555550123")
    status, page1 = api(shop, "GET", f"/signups?variant_id={variant}&channel=email&per_page=2")
    assert status == 200
    meta = page1["meta"]
    assert (meta["total_count"], meta["page"], meta["per_page"], meta["total_pages"]) == (3, 1, 2, 2)
    assert [s["id"] for s in page1["signups"]] == list(reversed(others))  # newest first
    signup(shop, variant, email="late@example.com")  # after the snapshot: not on the next page
    status, page2 = api(
        shop, "GET", f"/signups?variant_id={variant}&channel=email&per_page=2&page=2&as_of={meta['as_of']}"
    )
    assert status == 200 and [s["id"] for s in page2["signups"]] == [first["id"]]
    assert page2["meta"]["total_count"] == 3

    status, found = api(shop, "GET", f"/signups?email=buyer1@&variant_id={variant}")
    assert status == 200 and [s["contact"] for s in found["signups"]] == ["buyer1@example.com"]
    status, pending = api(shop, "GET", f"/signups?status=pending&channel=sms&variant_id={variant}")
    assert status == 200 and [s["contact"] for s in pending["signups"]] == ["+15555550123"]
    assert api(shop, "GET", "/signups?per_page=201")[0] == 422


def test_notify_sends_the_email_and_its_unsubscribe_link_works(server: dict[str, Any], shop: dict[str, Any]) -> None:
    variant = shop["catalog"]["parka"]
    # The product id and the titles come from the shop's catalog (`backinstock catalog add`).
    status, created = api(
        shop, "POST", "/signups", {"channel": "email", "shopify_variant_id": variant, "email": "parka@example.com"}
    )
    assert status == 201, created
    assert created["variant"] == {"shopify_variant_id": variant, "shopify_product_id": PRODUCT, "title": "Red / M"}

    status, queued = api(shop, "POST", f"/signups/{created['id']}/notify")
    assert (status, queued) == (202, {"signup_id": created["id"], "queued": True})

    sent = eventually(lambda: logged(shop, created["id"], variant, "sent"), "the send log to show the email sent")
    assert set(sent) == NOTIFICATION_KEYS
    assert (sent["channel"], sent["contact"], sent["blocked_reason"]) == ("email", "parka@example.com", None)
    assert (sent["shopify_variant_id"], sent["shopify_product_id"]) == (variant, PRODUCT)
    assert api(shop, "GET", f"/notifications/{sent['id']}") == (200, sent)
    after = api(shop, "GET", f"/signups/{created['id']}")[1]
    assert (after["status"], after["notifications_sent"]) == ("notified", 1) and after["last_notified_at"]
    assert api(shop, "POST", f"/signups/{created['id']}/notify")[0] == 409  # no resend without allow_resend
    assert api(shop, "DELETE", f"/signups/{created['id']}")[0] == 409  # history is immutable
    assert api(shop, "PATCH", "/settings/delivery", {"resend_spacing_minutes": 0})[0] == 200  # resends at once
    assert api(shop, "POST", f"/signups/{created['id']}/notify", {"allow_resend": True})[0] == 202
    eventually(
        lambda: api(shop, "GET", f"/signups/{created['id']}")[1]["notifications_sent"] == 2, "the resend to go out"
    )

    shown = cli(server, "outbox", "--limit", "50")
    assert shown.returncode == 0, shown.stderr
    email = next(m for m in reversed(json.loads(shown.stdout)["emails"]) if m["to"] == ["parka@example.com"])
    assert email["subject"] == "Alpine Parka (Red / M) is back in stock"
    assert "Alpine Parka (Red / M) is back in stock" in email["text"] and "html" not in email
    unsubscribe = next(link for link in email["links"] if "/back_in_stock/unsubscribe?token=" in link)
    assert unsubscribe.startswith(server["base_url"])  # PUBLIC_BASE_URL is the real local base URL
    assert any("/products/alpine-parka?variant=" in link for link in email["links"])

    status, page, headers = fetch(unsubscribe)  # mail scanners follow links: GET changes nothing
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<form method="post"' in page and "Unsubscribe" in page
    assert api(shop, "GET", f"/signups/{created['id']}")[1]["status"] == "notified"

    status, page, _ = fetch(tampered(unsubscribe), "POST", b"")
    assert status == 400 and "invalid or has expired" in page
    assert api(shop, "GET", f"/signups/{created['id']}")[1]["status"] == "notified"

    status, page, headers = fetch(unsubscribe, "POST", b"")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and "unsubscribed" in page
    assert api(shop, "GET", f"/signups/{created['id']}")[1]["status"] == "unsubscribed"


def test_bulk_notify_reports_unknown_ids_and_bulk_delete_is_all_or_nothing(shop: dict[str, Any]) -> None:
    variant = fresh_variant()
    notified, pending = (signup(shop, variant, email=f"bulk{i}@example.com")["id"] for i in range(2))
    unknown = str(uuid.uuid4())
    status, result = api(shop, "POST", "/signups/bulk_notify", {"signup_ids": [notified, unknown]})
    assert status == 207 and result["success"] == [notified]
    assert [f["signup_id"] for f in result["failed"]] == [unknown] and result["failed"][0]["error"]
    eventually(
        lambda: api(shop, "GET", f"/signups/{notified}")[1]["status"] == "notified", "the bulk send to be delivered"
    )

    status, refused = api(shop, "POST", "/signups/bulk_delete", {"signup_ids": [pending, notified]})
    assert status == 422 and notified in refused["errors"][0] and pending not in refused["errors"][0]
    assert api(shop, "GET", f"/signups/{pending}")[0] == 200  # nothing was deleted

    status, result = api(shop, "POST", "/signups/bulk_notify", {"signup_ids": [notified]})
    assert status == 207 and result["success"] == [] and "allow_resend" in result["failed"][0]["error"]
    status, refused = api(shop, "POST", "/signups/bulk_delete", {"signup_ids": [pending, unknown]})
    assert status == 422 and [d["field"] for d in refused["error_details"]] == ["signup_ids[1]"]
    assert unknown in refused["errors"][0] and "not found" in refused["errors"][0]
    assert api(shop, "GET", f"/signups/{pending}")[0] == 200  # all or nothing
    status, deleted = api(shop, "POST", "/signups/bulk_delete", {"signup_ids": [pending]})
    assert (status, deleted) == (200, {"deleted_count": 1})
    assert api(shop, "GET", f"/signups/{pending}")[0] == 404


def test_transfer_moves_the_pending_waitlist(shop: dict[str, Any]) -> None:
    source, target = fresh_variant(), fresh_variant()
    moved = {signup(shop, source, email=f"move{i}@example.com")["id"] for i in range(2)}
    body = {"from_shopify_variant_id": source, "to_shopify_variant_id": target, "to_shopify_product_id": PRODUCT}
    status, accepted = api(shop, "POST", "/signups/transfer", body)
    assert status == 202, accepted
    assert accepted["success"] is True and accepted["scope"] == "pending"
    assert (accepted["from_shopify_variant_id"], accepted["to_shopify_variant_id"]) == (source, target)

    def target_ids() -> set[str] | None:
        ids = {s["id"] for s in api(shop, "GET", f"/signups?variant_id={target}")[1]["signups"]}
        return ids if ids == moved else None

    eventually(target_ids, "the signups to move to the target variant")
    assert api(shop, "GET", f"/signups?variant_id={source}")[1]["meta"]["total_count"] == 0


def test_sms_notify_while_sms_is_disabled_is_logged_as_blocked(server: dict[str, Any], shop: dict[str, Any]) -> None:
    variant = fresh_variant()
    created = signup(shop, variant, phone="+15555550199")
    assert api(shop, "POST", f"/signups/{created['id']}/notify", {"allow_resend": False})[0] == 202

    blocked = eventually(lambda: logged(shop, created["id"], variant, "blocked"), "the blocked send in the log")
    assert blocked["blocked_reason"] == "The sms channel is disabled in settings (channels.sms.enabled)"
    status, only_blocked = api(shop, "GET", f"/notifications?status=blocked&channel=sms&variant_id={variant}")
    assert status == 200 and [n["id"] for n in only_blocked["notifications"]] == [blocked["id"]]
    assert api(shop, "GET", f"/signups/{created['id']}")[1]["status"] == "blocked"
    assert all(m["to"] != "+15555550199" for m in outbox(server)["sms"])


def test_double_optin_sends_a_confirmation_whose_link_confirms(server: dict[str, Any]) -> None:
    shop = new_shop(server)
    status, compliance = api(shop, "PATCH", "/settings/compliance", {"optin_required": True})
    assert status == 200 and compliance["optin_required"] is True
    variant = fresh_variant()
    created = signup(shop, variant, email="optin@example.com")
    assert created["optin"] == {"required": True, "confirmed": False}

    confirmation = eventually(
        lambda: email_to(server, "optin@example.com", "Confirm your restock alert"), "the confirmation email"
    )
    confirm = next(link for link in confirmation["links"] if "/back_in_stock/optin/confirm?token=" in link)
    assert confirm.startswith(server["base_url"])

    status, page, _ = fetch(tampered(confirm))
    assert status == 400 and "invalid or has expired" in page
    assert api(shop, "GET", f"/signups/{created['id']}")[1]["optin"]["confirmed"] is False

    # GET (what a mail scanner does) shows a page whose button POSTs; only the POST confirms
    status, page, headers = fetch(confirm)
    assert status == 200 and headers["Content-Type"].startswith("text/html") and '<form method="post"' in page
    assert api(shop, "GET", f"/signups/{created['id']}")[1]["optin"]["confirmed"] is False
    status, page, headers = fetch(confirm, "POST", b"")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and "confirming" in page
    assert api(shop, "GET", f"/signups/{created['id']}")[1]["optin"] == {"required": True, "confirmed": True}


def send_queues(server: dict[str, Any]) -> tuple[Any, str, str, dict[str, Any]]:
    """An SQS client on the local backend, the send queue's URL, its dead-letter queue's URL and its redrive policy."""
    sqs = aws_client(server, "sqs")
    queue = server["send_queue_url"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    dlq = sqs.get_queue_url(QueueName=redrive["deadLetterTargetArn"].rsplit(":", 1)[1])["QueueUrl"]
    return sqs, queue, dlq, redrive


def test_a_refused_duplicate_signup_leaves_nothing_in_the_send_queue_or_its_dead_letter_queue(
    server: dict[str, Any],
) -> None:
    sqs, queue, dlq, _ = send_queues(server)
    shop = new_shop(server)
    assert api(shop, "PATCH", "/settings/compliance", {"optin_required": True})[0] == 200
    variant = fresh_variant()
    created = signup(shop, variant, email="twice@example.com")
    body = {
        "channel": "email",
        "shopify_variant_id": variant,
        "shopify_product_id": PRODUCT,
        "email": "twice@example.com",
    }
    status, refused = api(shop, "POST", "/signups", body)
    assert status == 409 and created["id"] in refused["errors"][0]
    eventually(lambda: email_to(server, "twice@example.com", "Confirm your restock alert"), "the confirmation email")

    def settled() -> bool:
        counts = sqs.get_queue_attributes(
            QueueUrl=queue,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return all(int(v) == 0 for v in counts.values())

    # Every message of the send queue is handled (a message left behind would be retried, then dead-lettered)
    eventually(settled, "the send queue to be empty", timeout=30, interval=0.5)
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert [m for m in dead if shop["shop_id"] in m["Body"]] == []
    confirmations = [m for m in outbox(server)["emails"] if "twice@example.com" in m["to"]]
    assert len(confirmations) == 1


def test_a_failing_message_is_retried_then_dead_lettered_while_the_rest_of_its_batch_is_delivered(
    server: dict[str, Any], shop: dict[str, Any]
) -> None:
    """The local poller honours batchItemFailures as Lambda's event source does (moto's own would delete both)."""
    sqs, queue, dlq, redrive = send_queues(server)
    variant = fresh_variant()
    good = signup(shop, variant, email="batch@example.com")
    poison = json.dumps({"kind": "no-such-kind", "shop_id": shop["shop_id"], "marker": str(uuid.uuid4())})
    send = {
        "kind": "send",
        "shop_id": shop["shop_id"],
        "sends": [{"send_id": str(uuid.uuid4()), "signup_id": good["id"]}],
    }
    sent = sqs.send_message_batch(
        QueueUrl=queue,
        Entries=[{"Id": "poison", "MessageBody": poison}, {"Id": "good", "MessageBody": json.dumps(send)}],
    )
    assert not sent.get("Failed")

    eventually(lambda: logged(shop, good["id"], variant, "sent"), "the good message of the batch to be delivered")

    def dead_lettered() -> dict[str, Any] | None:
        for message in sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, MessageSystemAttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", []):
            if message["Body"] == poison:
                return dict(message)
        return None

    message = eventually(dead_lettered, "the failing message to reach the dead-letter queue", timeout=30, interval=1)
    # Received maxReceiveCount times from the send queue (each time failed and left there), then once here.
    assert int(message["Attributes"]["ApproximateReceiveCount"]) == redrive["maxReceiveCount"] + 1
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    assert api(shop, "GET", f"/signups/{good['id']}")[1]["notifications_sent"] == 1


def test_the_outbox_endpoint_is_local_only_and_limits_each_kind(server: dict[str, Any]) -> None:
    limited = outbox(server, "?limit=1")
    assert set(limited) == {"emails", "sms", "push"} and all(len(v) <= 1 for v in limited.values())
    assert limited["emails"] == outbox(server)["emails"][-1:]  # newest last
    base = server["base_url"].removesuffix("/api/v2/external")
    assert fetch(base + "/local/outbox?limit=x")[0] == 400
    assert fetch(base + "/local/outbox", "POST", b"")[0] == 405
    assert http(server, "GET", "/local/outbox")[0] == 404  # not an API route
