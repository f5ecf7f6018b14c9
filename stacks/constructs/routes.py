"""Where each API route (method) and path resource lives: the main stack, or a registry resource's nested stack.

A route belongs with its action's registry resource. A `/help` route (the `<prefix>/help` paths the registry adds to
the help action) belongs with the resource that owns the prefix it describes: the one resource whose routes alone
live under that prefix; a prefix several resources share keeps its `/help` with the help action's own resource.

A resource's routes live in its nested stack, beside its functions, unless the resource is in
`ROUTES_IN_MAIN_STACK`: the resources whose routes were deployed in the main stack before the nested stacks existed.
They cannot move: API Gateway refuses a second resource or method at a path, and CloudFormation creates the new
one (in the nested stack) before it deletes the old (in the main stack), so the deploy would fail. Every other
resource (the next ones: preorders, offers, ...) keeps its routes out of the main stack from its first deploy.

A path resource lives in a nested stack when every route at or under it lives there; a path that routes of
several stacks share (`/api/v2/external/back_in_stock`) stays in the main stack. Wherever they are, CDK registers
every method and path resource with the REST API's deployment (its logical ID hashes them, and it depends on them),
so a changed route in a nested stack still redeploys the stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backinstock.registry import Action

# Resources whose routes stay in the main stack (see above). Adding or removing a deployed resource moves its
# deployed routes from one stack to another, which fails the deploy; a new resource stays out of this set.
ROUTES_IN_MAIN_STACK = frozenset({"signups", "notifications", "settings", "webhooks", "reports", "meta"})
HELP_SUFFIX = "/help"


@dataclass(frozen=True)
class Route:
    """One method of the API: `path` in API Gateway syntax (`/api/v2/external/.../{id}`), `owner` the registry
    resource it belongs with."""

    action: Action
    path: str
    owner: str
    verb: str | None = None  # a deprecated v1 route's own method (`registry.V1`); else the action's

    @property
    def method(self) -> str:
        return self.verb or self.action.method


def prefixes(path: str) -> list[str]:
    """`/a/b/c` -> `["/a", "/a/b", "/a/b/c"]`: the path resources a route needs."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


class RoutePlacement:
    """Every route of `actions`, and the stack of each route and path resource: a registry resource name (its
    nested stack) or None (the main stack)."""

    def __init__(self, actions: Sequence[Action]) -> None:
        plain = [Route(a, a.gateway_path(p), a.resource) for a in actions for p in a.all_paths if not _is_help(a, p)]
        # Each v1 route (reference 002) is a method on its action's function, with that action's resource.
        plain += [
            Route(a, a.v1.gateway_path(p), a.resource, a.v1.method)
            for a in actions
            if a.v1 is not None
            for p in a.v1.all_paths
        ]
        owners = _path_owners(plain)
        described = [
            Route(a, a.gateway_path(p), _help_owner(a, a.gateway_path(p), owners))
            for a in actions
            for p in a.all_paths
            if _is_help(a, p)
        ]
        self.routes: list[Route] = [*plain, *described]
        self._path_stacks = {
            path: {stack_of(owner) for owner in path_owners} for path, path_owners in _path_owners(self.routes).items()
        }

    def route_stack(self, route: Route) -> str | None:
        return stack_of(route.owner)

    def path_stack(self, path: str) -> str | None:
        """A path resource's stack: the one nested stack every route at or under it lives in, else the main one."""
        stacks = self._path_stacks[path]
        return next(iter(stacks)) if len(stacks) == 1 else None


def stack_of(owner: str) -> str | None:
    """The stack of a registry resource's routes: its nested stack (by resource name), or None (the main stack)."""
    return None if owner in ROUTES_IN_MAIN_STACK else owner


def _is_help(action: Action, path: str) -> bool:
    """A `<prefix>/help` path the registry added to a help action (not the action's own path)."""
    return action.help_suffix and path != action.path and path.endswith(HELP_SUFFIX)


def _path_owners(routes: Sequence[Route]) -> dict[str, set[str]]:
    """Path resource -> the owners of the routes at or under it."""
    out: dict[str, set[str]] = {}
    for route in routes:
        for prefix in prefixes(route.path):
            out.setdefault(prefix, set()).add(route.owner)
    return out


def _help_owner(action: Action, path: str, owners: dict[str, set[str]]) -> str:
    """The resource that alone owns the prefix a `/help` path describes, else the help action's own resource."""
    described = owners.get(path.removesuffix(HELP_SUFFIX), set())
    return next(iter(described)) if len(described) == 1 else action.resource
