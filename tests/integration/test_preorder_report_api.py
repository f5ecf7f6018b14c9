"""The preorder reports over HTTP (reference 001): the manifest and its /help, every read through its route, a
422 that names the rule, and an export from job to CSV through the download link (valid 7 days, redirecting to
the file), for the history that `test_preorder_reports.history` feeds through signed webhooks."""

from __future__ import annotations

import csv
import io
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from backinstock import aws
from backinstock_tools.testkit.gateway import call

pytestmark = pytest.mark.integration
P = "/preorders/reports"
WINDOW = "from=2026-06-01&to=2026-08-31"
NAMES = [
    "summary",
    "revenue",
    "by_offer",
    "by_variant",
    "by_product",
    "by_date",
    "cancellations",
    "balance_collection",
    "customers",
]


def test_the_manifest_lists_the_nine_reports_and_help_has_their_schemas(history: dict[str, Any]) -> None:
    key = history["api_key"]
    status, manifest = call("GET", P, key)
    assert status == 200
    assert [r["name"] for r in manifest["reports"]] == NAMES
    assert manifest["reports"][1]["url"] == "/api/v2/external/preorders/reports/revenue"
    status, helped = call("GET", f"{P}/help", key)
    assert status == 200
    schemas = {a["name"]: a["request_schema"] for a in helped["actions"]}
    assert "include_deposits" in schemas["preorder_revenue_report"]["properties"]
    assert "offer_ids[]" in schemas["preorder_by_variant_report"]["properties"]


def test_every_read_answers_over_http(history: dict[str, Any]) -> None:
    key, offer = history["api_key"], history["a"]
    for name in NAMES:
        extra = f"&offer_id={offer}" if name == "by_variant" else ""
        status, body = call("GET", f"{P}/{name}?{WINDOW}{extra}", key)
        assert status == 200, (name, body)
        assert body["window"] == {"from": "2026-06-01", "to": "2026-08-31"}
    _, summary = call("GET", f"{P}/summary?{WINDOW}&offer_ids[]={history['a']}&offer_ids[]={history['b']}", key)
    assert summary["totals"]["revenue"] == "120.00"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("by_variant", "by_variant requires offer_id"),
        ("revenue?include_deposits=false&include_balances=false", "cannot both be false"),
        ("by_date?metrics=orders,profit", "unknown metric profit"),
        ("summary?currency=euro", "3-letter ISO 4217"),
        ("summary?from=2026-06-01&to=2028-01-01", "at most 366 buckets"),
    ],
)
def test_bad_input_is_a_422_that_names_the_rule(history: dict[str, Any], path: str, words: str) -> None:
    status, body = call("GET", f"{P}/{path}", history["api_key"])
    assert status == 422 and words in " ".join(body["errors"]), body


def test_an_export_runs_to_a_csv_behind_a_seven_day_download_link(history: dict[str, Any]) -> None:
    key = history["api_key"]
    status, accepted = call(
        "POST", f"{P}/revenue/export", key, {"from": "2026-06-01", "to": "2026-08-31", "granularity": "month"}
    )
    assert status == 202, accepted
    assert accepted["status_url"] == f"/api/v2/external{P}/exports/{accepted['job_id']}"
    deadline = time.monotonic() + 30
    while True:
        status, job = call("GET", f"{P}/exports/{accepted['job_id']}", key)
        if job["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert job["status"] == "ready", job
    assert job["file_name"] == "preorders_revenue_2026-06-01_2026-08-31.csv"
    assert job["row_count"] == 3  # three months
    link = urlsplit(job["download_url"])
    assert link.path.endswith(f"{P}/exports/{accepted['job_id']}/download")
    # No API key: the token is the credential; the link redirects to the file
    status, _ = call("GET", f"{link.path.removeprefix('/api/v2/external')}?{link.query}")
    assert status == 302
    from backinstock import deps

    stored = deps.exports().jobs.get(history["shop_id"], accepted["job_id"])
    body = aws.client("s3").get_object(Bucket=_bucket(), Key=stored["object_key"])["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == [
        "date",
        "revenue",
        "currency",
        "exchange_rate",
        "from",
        "to",
        "include_deposits",
        "include_balances",
    ]
    # the slice it is (issue 24): window, currency (and its rate: none, the shop's money) and the portions
    assert rows[1] == ["2026-06-01", "120.00", "USD", "", "2026-06-01", "2026-08-31", "true", "true"]


def _bucket() -> str:
    import os

    return os.environ["EXPORT_BUCKET_NAME"]
