"""Reports that verify and rebuild themselves: `backinstock reports verify|rebuild` (docs/DEPLOY.md, runbook).

Expected counters come from the base records with the aggregator's own rules: each signup, notification, attribution
and preorder ledger order counts `change_of(None, item)` (services/rollups.py), which is what the stream adds up over
the item's history, because every change adds `counters(new) - counters(old)` (a sum that telescopes to the final
state's counters). On top of that, the aggregator's two other rules:
- once-groups (`orders` once per order, `converted` once per signup) count for the first record that claims them,
  in the order the records are read (an order's lines by sort key, the order Shopify lists them and the worker
  writes them);
- max-updates (`l_<variant>`, the latest request time of products_in_demand; `r_<variant>`, its product) never go
  down: a deleted or transferred signup leaves its time. A stored `l_` at or above the expected one is consistent;
  one below it (or missing) is a difference.
- distinct customers (`customers` of `po...` slots) are the customer rows (`pcu...`) that exist: one per customer,
  dimension and bucket, which the ledger orders' counters create (`preorder_rollups.customer_row_change`).

The comparison is on the logical counter map, (dimension, bucket) -> counter -> value, that
`RollupRepository.counter_map` reads: how the counters are laid out in items is the repository's business (issue 12
may spread a slot over several items; verify then proves the new layout kept every number).

Rebuild is paged (a page of base records at a time, read across a kind's partitions by `source_page`: the signups'
and log rows' 16 each; the position and the partial sums saved after each page,
so a killed rebuild resumes where it stopped), and safe while traffic continues: the stream keeps applying deltas
while it runs, so a difference seen once may be a record in flight, not a lost one. A difference is corrected only
when it is *stable*: seen with the same stored and expected values in two consecutive passes separated by a settle
interval longer than the stream's lag (IteratorAge), and then by a conditional write that sets the counter from the
stored value it saw to the expected one, failing if the stream moved it meanwhile. A counter that keeps moving is
left for another pass; the rebuild exits clean only when a final pass finds no difference. Running it again finds
none and writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from backinstock import buckets
from backinstock.models.rollups import CUSTOMER_ROW_ENTITY, CUSTOMER_ROWS, PREORDERS, entity_of
from backinstock.repositories.rollups import RollupRepository, row_key
from backinstock.repositories.rollups.audit import SOURCES
from backinstock.services.preorder_rollups import customer_row_change
from backinstock.services.rollups import TOTAL, change_of

# The base records the rollups are a function of, read in this order (`repositories.rollups.audit.SOURCES`).
PREFIXES = tuple(SOURCES.values())
ROW = "(row)"  # the pseudo-counter of a customer row that exists and should not
LATEST = ("l_", "r_")  # max-updates (`Change.latest`)

Slot = tuple[str, str]
CounterMap = dict[Slot, dict[str, Decimal]]
Progress = Callable[[str], None]


@dataclass
class Expected:
    """The counters the base records make, accumulated record by record (and serializable, to resume)."""

    shop_id: str
    plain: dict[Slot, dict[str, Decimal]] = field(default_factory=dict)
    latest: dict[Slot, dict[str, int]] = field(default_factory=dict)
    once: set[str] = field(default_factory=set)
    records: int = 0

    def add(self, item: dict[str, Any]) -> None:
        self.records += 1
        change = change_of(None, item)
        if change is None:
            return
        groups = [change.plain]
        for once_key, deltas in change.once.items():
            if once_key not in self.once:
                self.once.add(once_key)
                groups.append(deltas)
        for group in groups:
            for slot, counters in group.items():
                target = self.plain.setdefault(slot, defaultdict(Decimal))
                for name, value in counters.items():
                    target[name] += value
        for slot, values in change.latest.items():
            latest = self.latest.setdefault(slot, {})
            for name, number in values.items():
                latest[name] = max(latest.get(name, number), number) if name.startswith("l_") else number

    def counters(self) -> CounterMap:
        """The final map: zero counters left out, the max-updates' values, and `customers` from the customer rows,
        by the aggregator's rule for a row's creation."""
        out: CounterMap = {}
        rows: list[Slot] = []
        for slot, values in self.latest.items():
            out[slot] = {name: Decimal(value) for name, value in values.items()}
        for slot, counters in self.plain.items():
            nonzero = {k: v for k, v in counters.items() if v}
            if nonzero:
                out[slot] = {**out.get(slot, {}), **nonzero}
                if entity_of(slot[0]) == CUSTOMER_ROW_ENTITY:
                    rows.append(slot)
        for dimension, bucket in rows:
            image = {**row_key(self.shop_id, dimension, bucket), "entity": CUSTOMER_ROW_ENTITY}
            change = customer_row_change(None, image)
            for slot, counters in (change.plain if change else {}).items():
                target = out.setdefault(slot, {})
                for name, value in counters.items():
                    target[name] = target.get(name, Decimal(0)) + value
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "records": self.records,
            "once": sorted(self.once),
            "plain": [[d, b, {k: str(v) for k, v in c.items()}] for (d, b), c in self.plain.items()],
            "latest": [[d, b, v] for (d, b), v in self.latest.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Expected:
        out = cls(data["shop_id"], records=int(data["records"]), once=set(data["once"]))
        for d, b, counters in data["plain"]:
            out.plain[(d, b)] = defaultdict(Decimal, {k: Decimal(v) for k, v in counters.items()})
        for d, b, values in data["latest"]:
            out.latest[(d, b)] = {k: int(v) for k, v in values.items()}
        return out


@dataclass(frozen=True)
class Difference:
    """One counter whose stored value is not what the base records make."""

    report: str  # back_in_stock, preorders or preorder_customers
    dimension: str
    bucket: str
    counter: str
    stored: Decimal
    expected: Decimal

    @property
    def slot(self) -> Slot:
        return (self.dimension, self.bucket)

    def key(self) -> str:
        return f"{self.dimension}|{self.bucket}|{self.counter}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "dimension": self.dimension,
            "bucket": self.bucket,
            "counter": self.counter,
            "stored": _number(self.stored),
            "expected": _number(self.expected),
        }


def _number(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else str(value)


def report_of(dimension: str) -> str:
    if dimension == CUSTOMER_ROWS or dimension.startswith(CUSTOMER_ROWS + ":"):
        return "preorder_customers"
    if dimension == PREORDERS or dimension.startswith(PREORDERS + ":"):
        return "preorders"
    return "back_in_stock"


def in_window(bucket: str, start: date | None, end: date | None) -> bool:
    """Whether a bucket's period meets [start, end] (no window: every bucket; a window: never the all-time one)."""
    if start is None and end is None:
        return True
    if bucket == TOTAL:
        return False
    prefix, first = bucket.split("#")[:2]
    granularity = {v: k for k, v in buckets.PREFIX.items()}[prefix]
    begins = date.fromisoformat(first)
    last = buckets.next_start(begins, granularity) - timedelta(days=1)
    return (end is None or begins <= end) and (start is None or last >= start)


def compare(
    expected: Expected, stored: CounterMap, start: date | None = None, end: date | None = None
) -> list[Difference]:
    """Every difference between the expected and the stored counters in the window, in slot and counter order."""
    wanted = expected.counters()
    out: list[Difference] = []
    for slot in sorted(set(wanted) | set(stored) | set(expected.latest)):
        dimension, bucket = slot
        if not in_window(bucket, start, end):
            continue
        have, want, latest = stored.get(slot, {}), wanted.get(slot, {}), expected.latest.get(slot, {})
        report = report_of(dimension)
        if slot in stored and slot not in wanted and entity_of(dimension) == CUSTOMER_ROW_ENTITY:
            out.append(Difference(report, dimension, bucket, ROW, Decimal(1), Decimal(0)))
            continue
        for name in sorted(set(have) | set(want) | set(latest)):
            s = have.get(name, Decimal(0))
            if name.startswith(LATEST):
                if name not in latest:
                    continue  # kept by a signup deleted or moved since: max-updates never go down
                e = Decimal(latest[name])
                differs = s < e if name.startswith("l_") else s != e
            else:
                e = want.get(name, Decimal(0))
                differs = s != e
            if differs:
                out.append(Difference(report, dimension, bucket, name, s, e))
    return out


# ------------------------------------------------------------------------------------------------------- reading
def scan(
    rollups: RollupRepository,
    shop_id: str,
    state: dict[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
    progress: Progress | None = None,
    page_size: int | None = None,
) -> Expected:
    """The expected counters, page by page. With `state` (a dict this function keeps up to date: the source being
    read, the key to resume after, the partial sums) and `save` (called after each page), a scan stopped midway
    resumes where it was."""
    state = state if state is not None else {}
    position = state.get("scan") or {"source": 0, "start_key": None, "expected": Expected(shop_id).to_json()}
    expected = Expected.from_json(position["expected"])
    source, start_key = int(position["source"]), position["start_key"]
    while source < len(PREFIXES):
        read = PREFIXES[source]  # the source of this page (named once a page: never the next one's prefix)
        items, start_key = rollups.source_page(shop_id, read, start_key, page_size)
        for item in items:
            expected.add(item)
        if start_key is None:
            source += 1
        if save is not None:
            state["scan"] = {"source": source, "start_key": start_key, "expected": expected.to_json()}
            save(state)
        if progress is not None:
            progress(f"read {expected.records} base records ({read})")
    return expected


@dataclass
class Verification:
    shop_id: str
    records: int
    slots: int
    differences: list[Difference]

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "base_records": self.records,
            "slots_compared": self.slots,
            "differences": [d.as_dict() for d in self.differences],
        }


def verify(
    rollups: RollupRepository,
    shop_id: str,
    start: date | None = None,
    end: date | None = None,
    progress: Progress | None = None,
) -> Verification:
    """Recompute the shop's counters from its base records, compare them with the stored ones (in [start, end])."""
    expected = scan(rollups, shop_id, progress=progress)
    stored = rollups.counter_map(shop_id)
    slots = {s for s in set(stored) | set(expected.plain) if in_window(s[1], start, end)}
    return Verification(shop_id, expected.records, len(slots), compare(expected, stored, start, end))


# ------------------------------------------------------------------------------------------------------ rebuilding
@dataclass
class Rebuild:
    shop_id: str
    clean: bool
    passes: int
    records: int
    counters_written: int
    rows_removed: int
    once_claimed: int
    remaining: list[Difference]

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "clean": self.clean,
            "passes": self.passes,
            "base_records": self.records,
            "counters_written": self.counters_written,
            "rows_removed": self.rows_removed,
            "once_keys_claimed": self.once_claimed,
            "remaining": [d.as_dict() for d in self.remaining],
        }


def rebuild(
    rollups: RollupRepository,
    shop_id: str,
    now: datetime,
    *,
    settle: Callable[[], None],
    state: dict[str, Any] | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
    progress: Progress | None = None,
    page_size: int | None = None,
    max_passes: int = 6,
) -> Rebuild:
    """Rewrite the shop's counters until a pass finds no difference (or `max_passes` passes ran).

    Each pass: scan (resumable), read the stored map, compare. Differences (and missing once-keys) that the previous
    pass saw with the same values are corrected, conditionally; then `settle()` waits for the stream before the next
    pass. `state` resumes a rebuild that was stopped or gave up (its scan position, the previous pass's findings);
    `save` is called with it after every page and pass."""
    state = state if state is not None else {}
    state.setdefault("shop_id", shop_id)
    if state["shop_id"] != shop_id:
        raise ValueError(f"the saved rebuild state is for shop {state['shop_id']}, not {shop_id}")
    totals = state.setdefault("totals", {"passes": 0, "written": 0, "removed": 0, "claimed": 0})
    differences: list[Difference] = []
    records = 0
    for _ in range(max_passes):  # this run's passes (a resumed state counts its earlier ones in `totals`)
        expected = scan(rollups, shop_id, state, save, progress, page_size)
        records = expected.records
        stored = rollups.counter_map(shop_id)
        differences = compare(expected, stored)
        missing = rollups.missing_once(shop_id, sorted(expected.once))
        totals["passes"] += 1
        if progress is not None:
            progress(f"pass {totals['passes']}: {len(differences)} differences, {len(missing)} once-keys unclaimed")
        if not differences and not missing:
            state.pop("scan", None)
            state.pop("previous", None)
            if save is not None:
                save(state)
            break
        seen = {d.key(): [str(d.stored), str(d.expected)] for d in differences}
        previous = state.get("previous")
        if previous is not None:
            stable = [d for d in differences if previous["differences"].get(d.key()) == seen[d.key()]]
            written, removed = _correct(rollups, shop_id, stable, stored)
            totals["written"] += written
            totals["removed"] += removed
            totals["claimed"] += rollups.claim_once(shop_id, [k for k in missing if k in previous["once"]], now)
        state["previous"] = {"differences": seen, "once": missing}
        state.pop("scan", None)
        if save is not None:
            save(state)
        settle()
    return Rebuild(
        shop_id,
        clean=not differences and state.get("previous") is None,
        passes=totals["passes"],
        records=records,
        counters_written=totals["written"],
        rows_removed=totals["removed"],
        once_claimed=totals["claimed"],
        remaining=differences,
    )


def _correct(
    rollups: RollupRepository, shop_id: str, differences: Iterable[Difference], stored: CounterMap
) -> tuple[int, int]:
    """Write the corrections of stable differences, one conditional write per slot. (counters written, rows
    removed); a write whose condition failed (the stream moved the counter) counts nothing."""
    by_slot: dict[Slot, list[Difference]] = defaultdict(list)
    for difference in differences:
        by_slot[difference.slot].append(difference)
    written = removed = 0
    for slot, found in sorted(by_slot.items()):
        if any(d.counter == ROW for d in found):
            removed += int(rollups.remove(shop_id, slot, stored.get(slot, {})))
            continue
        values = {d.counter: (d.stored, d.expected) for d in found}
        if rollups.correct(shop_id, slot, values, created=slot not in stored):
            written += len(values)
    return written, removed
