"""Report manifests, generated from the registry: every report read under a prefix (its `report` name), so the
catalog cannot drift from the routes. The preorder reports get theirs by calling `reports_under` with their prefix."""

from __future__ import annotations

from backinstock import registry
from backinstock.models.reporting import Manifest, ManifestEntry


def reports_under(prefix: str) -> Manifest:
    return Manifest(
        reports=[
            ManifestEntry(
                name=action.report,
                description=action.description,
                aliases=list(action.aliases),
                url=registry.BASE_PATH + action.path,
            )
            for action in registry.actions()
            if action.report and action.method == "GET" and action.path.startswith(prefix + "/")
        ]
    )
