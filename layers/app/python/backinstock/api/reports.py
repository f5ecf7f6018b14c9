"""The HTTP face of report families: the Lambda handler of every family action, built from its declaration.

Lambda runs `module.attribute`. The generic modules under functions/reports/, one per kind of action (read, export,
manifest, export status, cancel), answer every attribute through `handlers(kind)` (a PEP 562 module `__getattr__`),
so a new report or family needs no new file. The attribute names the family by its resource, then the report:
`reports.read_report.reports__summary` reads the summary of the family declared in `backinstock.actions.reports`;
`reports.list_reports.reports` is that family's manifest (`Action.entry_point` spells each one).

A handler is built on first access (at Lambda's init) and imports its family's declarations and the service code of
its kind only: a read imports the read's service module, never the export machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from backinstock import deps, registry
from backinstock.api.http import LambdaHandler, Request, route
from backinstock.registry import Action
from backinstock.reporting import ReportFamily, family_of


def handlers(kind: str) -> Callable[[str], LambdaHandler]:
    """The `__getattr__` of the generic module of `kind`: an unknown attribute is an AttributeError, as Lambda and
    Python expect of a missing one."""
    if kind not in _BUILDERS:
        raise ValueError(f"no kind of report handler {kind!r}: one of {sorted(_BUILDERS)}")

    def module_getattr(attribute: str) -> LambdaHandler:
        if attribute.startswith("_"):  # __path__, __wrapped__ and the like: not handlers
            raise AttributeError(attribute)
        try:
            return build(kind, attribute)
        except LookupError as exc:
            raise AttributeError(f"{attribute}: {exc}") from None

    return module_getattr


@cache
def build(kind: str, attribute: str) -> LambdaHandler:
    """The handler of `<family resource>__<report>` (a read or export) or `<family resource>` (the family's own)."""
    resource, _, report = attribute.partition("__")
    family = family_of(resource)
    per_report = kind in ("read", "export")
    if per_report != bool(report):
        raise LookupError(f"a {kind} handler is named {'<family>__<report>' if per_report else '<family>'}")
    return _BUILDERS[kind](family, report)


def _typed(action: Action, endpoint: Callable[[Request[Any, Any]], Any]) -> LambdaHandler:
    """`route` the endpoint, typed `Request[<query model>, <body model>]` of its action. A generic endpoint cannot
    say so in its signature: it is annotated here from the same declaration that `route` checks it against, and the
    service functions a declaration names are checked against its models by a unit test instead
    (tests/unit/test_report_families.py)."""
    generic: Any = Request  # subscripted at run time with the declaration's models (not a static type)
    endpoint.__annotations__ = {"request": generic[action.query_model, action.body_model]}
    return route(action)(endpoint)


def _context(family: ReportFamily) -> Any:
    """What every read function of the family takes first (`ReportFamily.context`, a factory of deps)."""
    return getattr(deps, family.context)()


def _read(family: ReportFamily, name: str) -> LambdaHandler:
    report = family.report(name)
    read = registry.resolve(f"{family.service}:{report.read}")
    return _typed(family.read(name), lambda request: read(_context(family), request.shop_id, request.query))


def _export(family: ReportFamily, name: str) -> LambdaHandler:
    from backinstock.services import exports

    action = family.export(name)
    return _typed(
        action,
        lambda request: exports.start(deps.exports(), deps.export_workflow(), request.shop_id, action, request.body),
    )


def _list(family: ReportFamily, _name: str) -> LambdaHandler:
    from backinstock.services import manifest

    return _typed(family.list_action, lambda _request: manifest.of(family))


def _get(family: ReportFamily, _name: str) -> LambdaHandler:
    from backinstock.services import exports

    def endpoint(request: Request[Any, Any]) -> Any:
        job_id = request.path_params["job_id"]
        return exports.get(deps.exports(), request.shop_id, job_id, family.exports_path, _link(family, request, job_id))

    return _typed(family.get_action, endpoint)


def _link(family: ReportFamily, request: Request[Any, Any], job_id: str) -> Any:
    """A ready job's download link, beside its status URL as this client reaches the API."""
    from backinstock import ids
    from backinstock.services import downloads

    status_url = f"{request.base_url}{family.exports_path}/{job_id}"

    def link(job: dict[str, Any]) -> tuple[str, Any]:
        completed = ids.parse(job.get("completed_at") or job["created_at"])
        started = ids.parse(job["created_at"])
        url = downloads.link(
            deps.link_secret(), status_url, request.shop_id, job_id, job["file_name"], completed, started
        )
        return url, downloads.expires_at(completed)

    return link


def _download(family: ReportFamily, _name: str) -> LambdaHandler:
    from backinstock.api.http import Reply
    from backinstock.services import downloads

    def endpoint(request: Request[Any, Any]) -> Reply:
        url = downloads.redirect(
            deps.link_secret(),
            request.path_params["job_id"],
            request.query.token,
            deps.sign_export,
            erased_since=deps.erasures().erased_since,
        )
        return Reply(None, 302, {"Location": url, "Cache-Control": "no-store"})

    return _typed(family.download_action, endpoint)


def _cancel(family: ReportFamily, _name: str) -> LambdaHandler:
    from backinstock.services import exports

    return _typed(
        family.cancel_action,
        lambda request: exports.cancel(
            deps.exports(),
            deps.export_workflow(),
            request.shop_id,
            request.path_params["job_id"],
            family.exports_path,
            deps.abort_export,
        ),
    )


_BUILDERS: dict[str, Callable[[ReportFamily, str], LambdaHandler]] = {
    "read": _read,
    "export": _export,
    "list": _list,
    "get": _get,
    "cancel": _cancel,
    "download": _download,
}
