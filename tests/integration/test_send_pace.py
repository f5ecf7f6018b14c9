"""The send pace (services/pacing.py) and the provider's answers through the real worker, against moto: every send
within the channel's rate, backpressure deferred (never a failure), shops sharing the rate, permanent refusals
logged blocked. Time is a fake clock (`pacing.clock`); the local providers' quota (`provider_limits`) counts its
seconds. Tests assert counts and order, never wall time."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from backinstock import aws, deps
from backinstock.providers import REFUSED
from backinstock.repositories.pacing import PaceStore
from backinstock.services import pacing
from backinstock.workers import send as worker_module
from backinstock_tools.local import provider_limits
from backinstock_tools.testkit import Shop, new_shop
from backinstock_tools.testkit.builders import make_push
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
START = 1_800_000_000.25  # a quarter into a second


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@pytest.fixture
def clock(aws: None, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(pacing, "clock", fake)
    monkeypatch.setattr(pacing, "rng", random.Random(7))
    return fake


def limit(clock: FakeClock, email: float | None = None, sms: float | None = None) -> None:
    """The local SES / SNS refuse beyond these rates a (fake) second, and SES reports `email` as its quota."""
    provider_limits.install(email, sms, clock=clock.time)


def signups(key: str, n: int, variant: int = 101, prefix: str = "p") -> list[str]:
    out = []
    for i in range(n):
        status, body = call(
            "POST",
            SIGNUPS,
            key,
            {"channel": "email", "shopify_variant_id": variant, "email": f"{prefix}{i}@example.com"},
        )
        assert status == 201, body
        out.append(body["id"])
    return out


def sent_at(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """(fake time, recipient) of every email SES accepted."""
    seen: list[tuple[float, str]] = []

    def after(http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if getattr(http_response, "status_code", 500) < 300:
            seen.append((clock.time(), context.get("to", "?")))

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        raw = params.get("Content", {}).get("Raw", {}).get("Data", b"")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        context["to"] = next((line[4:] for line in text.splitlines() if line.startswith("To: ")), "?")

    events = aws.client("sesv2").meta.events
    events.register("before-parameter-build.sesv2.SendEmail", before)
    events.register("after-call.sesv2.SendEmail", after)
    return seen


def delayed_messages() -> list[tuple[dict[str, Any], bool]]:
    """Every message on the send queue as moto holds it: (body, still delayed)."""
    import os

    from moto.backends import get_backend
    from moto.core import DEFAULT_ACCOUNT_ID

    name = os.environ["SEND_QUEUE_URL"].rsplit("/", 1)[1]
    queue = get_backend("sqs")[DEFAULT_ACCOUNT_ID]["us-east-1"].queues[name]
    return [(json.loads(m.body), m.delayed) for m in queue._messages]


# ------------------------------------------------------------------------------------------------ the budget
def test_a_second_is_shared_and_a_quarter_of_each_coming_one_is_left_to_other_shops(clock: FakeClock) -> None:
    limit(clock, email=8)
    pace = deps.pace()
    # The current second is open to all: shop A takes all of it in one call.
    first = pace.reserve("email", "A", 50)
    assert first is not None and (first.second, first.first, first.count) == (1_800_000_000, 0, 8)
    assert pace.calls == 1
    # The coming seconds: A takes at most 3/4 of each (6 of 8), asking for the block then for what is left.
    ahead = [pace.reserve("email", "A", 50), pace.reserve("email", "A", 50)]
    assert [(g.second, g.count) for g in ahead if g] == [(1_800_000_001, 6), (1_800_000_002, 6)]
    assert pace.reserve("email", "A", 50) is None  # the horizon (3 seconds) is full for A: defer
    calls = pace.calls
    assert pace.reserve("email", "A", 50) is None and pace.calls == calls  # known full this second: no call
    # Shop B still finds room in the next second, spread after A's tokens.
    other = pace.reserve("email", "B", 10)
    assert other is not None and (other.second, other.first, other.count) == (1_800_000_001, 6, 2)
    assert other.at(0) == 1_800_000_001 + 6 / 8
    # When the second comes, what is left of it is anybody's: A takes it.
    clock.now = 1_800_000_002.1
    late = pace.reserve("email", "A", 50)
    assert late is not None and (late.second, late.count) == (1_800_000_002, 2)


def test_the_budget_is_sharded_so_no_item_takes_more_than_its_share_of_writes() -> None:
    assert pacing.plan(14) == (1, 14)
    assert pacing.plan(1000) == (5, 200)  # 5 items a second, each at most 200 writes a second
    assert pacing.plan(0.5) == (1, 1)


def test_the_ses_rate_is_read_from_the_account_and_cached(clock: FakeClock) -> None:
    limit(clock, email=14)
    reads = Counter[str]()
    aws.client("ses").meta.events.register("before-call.ses.GetSendQuota", lambda **_: reads.update(["quota"]))
    rates = deps.pace().rates
    assert [rates.of("email") for _ in range(5)] == [14.0] * 5
    assert reads["quota"] == 1
    clock.now += pacing.RATE_TTL_SECONDS  # re-read from time to time
    limit(clock, email=50)
    assert rates.of("email") == 50.0 and reads["quota"] == 2
    assert (rates.of("sms"), rates.of("push")) == (20.0, 300.0)  # the stack's settings (infra_spec defaults)


def test_a_give_back_returns_unused_tokens_of_a_second_to_come(clock: FakeClock) -> None:
    store = PaceStore(deps.pace().store.table_name)
    assert store.take("email", 10, 0, "A", 5, 8, 8).taken == 5
    store.give_back("email", 10, 0, "A", 3)
    assert store.take("email", 10, 0, "A", 6, 8, 8).taken == 6  # 2 + 6 = 8
    store.give_back("email", 99, 0, "A", 3)  # never written: nothing to give back, no error


# ------------------------------------------------------------------------------------- through the worker
def test_a_restock_goes_out_at_the_rate_with_no_throttle(
    shop: Shop, catalog: dict[str, int], worker: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit(clock, email=5)
    key = shop.key
    call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": signups(key, 20)})
    seen = sent_at(clock, monkeypatch)
    [message] = worker.pending()
    outcomes = worker_module.handle_message(json.loads(message["Body"]))
    assert outcomes == {"sent": 20}
    per_second = Counter(int(t) for t, _ in seen)
    assert max(per_second.values()) <= 5 and sum(per_second.values()) == 20
    assert len(per_second) == 4  # N / R seconds
    assert provider_limits.refused() == 0
    assert deps.pace().calls <= 8  # blocks of tokens, not a call per send


def test_a_send_throttled_by_the_provider_is_deferred_not_failed(
    shop: Shop, catalog: dict[str, int], worker: Any, clock: FakeClock, outbox: Any
) -> None:
    """Without the pace (a provider quota lower than the pace believes), SES throttles the third send: the claim is
    released, the rest of the message is queued again with a delay, and the record succeeds (no receive counts
    towards the dead-letter queue)."""
    limit(clock, email=2)
    key = shop.key
    ids = signups(key, 6)
    call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": ids})
    sender = dataclasses.replace(deps.sender(), pace=None)
    [message] = worker.pending()
    body = json.loads(message["Body"])
    assert worker_module.handle_message(body, sender=sender) == {"sent": 2, "deferred_throttled": 4}
    [(rest, delayed)] = [(b, d) for b, d in delayed_messages() if b.get("deferrals")]
    assert delayed and rest["deferrals"] == 1 and rest["sends"] == body["sends"][2:]
    month = datetime.now(UTC).strftime("%Y-%m")
    assert deps.notifications().usage(shop.id, month) == 2  # the throttled send's claim was released
    clock.now += 1  # a second later the deferred message sends two more
    assert worker_module.handle_message(rest, sender=sender) == {"sent": 2, "deferred_throttled": 2}
    clock.now += 1  # a redelivery of the original message sends only what is still unsent: nothing twice
    assert worker_module.handle_message(body, sender=sender) == {"skipped": 4, "sent": 2}
    emails = [m.destinations["ToAddresses"] if hasattr(m, "destinations") else m for m in outbox.emails()]
    assert len(emails) == 6 and len({str(e) for e in emails}) == 6


def test_a_message_without_a_token_in_the_horizon_is_deferred(
    shop: Shop, catalog: dict[str, int], worker: Any, clock: FakeClock
) -> None:
    limit(clock, email=4)
    pace = deps.pace()
    for second in range(int(START), int(START) + pacing.HORIZON_SLOTS):  # other shops took every coming token
        pace.store.take("email", second, 0, "other-shop", 4, 4, 4)
    key = shop.key
    call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": signups(key, 3)})
    [message] = worker.pending()
    assert worker.run([message])["batchItemFailures"] == []
    [(rest, delayed)] = [(b, d) for b, d in delayed_messages() if b.get("deferrals")]
    assert delayed and len(rest["sends"]) == 3  # nothing claimed, nothing sent: all of it later
    first = rest["sends"][0]
    assert deps.notifications().claim(shop.id, first["signup_id"], first["send_id"]) is None


def test_a_small_shop_is_not_held_behind_a_big_restock(
    shop: Shop, catalog: dict[str, int], worker: Any, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker, one batch: the big shop's message first (it was queued first), the small shop's second. The big
    one holds the worker for at most MAX_HOLD_SECONDS of waiting, then goes back to the queue; the small shop's
    three alerts go before the big shop's 25th."""
    limit(clock, email=4)
    big = shop.key
    call("POST", f"{SIGNUPS}/bulk_notify", big, {"signup_ids": signups(big, 40, prefix="big")})
    small_shop = new_shop("small-shop.myshopify.com", plan="growth")
    deps.catalog().put_variant(small_shop.id, 101, 10, "Small / Blue", "Classic Tee", "classic-tee")
    small = small_shop.key
    call("POST", f"{SIGNUPS}/bulk_notify", small, {"signup_ids": signups(small, 3, prefix="small")})
    seen = sent_at(clock, monkeypatch)
    for _ in range(6):
        messages = worker.pending()
        if not messages:
            break
        assert worker.run(messages)["batchItemFailures"] == []
    order = [to.split("@")[0].rstrip("0123456789") for _, to in seen]
    assert Counter(order) == {"big": 40, "small": 3}
    last_small = max(i for i, who in enumerate(order) if who == "small")
    assert order[:last_small].count("big") < 25
    assert max(Counter(int(t) for t, _ in seen).values()) <= 4 and provider_limits.refused() == 0


def test_a_batch_runs_the_quietest_shop_first() -> None:
    def record(shop: str, n: int) -> dict[str, Any]:
        return {"messageId": f"{shop}{n}", "body": json.dumps({"kind": "send", "shop_id": shop, "sends": []})}

    records = [
        record("big", 1),
        record("big", 2),
        record("small", 1),
        record("big", 3),
        record("mid", 1),
        record("mid", 2),
    ]
    assert [r["messageId"] for r in worker_module.fair_order(records)] == [
        "small1",
        "mid1",
        "mid2",
        "big1",
        "big2",
        "big3",
    ]


def test_send_messages_are_grouped_by_shop(shop: Shop, catalog: dict[str, int], worker: Any) -> None:
    """SQS fair queues: the shop is each message's group on the standard queue."""
    key = shop.key
    call("POST", f"{SIGNUPS}/bulk_notify", key, {"signup_ids": signups(key, 2)})
    [message] = worker.sqs.receive_message(
        QueueUrl=worker.url, MessageSystemAttributeNames=["All"], MaxNumberOfMessages=10
    )["Messages"]
    assert message["Attributes"]["MessageGroupId"] == shop.id


# ---------------------------------------------------------------------------------------------- refusals
def _refuse(service: str, code: str, message: str, calls: Counter[str]) -> None:
    from botocore.exceptions import ClientError

    operation = "SendEmail" if service == "sesv2" else "Publish"

    def before(**_: Any) -> None:
        calls[code] += 1
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    aws.client(service).meta.events.register(f"before-call.{service}.{operation}", before)


@pytest.mark.parametrize(
    ("channel", "service", "code", "message", "reason"),
    [
        ("email", "sesv2", "MessageRejected", "Email address is not verified.", "rejected"),
        ("email", "sesv2", "MessageRejected", "Address is on the account's suppression list", "suppressed"),
        ("email", "sesv2", "BadRequestException", "Illegal address", "email_invalid"),
        (
            "sms",
            "sns",
            "InvalidParameter",
            "Invalid parameter: PhoneNumber Reason: not valid to publish",
            "sms_invalid",
        ),
        ("sms", "sns", "InvalidParameter", "Phone number is opted out", "sms_opted_out"),
        ("push", "sns", "EndpointDisabled", "Endpoint is disabled", "push_disabled"),
    ],
)
def test_a_permanent_refusal_is_logged_blocked_and_never_retried(
    shop: Shop,
    catalog: dict[str, int],
    worker: Any,
    channel: str,
    service: str,
    code: str,
    message: str,
    reason: str,
) -> None:
    from backinstock_tools import cli

    key = shop.key
    if channel == "sms":
        call("PATCH", "/back_in_stock/settings/channels", key, {"sms": {"enabled": True}})
        assert cli.main(["shops", "sms-verification", "--shop-id", shop.id, "--status", "verified"]) == 0
        body = {"channel": "sms", "shopify_variant_id": 101, "phone": "+15550001111"}
    else:
        body = {"channel": "email", "shopify_variant_id": 101, "email": "refused@example.com"}
    status, created = call("POST", SIGNUPS, key, body)
    assert status == 201, created
    if channel == "push":
        call("PATCH", "/back_in_stock/settings/channels", key, {"push": {"enabled": True}})
        make_push(shop.id, created["id"])
    calls: Counter[str] = Counter()
    _refuse(service, code, message, calls)
    assert call("POST", f"{SIGNUPS}/{created['id']}/notify", key, None)[0] == 202
    assert worker.run()["batchItemFailures"] == []  # an outcome, not a failure
    worker.drain()
    assert calls[code] == 1  # never retried
    _, rows = call("GET", "/back_in_stock/notifications", key)
    [row] = rows["notifications"]
    assert (row["status"], row["blocked_reason"]) == ("blocked", REFUSED[reason])
    assert call("GET", f"{SIGNUPS}/{created['id']}", key)[1]["status"] == "blocked"  # the reference's status
    month = row["sent_at"][:7]
    assert deps.notifications().usage(shop.id, month) == 0  # a refused send uses no quota


def test_a_throttled_optin_confirmation_is_deferred_and_sent_once(
    shop: Shop, catalog: dict[str, int], worker: Any, outbox: Any, stream: Any, clock: FakeClock
) -> None:
    """The confirmation is claimed (`optin_requested_at`) before the provider call: a throttle gives the claim back
    and defers the message, so the confirmation is not lost, and goes out once."""
    from botocore.exceptions import ClientError

    call("PATCH", "/back_in_stock/settings/compliance", shop.key, {"optin_required": True})
    call("POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": "o@example.com"})
    stream.drain()
    throttles = Counter[str]()

    def throttle_once(**_: Any) -> None:
        if not throttles["SendEmail"]:
            throttles["SendEmail"] += 1
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}}, "SendEmail"
            )

    aws.client("ses").meta.events.register("before-call.ses.SendEmail", throttle_once)
    [message] = worker.pending()
    assert worker.run([message])["batchItemFailures"] == []  # deferred, not failed
    assert outbox.emails() == []
    [(later, delayed)] = [(b, d) for b, d in delayed_messages() if b.get("kind") == "optin"]
    assert delayed and later["deferrals"] == 1
    assert worker_module.handle_message(later) == {"sent": 1}
    assert worker_module.handle_message(later) == {"skipped": 1}  # a redelivery: still once
    assert len(outbox.emails()) == 1 and throttles["SendEmail"] == 1
