"""`python bench/reports.py`: the figures of the reports and exports (docs/PERFORMANCE.md, "Reports and exports").

1. Items read per report request against the buckets of the window, with 1x, 10x and 100x the raw rows (a 90-day
   history with 1, 10 and 100 signups a day, each notified, one in three attributed): the rollup changes are computed
   by the aggregator's own rules (`change_of`), summed per rollup item and written to moto; each report is then
   requested through its handler and the items DynamoDB returns are counted (Query `Count`, GetItem, BatchGetItem).
   Raw rows are not stored: the reads never touch them (the no-Scan and read-cost tests check it).
2. Export throughput: the export writer (`csvfile.MultipartCsv`: formula neutralising, 8 MiB parts, UTF-8) against
   plain `csv.writer` into a StringIO encoded to UTF-8, on the same waitlist-shaped rows (21 columns); parts go to a
   client that drops them (S3 time excluded on both sides). Best of 3.
3. Peak memory of a 1,000,000-row export through the writer (tracemalloc, rows generated lazily as the Query pages
   would hand them over).

Results: stdout (markdown) and bench/results/reports.json.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXPORT_ROWS = int(os.environ.get("BENCH_EXPORT_ROWS", "200000"))
MEMORY_ROWS = int(os.environ.get("BENCH_MEMORY_ROWS", "1000000"))
R = "/back_in_stock/reports"
WINDOW = "from=2026-03-01&to=2026-05-29"  # 90 days: 90 days, 13 ISO weeks (partial edges), 3 months
REQUESTS = {
    # path -> buckets the answer has (series points, or the cover's items for a total)
    f"{R}/signups?{WINDOW}": 90,
    f"{R}/notifications?{WINDOW}&granularity=week": 14,
    f"{R}/conversions?{WINDOW}&granularity=month": 3,
    f"{R}/summary?{WINDOW}": 3,
    f"{R}/products_in_demand?{WINDOW}": 90,
}


def read_costs() -> list[dict[str, Any]]:
    from moto import mock_aws

    from backinstock import deps
    from backinstock_tools.local import backend, stepfunctions

    env = backend.local_environment("http://unused")
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    deps.reset()
    rows = []
    moto = mock_aws(config=stepfunctions.MOTO_CONFIG)  # type: ignore[call-overload]
    with moto, contextlib.redirect_stdout(io.StringIO()):
        os.environ.update(backend.create_resources())
        deps.reset()
        from backinstock_tools.testkit import new_shop
        from backinstock_tools.testkit.history import items_read, write_history

        shop = new_shop("bench-reports.myshopify.com", plan="growth")
        catalog = deps.catalog()
        for variant in (101, 102, 103):
            catalog.put_variant(shop.id, variant, 10, f"Variant {variant}", "Bench Tee")
        written = 0
        for scale in (1, 10, 100):
            write_history(shop.id, scale - written, scale * 100_000)
            written = scale
            for path, buckets in REQUESTS.items():
                items, _ = items_read(shop.key, path)
                rows.append({"scale": scale, "path": path, "buckets": buckets, "items": items})
    return rows


def waitlist_row(n: int) -> list[Any]:
    at = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return [
        f"0190{n:032x}"[:36],
        "pending" if n % 3 else "notified",
        "email" if n % 5 else "sms",
        f"shopper{n}@example.com" if n % 5 else f"+1555{n % 10_000_000:07d}",
        1,
        40000 + n % 50,
        9000 + n % 7,
        "Small / Blue",
        "Classic Tee",
        f"cust-{n}",
        f"Shopper {n}",
        f"shopper{n}@example.com",
        None,
        "false",
        None,
        n % 2,
        at if n % 3 == 0 else None,
        at if n % 3 == 0 else None,
        None,
        None,
        at,
    ]


class DropParts:
    """An S3 client that accepts every part and keeps nothing (S3's own time is not the writer's)."""

    def __init__(self) -> None:
        self.bytes = 0

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "bench"}

    def upload_part(self, Body: bytes, PartNumber: int, **_: Any) -> dict[str, Any]:
        self.bytes += len(Body)
        return {"ETag": str(PartNumber)}

    def complete_multipart_upload(self, **_: Any) -> None:
        return None


def export_throughput(rows: list[list[Any]]) -> dict[str, float]:
    from backinstock.csvfile import MultipartCsv

    def plain() -> int:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows(rows)
        return len(buffer.getvalue().encode("utf-8"))

    def ours() -> int:
        client = DropParts()
        writer = MultipartCsv("b", "k", file_name="f.csv", client=client)
        for row in rows:
            writer.write_row(row)
        writer.complete()
        return client.bytes

    best: dict[str, float] = {}
    for name, run in (("csv.writer", plain), ("MultipartCsv", ours)):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            size = run()
            times.append(time.perf_counter() - t0)
        best[name] = len(rows) / min(times)
        best[f"{name} MiB"] = size / 2**20
    return best


def export_memory(count: int) -> dict[str, float]:
    from backinstock.csvfile import PART_SIZE, MultipartCsv

    client = DropParts()
    tracemalloc.start()
    writer = MultipartCsv("b", "k", file_name="f.csv", client=client)
    for n in range(count):
        writer.write_row(waitlist_row(n))
    writer.complete()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"rows": count, "file_mib": client.bytes / 2**20, "peak_mib": peak / 2**20, "part_mib": PART_SIZE / 2**20}


def main() -> None:
    costs = read_costs()
    print("### Items read per report request (90-day window)\n")
    print("| request | buckets | items read at 1x | 10x | 100x |")
    print("| --- | ---: | ---: | ---: | ---: |")
    by_path: dict[str, dict[int, int]] = {}
    buckets: dict[str, int] = {}
    for row in costs:
        by_path.setdefault(row["path"], {})[row["scale"]] = row["items"]
        buckets[row["path"]] = row["buckets"]
    for path, scales in by_path.items():
        short = path.replace("/back_in_stock/reports/", "").replace("from=2026-03-01&to=2026-05-29", "90 days")
        print(f"| `{short}` | {buckets[path]} | {scales[1]} | {scales[10]} | {scales[100]} |")
    rows = [waitlist_row(n) for n in range(EXPORT_ROWS)]
    speed = export_throughput(rows)
    del rows
    print(f"\n### Export throughput ({EXPORT_ROWS:,} waitlist rows, 21 columns, best of 3)\n")
    print("| writer | rows/s | MiB |")
    print("| --- | ---: | ---: |")
    for name in ("csv.writer", "MultipartCsv"):
        print(f"| {name} | {speed[name]:,.0f} | {speed[name + ' MiB']:.1f} |")
    print(f"\nratio: {speed['MultipartCsv'] / speed['csv.writer']:.2f} of plain csv.writer")
    memory = export_memory(MEMORY_ROWS)
    print(
        f"\n### Peak memory, {memory['rows']:,}-row export: {memory['peak_mib']:.1f} MiB traced "
        f"(file {memory['file_mib']:.0f} MiB, part size {memory['part_mib']:.0f} MiB)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "reports.json").write_text(
        json.dumps({"read_costs": costs, "throughput": speed, "memory": memory}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
