"""Time-ordered identifiers and the UTC clock.

Signups and notifications get UUIDv7 ids (RFC 9562): a UUID whose first 48 bits are the creation time in
milliseconds. Their string form sorts by creation time, so a DynamoDB sort key `SIGNUP#<id>` lists newest first
with `ScanIndexForward=False`, and a `from`/`to` window on `created_at` becomes a key range (`id_bounds`).
Python 3.11 has no `uuid.uuid7` (3.14 does): the 20 lines below follow the RFC.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


def now() -> datetime:
    """The current time in UTC, truncated to milliseconds (the precision ids carry)."""
    current = datetime.now(UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a `Z`: `2026-06-01T12:00:00.000Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str) -> datetime:
    """The datetime of a UTC ISO 8601 string as `iso` writes it (a trailing `Z` included)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def uuid7(moment: datetime | None = None) -> str:
    ms = _ms(moment or now()) & ((1 << 48) - 1)
    rand_a = secrets.randbits(12)
    rand_b = secrets.randbits(62)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def _time_prefix(moment: datetime) -> str:
    """The first 13 characters of a UUIDv7 string created at `moment` (`xxxxxxxx-xxxx`)."""
    # clamped, not wrapped: a moment before 1970 is before every id (a negative time masked to 48 bits would be
    # after every id), one past 48 bits after every id
    digits = f"{min(max(_ms(moment), 0), (1 << 48) - 1):012x}"
    return f"{digits[:8]}-{digits[8:]}"


def id_bounds(start: datetime | None, end: datetime | None) -> tuple[str, str]:
    """Inclusive string bounds of the UUIDv7 ids created between `start` and `end` (milliseconds inclusive)."""
    low = _time_prefix(start) if start else "0"
    high = _time_prefix(end) + "~" if end else "~"  # "~" sorts after every hex digit and "-"
    return low, high


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return len(value) == 36
