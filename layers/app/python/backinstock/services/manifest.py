"""A report family's manifest (`GET <prefix>`): its reads, from the registry's declarations, so the catalog cannot
drift from the routes (each entry is the read action the family derived from the report)."""

from __future__ import annotations

from backinstock.models.reporting import Manifest, ManifestEntry
from backinstock.registry import BASE_PATH
from backinstock.reporting import ReportFamily


def of(family: ReportFamily) -> Manifest:
    return Manifest(
        reports=[
            ManifestEntry(
                name=report.name,
                description=action.description,
                aliases=list(action.aliases),
                url=BASE_PATH + action.path,
            )
            for report, action in zip(family.reports, family.reads, strict=True)
        ]
    )
