"""`backinstock migrate keys`: the signups and send-log rows a stack deployed before issue 23 wrote, moved to their
keys (docs/DEPLOY.md, "Upgrading a stack deployed before issue 23"; docs/DATA_MODEL.md, "Upgrade path").

Until a shop's rows are moved, its lists, counts, campaigns and reads by id do not see them (they read the new keys
only); the privacy webhooks do (repositories/privacy.py). The move is row by row, each in three idempotent writes
(repositories/migration.py), so the command is resumable: a run killed anywhere is finished by running it again,
and a run over moved shops finds nothing. The moves count nothing in the reports (`services.rollups.change_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backinstock import ids
from backinstock.repositories.migration import KINDS, KeyMigrationRepository
from backinstock.repositories.shops import ShopRepository

OUTCOMES = ("moved", "finished", "gone", "conflict")


@dataclass
class KeyMigration:
    """The context of `migrate_keys`: the moves and the shops (`--all`)."""

    records: KeyMigrationRepository
    shops: ShopRepository


@dataclass
class MigrationSummary:
    dry_run: bool
    shops: int = 0
    # kind -> outcome -> rows; a dry run counts `to_move` (unmarked) and `to_finish` (marked by a stopped run)
    rows: dict[str, dict[str, int]] = field(default_factory=lambda: {kind: {} for kind in KINDS})

    def add(self, kind: str, outcome: str, n: int = 1) -> None:
        self.rows[kind][outcome] = self.rows[kind].get(outcome, 0) + n

    @property
    def conflicts(self) -> int:
        return sum(counts.get("conflict", 0) for counts in self.rows.values())

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "shops": self.shops, **self.rows, "conflicts": self.conflicts}


def shop_ids(key_migration: KeyMigration, shop_id: str | None) -> Iterable[str]:
    """One shop (it must exist), or every shop (`shop_id` None)."""
    if shop_id is not None:
        return [key_migration.shops.require(shop_id).shop_id]
    return (shop.shop_id for shop in key_migration.shops.all_shops())


def migrate_keys(
    key_migration: KeyMigration,
    shops: Iterable[str],
    *,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    page_size: int = 100,
    now: datetime | None = None,
) -> MigrationSummary:
    """Move every old row of these shops (signups first, then log rows), a page at a time; `dry_run`: count
    them, write nothing. Progress: a line per page and per shop."""
    summary = MigrationSummary(dry_run=dry_run)
    at = ids.iso(now or ids.now())
    for shop_id in shops:
        summary.shops += 1
        for kind in KINDS:
            done = 0
            for page in key_migration.records.old_rows(shop_id, kind, page_size):
                for row in page:
                    if dry_run:
                        summary.add(kind, "to_finish" if row.marked else "to_move")
                    else:
                        summary.add(kind, key_migration.records.move(row, at))
                done += len(page)
                if progress is not None:
                    verb = "found" if dry_run else "moved"
                    progress(f"shop {shop_id}: {kind}: {done} {verb}")
        if progress is not None:
            progress(f"shop {shop_id}: done ({summary.shops} shops so far)")
    return summary
