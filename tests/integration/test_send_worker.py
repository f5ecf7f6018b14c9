"""The send pipeline end to end against moto: notify / bulk notify -> SQS -> worker -> SES / SNS -> send log.

Covers the rules of the issue: every attempt is one log row (sent, or blocked with a readable reason), a message
delivered twice never sends twice (including a crash after the provider accepted), resends only with
allow_resend, and partial batch failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backinstock import deps
from backinstock.repositories.notifications import NotificationRepository
from backinstock.services import sending
from backinstock_tools import cli
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.builders import make_push
from backinstock_tools.testkit.builders import signup as make_signup
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"


@pytest.fixture
def signup(shop: Shop, catalog: dict[str, int]) -> dict[str, Any]:
    return make_signup(shop, 101, "jane@example.com")


def notify(key: str, signup_id: str, **body: Any) -> tuple[int, Any]:
    return call("POST", f"{SIGNUPS}/{signup_id}/notify", key, body or None)


def log(key: str, query: str = "") -> list[dict[str, Any]]:
    status, body = call("GET", f"/back_in_stock/notifications{query}", key)
    assert status == 200, body
    return list(body["notifications"])


def test_notify_sends_one_email_and_logs_it(shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any) -> None:
    key = shop.key
    assert notify(key, signup["id"]) == (202, {"signup_id": signup["id"], "queued": True})
    worker.drain()
    [email] = outbox.emails()
    assert email.destinations["ToAddresses"] == ["jane@example.com"]
    assert email.subject == "Classic Tee (Small / Blue) is back in stock"
    assert "https://first-shop.myshopify.com/products/classic-tee?variant=101&amp;utm_source=backinstock" in email.body
    assert "/back_in_stock/unsubscribe?token=" in email.body
    [row] = log(key)
    assert row["status"] == "sent" and row["blocked_reason"] is None
    assert (row["signup_id"], row["channel"], row["contact"]) == (signup["id"], "email", "jane@example.com")
    assert (row["shopify_variant_id"], row["shopify_product_id"]) == (101, 10)
    assert call("GET", f"/back_in_stock/notifications/{row['id']}", key) == (200, row)
    after = call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]
    assert after["status"] == "notified"
    assert after["notifications_sent"] == 1 and after["last_notified_at"] == row["sent_at"]


def test_resend_needs_allow_resend(shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any) -> None:
    key = shop.key
    notify(key, signup["id"])
    worker.drain()
    status, body = notify(key, signup["id"])
    assert status == 409 and body["errors"] == ["Signup was already notified. Pass allow_resend to send again."]
    call("PATCH", "/back_in_stock/settings/delivery", key, {"resend_spacing_minutes": 0})  # resends at once
    assert notify(key, signup["id"], allow_resend=True)[0] == 202
    worker.drain()
    assert len(outbox.emails()) == 2
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["notifications_sent"] == 2


def test_two_notifies_queued_before_the_first_send_send_once(
    shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any
) -> None:
    key = shop.key
    assert notify(key, signup["id"])[0] == 202
    assert notify(key, signup["id"])[0] == 202  # still pending: both queue
    worker.drain()
    assert len(outbox.emails()) == 1
    assert len(log(key)) == 1


def test_a_message_delivered_twice_sends_once(shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any) -> None:
    notify(shop.key, signup["id"])
    [message] = worker.pending()
    worker.run([message])
    worker.run([message])  # SQS at-least-once: the same message again
    assert len(outbox.emails()) == 1
    assert len(log(shop.key)) == 1


def test_a_crash_after_the_provider_accepted_does_not_send_twice(
    shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify(shop.key, signup["id"])
    original = NotificationRepository.record_sent
    crashes = {"left": 1}

    def crash_once(self: NotificationRepository, *args: Any, **kwargs: Any) -> bool:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("Lambda died after SES accepted the email")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(NotificationRepository, "record_sent", crash_once)
    [message] = worker.pending()
    first = worker.run([message])
    assert [f["itemIdentifier"] for f in first["batchItemFailures"]] == [message["MessageId"]]
    assert len(outbox.emails()) == 1
    worker.drain()  # redelivery
    assert len(outbox.emails()) == 1, "the redelivered message must not send again"
    [row] = log(shop.key)
    assert row["status"] == "sent"
    assert call("GET", f"{SIGNUPS}/{signup['id']}", shop.key)[1]["notifications_sent"] == 1


def test_a_provider_failure_releases_the_claim_and_the_retry_sends(
    shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify(shop.key, signup["id"])
    sender = deps.sender()
    real_send = sender.providers.email.send
    failures = {"left": 1}

    def flaky(email: Any) -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("SES throttled")
        return real_send(email)

    monkeypatch.setattr(sender.providers.email, "send", flaky)
    assert worker.run()["batchItemFailures"]
    assert outbox.emails() == [] and log(shop.key) == []
    worker.drain()
    assert len(outbox.emails()) == 1
    assert deps.notifications().usage(shop.id, log(shop.key)[0]["sent_at"][:7]) == 1


def test_a_throttled_release_after_a_provider_failure_still_sends_once(
    shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found building `make chaos`: SES refused, then releasing the claim was throttled, so the claim stayed `sending`;
    the redelivery took it for a crash after the provider call and recorded a send that never went out."""
    from botocore.exceptions import ClientError

    notify(shop.key, signup["id"])
    sender = deps.sender()
    real_send = sender.providers.email.send
    refusals = {"email": 1, "release": 1}

    def refused_once(email: Any) -> str:
        if refusals["email"]:
            refusals["email"] -= 1
            raise ConnectionError("SES unavailable")
        return real_send(email)

    client = deps.notifications().client
    real_transact = client.transact_write_items

    def throttled_release_once(**kwargs: Any) -> Any:
        # the release: the send's claim on its signup undone (on the condition that it is the signup's last claim)
        releases = any("last_send.send_id" in str(i.get("Update", {})) for i in kwargs["TransactItems"])
        if releases and refusals["release"]:
            refusals["release"] -= 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "throttled"}}, "TransactWriteItems")
        return real_transact(**kwargs)

    monkeypatch.setattr(sender.providers.email, "send", refused_once)
    monkeypatch.setattr(client, "transact_write_items", throttled_release_once)
    assert worker.run()["batchItemFailures"]
    worker.drain()
    assert len(outbox.emails()) == 1
    assert [n["status"] for n in log(shop.key)] == ["sent"]
    assert refusals == {"email": 0, "release": 0}


def test_one_failing_record_fails_alone(shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any) -> None:
    key = shop.key
    ids = [
        call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": f"p{i}@example.com"})[1][
            "id"
        ]
        for i in range(2)
    ]
    for signup_id in ids:
        notify(key, signup_id)
    messages = worker.pending()
    poison = {**messages[0], "Body": json.dumps({"kind": "mystery", "shop_id": shop.id})}
    result = worker.run([poison, messages[1]])
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [poison["MessageId"]]
    assert len(outbox.emails()) == 1


# -------------------------------------------------------------------------------------------------- blocked sends
def blocked_rows(key: str) -> list[dict[str, Any]]:
    return log(key, "?status=blocked")


def test_disabled_channel_blocks_with_a_reason(shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any) -> None:
    key = shop.key
    call("PATCH", "/back_in_stock/settings/channels", key, {"email": {"enabled": False}})
    notify(key, signup["id"])
    worker.drain()
    assert outbox.emails() == []
    [row] = blocked_rows(key)
    assert row["blocked_reason"] == "The email channel is disabled in settings (channels.email.enabled)"
    after = call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]
    assert after["status"] == "blocked" and after["notifications_sent"] == 0
    assert log(key, "?status=sent") == []


def test_sms_is_held_while_verification_is_pending(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    key = shop.key
    call("PATCH", "/back_in_stock/settings/channels", key, {"sms": {"enabled": True}})
    _, body = call("POST", SIGNUPS, key, {"channel": "sms", "shopify_variant_id": 201, "phone": "+15550001111"})
    notify(key, body["id"])
    worker.drain()
    assert outbox.sms() == []
    [row] = blocked_rows(key)
    assert "verification" in row["blocked_reason"] and "pending" in row["blocked_reason"]


def test_verified_sms_goes_through_sns(shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any) -> None:
    key = shop.key
    call("PATCH", "/back_in_stock/settings/channels", key, {"sms": {"enabled": True}})
    # the operator records the verification's outcome with the admin CLI
    assert cli.main(["shops", "sms-verification", "--shop-id", shop.id, "--status", "verified"]) == 0
    channels = call("GET", "/back_in_stock/settings/channels", key)[1]
    assert channels["sms"]["verification"]["status"] == "verified"
    _, body = call("POST", SIGNUPS, key, {"channel": "sms", "shopify_variant_id": 201, "phone": "+15550001111"})
    notify(key, body["id"])
    worker.drain()
    [(phone, text)] = outbox.sms()
    assert phone == "+15550001111" and "Camp Mug is back in stock" in text and "unsubscribe?token=" in text
    assert log(key)[0]["status"] == "sent"
    # a rejected verification holds SMS again
    assert cli.main(["shops", "sms-verification", "--shop-id", shop.id, "--status", "rejected"]) == 0
    call("PATCH", "/back_in_stock/settings/delivery", key, {"resend_spacing_minutes": 0})  # resends at once
    notify(key, body["id"], allow_resend=True)
    worker.drain()
    assert len(outbox.sms()) == 1 and "(status: rejected)" in blocked_rows(key)[0]["blocked_reason"]
    assert cli.main(["shops", "sms-verification", "--shop-id", "nope", "--status", "verified"]) == 2


def test_unconfirmed_double_optin_blocks(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, stream: Any
) -> None:
    key = shop.key
    call("PATCH", "/back_in_stock/settings/compliance", key, {"optin_required": True})
    _, body = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "o@example.com"})
    stream.drain()  # the committed signup queues its confirmation
    worker.drain()  # the confirmation email
    [confirmation] = outbox.emails()
    assert (
        confirmation.subject.startswith("Confirm your restock alert") and "/optin/confirm?token=" in confirmation.body
    )
    notify(key, body["id"])
    worker.drain()
    assert len(outbox.emails()) == 1
    assert blocked_rows(key)[0]["blocked_reason"] == sending.BLOCKED["optin_unconfirmed"]


def test_an_unsubscribed_contact_is_not_sent_to(shop: Shop, signup: dict[str, Any], worker: Any, outbox: Any) -> None:
    deps.signups().set_timestamp(shop.id, signup["id"], "unsubscribed_at", "2026-06-01T00:00:00.000Z")
    key = shop.key
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["status"] == "unsubscribed"
    notify(key, signup["id"])
    worker.drain()
    assert outbox.emails() == []
    assert blocked_rows(key)[0]["blocked_reason"] == sending.BLOCKED["unsubscribed"]
    assert call("GET", f"{SIGNUPS}/{signup['id']}", key)[1]["status"] == "unsubscribed"  # precedence


def test_the_plan_quota_blocks_once_used_up(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sending.PLAN_MONTHLY_SENDS, "growth", 2)
    key = shop.key
    ids = [make_signup(shop, 101, f"q{i}@example.com")["id"] for i in range(3)]
    status, body = call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": ids})
    assert status == 200 and sorted(body["success"]) == sorted(ids) and body["failed"] == []
    worker.drain()
    assert len(outbox.emails()) == 2
    [row] = blocked_rows(key)
    assert row["blocked_reason"].startswith("The growth plan's monthly send quota (2 sends) is used up for ")


# ------------------------------------------------------------------------------------------------------ bulk notify
def test_bulk_notify_reports_unknown_and_already_notified_ids(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    key = shop.key
    ids = [make_signup(shop, 101, f"b{i}@example.com")["id"] for i in range(3)]
    notify(key, ids[0])
    worker.drain()
    unknown = "01900000-0000-7000-8000-000000000000"
    status, body = call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": [*ids, unknown, "garbage"]})
    assert status == 207
    assert body["success"] == ids[1:]
    assert {f["signup_id"]: f["error"] for f in body["failed"]} == {
        ids[0]: "Signup was already notified. Pass allow_resend to send again.",
        unknown: "Signup not found",
        "garbage": "Signup not found",
    }
    worker.drain()
    assert len(outbox.emails()) == 3
    call("PATCH", "/back_in_stock/settings/delivery", key, {"resend_spacing_minutes": 0})  # resends at once
    status, body = call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": ids, "allow_resend": True})
    assert (status, body["failed"]) == (200, [])
    worker.drain()
    assert len(outbox.emails()) == 6


def test_bulk_notify_validates_its_body(shop: Shop) -> None:
    key = shop.key
    assert call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": ["x"] * 1001})[0] == 422
    assert call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": []})[0] == 422
    status, body = call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": ["a"], "allow_resend": "yes"})
    assert status == 422 and body["error_details"][0]["field"] == "allow_resend"


# ------------------------------------------------------------------------------------------------------ send log
def test_notification_log_filters_and_isolation(
    shop: Shop, other_shop: Shop, catalog: dict[str, int], worker: Any
) -> None:
    key = shop.key
    a = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "a@example.com"})[1]
    b = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 201, "email": "b@example.com"})[1]
    notify(key, a["id"])
    worker.drain()
    call("PATCH", "/back_in_stock/settings/channels", key, {"email": {"enabled": False}})
    notify(key, b["id"])
    worker.drain()
    assert [r["signup_id"] for r in log(key)] == [b["id"], a["id"]]
    assert [r["signup_id"] for r in log(key, "?status=sent")] == [a["id"]]
    assert [r["signup_id"] for r in log(key, "?variant_id=201")] == [b["id"]]
    assert [r["signup_id"] for r in log(key, "?product_id=10")] == [a["id"]]
    assert log(key, "?channel=sms") == []
    assert log(key, "?to=2000-01-01") == []
    assert call("GET", "/back_in_stock/notifications?status=pending", key)[0] == 422
    row_id = log(key)[0]["id"]
    theirs = other_shop.key
    assert log(theirs) == []
    assert call("GET", f"/back_in_stock/notifications/{row_id}", theirs)[0] == 404
    assert call("GET", "/back_in_stock/notifications/not-an-id", key)[0] == 404


def test_the_optin_confirmation_goes_out_once_even_if_redelivered(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, stream: Any
) -> None:
    call("PATCH", "/back_in_stock/settings/compliance", shop.key, {"optin_required": True})
    call("POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": "o@example.com"})
    stream.drain()
    [message] = worker.pending()
    worker.run([message])
    worker.run([message])
    assert len(outbox.emails()) == 1


def optin_messages(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    bodies = [json.loads(m["Body"]) for m in received]
    return [b for b in bodies if b["kind"] == "optin"]


def test_a_refused_duplicate_create_leaves_no_optin_message_behind(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, stream: Any
) -> None:
    # Given double opt-in, and the same signup created twice (the second is refused)
    key = shop.key
    call("PATCH", "/back_in_stock/settings/compliance", key, {"optin_required": True})
    body = {"channel": "email", "shopify_variant_id": 101, "email": "o@example.com"}
    status, first = call("POST", SIGNUPS, key, body)
    assert status == 201
    assert call("POST", SIGNUPS, key, body)[0] == 409
    # Then no request queued anything: the confirmation comes from the committed signup only
    assert worker.pending_count() == 0
    stream.drain()
    received = worker.pending()
    messages = optin_messages(received)
    assert [(m["signup_id"], m["committed_at"]) for m in messages] == [(first["id"], first["created_at"])]
    # And the one message sends one confirmation, with nothing left to retry or dead-letter
    assert worker.run(received)["batchItemFailures"] == []
    assert len(outbox.emails()) == 1 and worker.pending_count() == 0


def test_no_optin_message_without_double_optin_or_for_a_changed_signup(
    shop: Shop, catalog: dict[str, int], worker: Any, signup: dict[str, Any], stream: Any
) -> None:
    deps.signups().set_timestamp(shop.id, signup["id"], "unsubscribed_at", "2026-06-01T00:00:00.000Z")
    assert stream.drain() > 0  # the creation and the change: neither requires a confirmation
    assert optin_messages(worker.pending()) == []


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What the send worker logs at info level: (message, extra)."""
    from backinstock.workers import send

    lines: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(send.logger, "info", lambda msg, extra=None, **_: lines.append((msg, extra or {})))
    return lines


def test_an_optin_message_whose_signup_was_deleted_is_acknowledged_with_one_log_line(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, stream: Any, log_lines: list[Any]
) -> None:
    # Given a committed opt-in signup, deleted before its confirmation went out
    key = shop.key
    call("PATCH", "/back_in_stock/settings/compliance", key, {"optin_required": True})
    _, body = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": "o@example.com"})
    stream.drain()
    assert call("DELETE", f"{SIGNUPS}/{body['id']}", key)[0] == 200
    # When the worker runs its message (young: queued a moment ago)
    assert worker.run()["batchItemFailures"] == []
    # Then it is acknowledged, nothing is sent, and one line says why, with ids only
    assert outbox.emails() == [] and worker.pending_count() == 0
    [(line, extra)] = [(msg, extra) for msg, extra in log_lines if "opt-in" in msg]
    assert line == "opt-in message acknowledged: its signup does not exist"
    assert extra == {"shop_id": shop.id, "signup_id": body["id"], "reason": "signup_deleted"}


def test_an_earlier_optin_message_seen_before_its_signup_is_retried_not_lost(
    shop: Shop,
    catalog: dict[str, int],
    worker: Any,
    outbox: Any,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: list[Any],
) -> None:
    # Given a message of the earlier shape (queued before the signup's write) that the worker sees before the write
    from backinstock.services import signups as service

    call("PATCH", "/back_in_stock/settings/compliance", shop.key, {"optin_required": True})
    real_create = service.create_unique
    held: list[Any] = []
    monkeypatch.setattr(service, "create_unique", lambda w, item: held.append((w, item)))
    status, body = call(
        "POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": "r@example.com"}
    )
    assert status == 201
    message = {"kind": "optin", "shop_id": shop.id, "signup_id": body["id"], "queued_at": body["created_at"]}
    deps.queue().send(message)
    # When the worker runs it: the message fails (retried), nothing is sent, and the log says why
    assert worker.run()["batchItemFailures"]
    assert outbox.emails() == []
    assert [extra["reason"] for msg, extra in log_lines if "opt-in" in msg] == ["signup_not_visible"]
    # Then once the write lands, the retry sends the confirmation
    real_create(*held[0])
    worker.drain()
    assert len(outbox.emails()) == 1


def test_an_old_optin_message_without_its_signup_is_acknowledged(
    shop: Shop, worker: Any, outbox: Any, log_lines: list[Any]
) -> None:
    deps.queue().send(
        {"kind": "optin", "shop_id": shop.id, "signup_id": "gone", "queued_at": "2026-01-01T00:00:00.000Z"}
    )
    assert worker.run()["batchItemFailures"] == []
    assert outbox.emails() == [] and worker.pending_count() == 0
    assert [extra["reason"] for msg, extra in log_lines if "opt-in" in msg] == ["signup_never_written"]


def test_push_goes_to_the_subscribers_sns_platform_endpoint(shop: Shop, signup: dict[str, Any], worker: Any) -> None:
    # Given a push signup (the storefront widget writes them; the admin API creates email and sms ones)
    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    endpoint = make_push(shop.id, signup["id"])
    # When it is notified
    notify(shop.key, signup["id"])
    worker.drain()
    # Then SNS delivered one message to that endpoint, and the log says sent over push
    backend = get_backend("sns")[DEFAULT_ACCOUNT_ID]["us-east-1"]
    [message] = backend.platform_endpoints[endpoint].messages.values()
    assert "Classic Tee (Small / Blue) is back in stock" in message and "utm_medium=push" in message
    [row] = log(shop.key)
    assert (row["channel"], row["status"]) == ("push", "sent")


def test_the_worker_starts_no_send_the_timeout_could_cut(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any
) -> None:
    from backinstock.workers import send as worker_module

    key = shop.key
    ids = [make_signup(shop, 101, f"t{i}@example.com")["id"] for i in range(3)]
    call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": ids})
    [message] = worker.pending()
    body = json.loads(message["Body"])
    clock = iter([60_000, 60_000, 5_000])  # time left before each send: the third would start too late
    outcomes = worker_module.handle_message(body, remaining_ms=lambda: next(clock))
    assert outcomes == {"sent": 2, "deferred_time": 1}  # not a failure: no receive counts towards the DLQ
    assert len(outbox.emails()) == 2
    [rest] = worker.pending()  # the unstarted rest, queued again as a new message (at once: not backpressure)
    assert [s["send_id"] for s in json.loads(rest["Body"])["sends"]] == [s["send_id"] for s in body["sends"][2:]]
    worker.run([rest])
    assert len(outbox.emails()) == 3
