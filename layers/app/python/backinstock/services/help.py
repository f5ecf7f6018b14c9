"""`/help`: the registry described for people and agents. Every entry comes from `backinstock.registry`."""

from __future__ import annotations

from backinstock import registry
from backinstock.models.meta import HelpAction, HelpResponse


def describe(action: registry.Action) -> HelpAction:
    return HelpAction(
        name=action.name,
        method=action.method,
        path=action.path,
        description=action.description,
        aliases=list(action.aliases),
        path_params=action.path_params,
        request_schema=action.input_schema(),
        notes=list(action.notes),
    )


def under(path: str, prefix: str | None) -> bool:
    """Whether an action path (`/back_in_stock/signups/:id/notify`) lies at or under a prefix, segment by segment; a
    prefix segment matches a path parameter whatever its value (`/back_in_stock/signups/0190...` or `.../:id`)."""
    if prefix is None:
        return True
    want = [s for s in prefix.split("/") if s]
    have = [s for s in path.split("/") if s]
    return len(want) <= len(have) and all(h == w or h.startswith(":") for w, h in zip(want, have, strict=False))


def help_for(prefix: str | None) -> HelpResponse:
    """Actions whose path lies under `prefix` (a path segment boundary: `/back_in_stock/set` matches nothing)."""
    wanted = "/" + prefix.strip("/") if prefix and prefix.strip("/") else None
    selected = [describe(a) for a in registry.actions() if under(a.path, wanted)]
    return HelpResponse(version=registry.API_VERSION, base_path=registry.BASE_PATH, actions=selected)


def v1_help(prefix: str | None) -> HelpResponse:
    """`/api/v1/external/help`: every v1 route (reference 002's parity table), deprecated, with its v2 successor."""
    wanted = "/" + prefix.strip("/") if prefix and prefix.strip("/") else None
    selected = []
    for action in registry.v1_actions():
        assert action.v1 is not None
        if wanted is not None and not (action.v1.path == wanted or action.v1.path.startswith(wanted + "/")):
            continue
        successor = f"{action.method} {registry.BASE_PATH}{action.path}"
        update = {"method": action.v1.method, "path": action.v1.path, "deprecated": True, "successor": successor}
        selected.append(describe(action).model_copy(update=update))
    return HelpResponse(version="1", base_path=registry.V1_BASE_PATH, actions=selected)


def is_v1(request_path: str) -> bool:
    return request_path.startswith(registry.V1_BASE_PATH + "/")


def prefix_of(request_path: str) -> str | None:
    """`/api/v2/external/back_in_stock/settings/help` -> `/back_in_stock/settings` (None for the bare `/help`); the
    same under `/api/v1/external`."""
    path = request_path.removeprefix(registry.V1_BASE_PATH if is_v1(request_path) else registry.BASE_PATH)
    prefix = path.removesuffix("/help")
    return prefix or None
