"""Time buckets of the report rollups: day, ISO week (Monday) and month, and the cover of a window by them.

A rollup item holds the counters of one bucket; its sort key is `<G>#<start date>` (`D#2026-06-03`,
`W#2026-06-01`, the week's Monday, `M#2026-06-01`), so a run of consecutive buckets of one granularity is one
`BETWEEN` range of a Query, in time order.

`cover` splits a window into the fewest whole buckets: whole months, then whole ISO weeks inside what is left,
then days. A report reads the cover, never a day more than it needs: a year is 12 items (plus at most 2 x 16 for
ragged edges), not 365.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

DAY, WEEK, MONTH = "day", "week", "month"
GRANULARITIES = (DAY, WEEK, MONTH)
PREFIX = {DAY: "D", WEEK: "W", MONTH: "M"}
_FINER = {MONTH: WEEK, WEEK: DAY}


def start_of(day: date, granularity: str) -> date:
    if granularity == DAY:
        return day
    if granularity == WEEK:
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def next_start(start: date, granularity: str) -> date:
    if granularity == DAY:
        return start + timedelta(days=1)
    if granularity == WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def label(day: date, granularity: str) -> str:
    """The sort key of the bucket of `granularity` that contains `day`."""
    return f"{PREFIX[granularity]}#{start_of(day, granularity).isoformat()}"


def labels_of(day: date) -> list[str]:
    """Every bucket a day's activity counts in: its day, its ISO week, its month."""
    return [label(day, g) for g in GRANULARITIES]


def day_of(moment: str) -> date:
    """The UTC date of an ISO 8601 timestamp as the app writes them (`2026-06-01T12:00:00.000Z`)."""
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).date() if "T" in moment else date.fromisoformat(moment)


def buckets(start: date, end: date, granularity: str) -> Iterator[date]:
    """The start dates of the buckets that overlap [start, end] (inclusive), in order."""
    current = start_of(start, granularity)
    while current <= end:
        yield current
        current = next_start(current, granularity)


def cover(start: date, end: date, granularity: str = MONTH) -> list[tuple[str, date]]:
    """The fewest whole buckets, `granularity` or finer, whose union is exactly [start, end]: (granularity, start)."""
    out: list[tuple[str, date]] = []
    for bucket in buckets(start, end, granularity):
        last = next_start(bucket, granularity) - timedelta(days=1)
        if granularity == DAY or (bucket >= start and last <= end):
            out.append((granularity, bucket))
        else:
            out.extend(cover(max(bucket, start), min(last, end), _FINER[granularity]))
    return out


def runs(pieces: list[tuple[str, date]]) -> list[tuple[str, str, str]]:
    """Consecutive pieces of one granularity merged into (granularity, first key, last key) Query ranges."""
    ordered = sorted(pieces, key=lambda p: (p[0], p[1]))
    out: list[tuple[str, str, str]] = []
    previous: tuple[str, date] | None = None
    for granularity, start in ordered:
        key = f"{PREFIX[granularity]}#{start.isoformat()}"
        if previous and previous[0] == granularity and next_start(previous[1], granularity) == start:
            out[-1] = (granularity, out[-1][1], key)
        else:
            out.append((granularity, key, key))
        previous = (granularity, start)
    return out
