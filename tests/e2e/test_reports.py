"""Reports and exports over HTTP against `backinstock serve`: the seed CLI writes a history, the local stream poller
aggregates it, the reports show it, an export runs on moto's Step Functions and its download URL serves the CSV."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import cli, eventually, fetch, http

pytestmark = pytest.mark.e2e
R = "/back_in_stock/reports"


def test_seeded_history_reaches_the_reports_and_an_export_downloads(server: dict[str, Any]) -> None:
    created = cli(server, "shops", "create", "--domain", "e2e-reports.myshopify.com", "--plan", "growth")
    assert created.returncode == 0, created.stderr
    shop = json.loads(created.stdout)
    key = shop["api_key"]
    seeded = cli(server, "seed", "--shop-id", shop["shop_id"], "--signups", "8", "--days", "10", "--preorders", "0")
    assert seeded.returncode == 0, seeded.stderr
    counts = json.loads(seeded.stdout)
    expected = counts["signups"]

    def summary() -> dict[str, Any] | None:
        status, body, _ = http(server, "GET", f"{R}/summary", api_key=key)
        assert status == 200, body
        totals = body["totals"]
        return body if (totals["signups"], totals["notified"]) == (expected, counts["sent"]) else None

    eventually(summary, "the stream poller to aggregate the seeded signups and sends", timeout=60)

    status, accepted, _ = http(server, "POST", f"{R}/signups/export", {"granularity": "week"}, api_key=key)
    assert status == 202, accepted

    def ready() -> dict[str, Any] | None:
        _, job, _ = http(server, "GET", accepted["status_url"].removeprefix("/api/v2/external"), api_key=key)
        return job if job["status"] != "running" else None

    job = eventually(ready, "the export to finish", timeout=60)
    assert job["status"] == "ready", job
    code, text, _ = fetch(job["download_url"])
    assert code == 200
    lines = text.splitlines()
    assert lines[0] == "date,signups,pending,blocked,notified"
    assert len(lines) == 1 + job["row_count"]
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == expected
