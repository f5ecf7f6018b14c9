"""`python bench/preorders.py`: the figures of the preorder reports (docs/PERFORMANCE.md, "Preorder reports").

1. Items read per preorder report request at 1x, 10x and 100x the orders (100, 1,000 and 10,000 orders over 90 days,
   one shop each). Each shop's first 100 orders are written by the seed's real ledger paths (`seed_preorders`: two
   offers, orders on their variants, deposits, balances collected and failed, cancellations with reasons, refunds;
   about half as many customers as orders); the 10x and 100x shops then get copies of those ledger items and
   customer profiles under new order ids and new customers (a seed of 10,000 orders through moto takes a quarter of
   an hour). The rollups are computed from the stored ledger items by the aggregator's own rules (`order_change`,
   `customer_row_change`), summed per rollup item and written to moto: the transactional, once-only apply is tested
   elsewhere, and moto's transactions copy the whole table. Each report read of the `preorder_reports` family is
   then requested as its declared sample through its handler over the 90-day window, and the items DynamoDB returns
   are counted (Query `Count`, GetItem, BatchGetItem). No Scan.
2. Export rows/s of the largest preorder export (`customers`, one row per distinct customer of the window) at the
   largest scale: the family's own rows function reading moto, into the export writer (`csvfile.MultipartCsv`),
   parts dropped (S3's time is not the writer's). Moto answers the reads: the figure is a floor, not AWS's.

Results: stdout (markdown) and bench/results/preorders.json. BENCH_PREORDERS=1,10 runs fewer scales.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASE = 100  # orders written through the ledger's real paths per shop
SCALES = [int(n) for n in os.environ.get("BENCH_PREORDERS", "1,10,100").split(",")]  # x BASE orders
NOW = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 90
MODEL_CALL_SECONDS = 0.010  # a DynamoDB Query page or BatchGetItem from Lambda in the same region, stated
WINDOW = {"from": "2026-06-03", "to": "2026-08-31"}  # the 90 days of the history


def the_drop(shop_id: str) -> str:
    """The seed's first offer (two variants), by name: both offers are created at the same instant."""
    from backinstock import deps

    repo = deps.offers().offers
    found = repo.offers(shop_id, repo.list_ids(shop_id, NOW))
    return next(i for i, offer in found.items() if str(offer["name"]).startswith("Merino"))


def read_costs() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from moto import mock_aws

    from backinstock import deps, registry
    from backinstock_tools.local import backend, stepfunctions
    from backinstock_tools.local.seed import seed_preorders

    env = backend.local_environment("http://unused")
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    deps.reset()
    rows: list[dict[str, Any]] = []
    export: dict[str, Any] = {}
    moto = mock_aws(config=stepfunctions.MOTO_CONFIG)  # type: ignore[call-overload]
    with moto, contextlib.redirect_stdout(io.StringIO()):
        os.environ.update(backend.create_resources())
        deps.reset()
        from backinstock_tools.testkit import new_shop
        from backinstock_tools.testkit.history import measure, replicate, write_rollups
        from backinstock_tools.testkit.samples import sample_request

        reads = [a for a in registry.actions() if a.report and a.method == "GET" and a.resource == "preorder_reports"]
        for scale in SCALES:
            shop = new_shop(f"bench-preorders-{scale}x.myshopify.com", plan="growth")
            t0 = time.perf_counter()
            counts = seed_preorders(shop.id, BASE, DAYS, random.Random(7), NOW)
            replicate(shop.id, scale - 1)
            rollup_items = write_rollups(shop.id)
            built = time.perf_counter() - t0
            offer_id = the_drop(shop.id)
            orders = BASE * scale
            values = {**WINDOW, "api_key": shop.key, "offer_id": offer_id}
            for action in reads:
                path = sample_request(action, values)[0]
                found, body = measure(shop.key, path)
                rows.append(
                    {
                        "orders": orders,
                        "report": action.report,
                        "path": path,
                        "items": found.items,
                        "customer_rows": found.customer_rows,
                        "calls": found.calls,
                        "kib": round(found.bytes / 1024, 1),
                    }
                )
            _, body = measure(shop.key, f"/preorders/reports/customers?from={WINDOW['from']}&to={WINDOW['to']}")
            customers = int(body["meta"]["total_count"])
            print(f"{scale}x: {counts} x {scale}, built in {built:.0f} s, {rollup_items} rollup items", file=sys.stderr)
            rows.append({"orders": orders, "report": "(history)", "customers": customers, "rollup_items": rollup_items})
            if scale == max(SCALES):
                export = export_rate(shop.id)
    return rows, export


def export_rate(shop_id: str) -> dict[str, Any]:
    """The customers export's rows through the writer, best of 3; the seconds inside DynamoDB calls (moto's, which
    sorts a whole partition per Query) are counted apart from ours, with the calls made."""
    from backinstock import deps
    from backinstock.csvfile import MultipartCsv
    from backinstock.models import preorder_reports as m
    from backinstock.models.reporting import csv_rows
    from backinstock.services import preorder_reports
    from backinstock_tools.testkit.history import DynamoReads
    from bench.reports import DropParts

    query = m.CustomersExport.model_validate(WINDOW)
    runs = []
    for _ in range(3):
        client = DropParts()
        writer = MultipartCsv("b", "k", file_name="f.csv", client=client)
        count = 0
        with DynamoReads() as reads:
            t0 = time.perf_counter()
            for row in csv_rows(preorder_reports.customers_export(deps.preorder_reports(), shop_id, query, NOW)):
                writer.write_row(row)
                count += 1
            writer.complete()
            total = time.perf_counter() - t0
        runs.append((total - reads.seconds, total, reads.calls, reads.items, count))
    ours, total, calls, items, count = min(runs)
    return {
        "report": "customers",
        "rows": count,
        "dynamodb_calls": calls,
        "items_read": items,
        "seconds_total_moto": round(total, 3),
        "seconds_ours": round(ours, 3),
        "rows_per_second_ours": round(count / ours),
        "modelled_seconds_aws": round(ours + calls * MODEL_CALL_SECONDS, 3),
        "modelled_rows_per_second_aws": round(count / (ours + calls * MODEL_CALL_SECONDS)),
    }


def main() -> None:
    costs, export = read_costs()
    print("### Items read per preorder report request (90-day window): items / DynamoDB calls / KiB returned\n")
    scales = sorted({row["orders"] for row in costs})
    print("| report | " + " | ".join(f"{n:,} orders" for n in scales) + " |")
    print("| --- |" + " ---: |" * len(scales))
    by_report: dict[str, dict[int, Any]] = defaultdict(dict)
    for row in costs:
        by_report[row["report"]][row["orders"]] = row
    for report, at in by_report.items():
        if report == "(history)":
            continue
        cells = [f"{at[n]['items']} / {at[n]['calls']} / {at[n]['kib']}" for n in scales]
        print(f"| `{report}` | " + " | ".join(cells) + " |")
    history = by_report["(history)"]
    print("| (distinct customers in the window) | " + " | ".join(f"{history[n]['customers']:,}" for n in scales) + " |")
    print("| (rollup items written) | " + " | ".join(f"{history[n]['rollup_items']:,}" for n in scales) + " |")
    if export:
        e = export
        print(
            f"\n### Export `customers` at {max(scales):,} orders: {e['rows']:,} rows, {e['dynamodb_calls']} DynamoDB "
            f"calls, {e['items_read']:,} items read; our code {e['rows_per_second_ours']:,} rows/s "
            f"({e['seconds_ours']} s); modelled on AWS at {MODEL_CALL_SECONDS * 1000:.0f} ms a call: "
            f"{e['modelled_rows_per_second_aws']:,} rows/s; moto itself took {e['seconds_total_moto']} s"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "preorders.json").write_text(json.dumps({"read_costs": costs, "export": export}, indent=2) + "\n")


if __name__ == "__main__":
    main()
