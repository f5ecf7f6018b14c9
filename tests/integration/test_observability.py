"""Business metrics where their events happen (backinstock.observability), read back from the EMF documents the
entry points print (Powertools' advice: capture stdout), and no contact in a metric or a log line."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from backinstock import observability
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
SIGNUPS = "/back_in_stock/signups"
EMAIL, PHONE = "jane@example.com", "+15550001111"


def emf_documents(out: str) -> list[dict[str, Any]]:
    documents = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            if "CloudWatchMetrics" in document["_aws"]:
                documents.append(document)
    return documents


def metric_counts(documents: list[dict[str, Any]]) -> Counter[str]:
    """Metric name -> the sum of its values over the documents."""
    counts: Counter[str] = Counter()
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == observability.NAMESPACE
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                counts[metric["Name"]] += sum(value) if isinstance(value, list) else value
    return counts


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Every line the service's loggers write (root and child), formatted as in Lambda, down to DEBUG (the batch
    processor's lines about each record too)."""
    stream = io.StringIO()
    service = logging.getLogger(observability.SERVICE)
    level = service.level
    service.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(stream)
    formatter = next((h.formatter for h in service.handlers if h.formatter is not None), None)
    if formatter is not None:
        handler.setFormatter(formatter)
    service.addHandler(handler)
    try:
        yield stream
    finally:
        service.removeHandler(handler)
        service.setLevel(level)


def test_the_send_worker_counts_alerts_sent_and_blocked_by_channel_with_no_contact(
    shop: Shop,
    catalog: dict[str, int],
    worker: Any,
    outbox: Any,
    capsys: pytest.CaptureFixture[str],
    log_text: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backinstock import deps

    key = shop.key
    call("PATCH", "/back_in_stock/settings/channels", key, {"sms": {"enabled": True}})  # SMS unverified: blocked
    _, email = call("POST", SIGNUPS, key, {"channel": "email", "shopify_variant_id": 101, "email": EMAIL})
    _, sms = call("POST", SIGNUPS, key, {"channel": "sms", "shopify_variant_id": 201, "phone": PHONE})
    for signup in (email, sms):
        assert call("POST", f"{SIGNUPS}/{signup['id']}/notify", key, None)[0] == 202
    # The provider's first answer quotes the recipient, as providers' error messages do: the worker logs the
    # failure (its code, never its text) and the message comes back.
    sender = deps.sender()
    real_send, failures = sender.providers.email.send, {"left": 1}

    def flaky(email: Any) -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError(f"address {EMAIL} is unreachable")
        return real_send(email)

    monkeypatch.setattr(sender.providers.email, "send", flaky)
    capsys.readouterr()  # what the API printed: only the worker's output from here
    worker.drain()
    out = capsys.readouterr().out
    assert len(outbox.emails()) == 1 and outbox.sms() == []

    documents = emf_documents(out)
    counts = metric_counts(documents)
    assert counts["AlertsSent_email"] == 1
    assert counts["AlertsBlocked_sms"] == 1
    assert {name for name in counts if name.startswith(("AlertsSent", "AlertsBlocked"))} == {
        "AlertsSent_email",
        "AlertsBlocked_sms",
    }
    assert set(counts) <= {*observability.BUSINESS_METRICS, "Records"} | {n for n in counts if n.startswith("Sends_")}
    for document in documents:  # one dimension, the service: no contact, no shop id
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Dimensions"] == [["service"]]
        assert document["service"] == observability.SERVICE
    logged = log_text.getvalue()
    [failed] = [json.loads(line) for line in logged.splitlines() if "send failed" in line]
    assert failed["error"] == "ConnectionError" and failed["correlation_id"]  # the record's message id
    for text in (out, logged):
        assert EMAIL not in text and PHONE not in text and PHONE.lstrip("+") not in text


def test_an_unknown_channel_is_never_a_metric_name() -> None:
    assert observability.per_channel(observability.ALERTS_SENT, "jane@example.com") == "AlertsSent_other"
    assert observability.per_channel(observability.ALERTS_BLOCKED, "sms") == "AlertsBlocked_sms"
    assert observability.per_trigger(observability.RESTOCKS_STARTED, None) == "RestocksStarted_other"


def test_the_rollup_lag_is_the_age_of_the_oldest_record() -> None:
    from backinstock.workers.rollups import lag_seconds

    records = [{"dynamodb": {"ApproximateCreationDateTime": t}} for t in (1_000.0, 990.0, 1_005.0)]
    assert lag_seconds(records, 1_010.0) == 20.0
    assert lag_seconds([{"dynamodb": {}}], 1_010.0) is None
    assert lag_seconds(records, 900.0) == 0.0  # a clock behind the stream's is no negative lag
    # boto3 (the local run's poller) reads the field as a datetime
    local = [{"dynamodb": {"ApproximateCreationDateTime": datetime.fromtimestamp(990.0, tz=UTC)}}]
    assert lag_seconds(local, 1_010.0) == 20.0
    assert lag_seconds([{"dynamodb": {"ApproximateCreationDateTime": "soon"}}], 1_010.0) is None


def test_the_aggregator_reports_its_lag(
    shop: Shop, catalog: dict[str, int], stream: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    call("POST", SIGNUPS, shop.key, {"channel": "email", "shopify_variant_id": 101, "email": EMAIL})
    capsys.readouterr()
    assert stream.drain()
    out = capsys.readouterr().out
    lags = [d[observability.ROLLUP_LAG] for d in emf_documents(out) if observability.ROLLUP_LAG in d]
    values = [v for lag in lags for v in (lag if isinstance(lag, list) else [lag])]
    assert values and all(0 <= v < 3600 for v in values)
    assert EMAIL not in out


def test_a_campaign_counts_as_a_started_restock_at_its_first_step_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from backinstock.dispatch import LambdaContext
    from backinstock.services import campaigns
    from backinstock.workers import campaign

    monkeypatch.setattr(campaigns, "step", lambda _c, state: {**state, "batches": 1, "done": False})
    monkeypatch.setattr(campaign.deps, "campaigns", lambda: None)
    first = {"campaign_id": "c1", "shop_id": "s1", "trigger": "manual", "cursor": None, "in_batch": False, "batches": 0}
    capsys.readouterr()
    campaign.handler({"phase": "batch", "campaign": first}, LambdaContext("campaign_step"))
    campaign.handler({"phase": "batch", "campaign": {**first, "batches": 1}}, LambdaContext("campaign_step"))
    counts = metric_counts(emf_documents(capsys.readouterr().out))
    assert counts == {"RestocksStarted_manual": 1}  # one flush, by the first step; nothing by the second


def test_a_finished_export_is_counted(
    shop: Shop, catalog: dict[str, int], stream: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from backinstock_tools.testkit.gateway import wait_for_export

    key = shop.key
    stream.drain()
    capsys.readouterr()
    body = {"from": "2026-03-01", "to": "2026-03-31", "granularity": "week"}
    status, accepted = call("POST", "/back_in_stock/reports/signups/export", key, body)
    assert status == 202, accepted
    assert wait_for_export(key, accepted["job_id"])["status"] == "ready"
    counts = metric_counts(emf_documents(capsys.readouterr().out))
    assert counts[observability.EXPORTS_FINISHED] == 1 and counts[observability.EXPORTS_FAILED] == 0
