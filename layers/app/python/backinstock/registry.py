"""The action registry: every action of the API is declared here exactly once.

From these declarations, and nothing else, come the API Gateway routes and one Lambda per action (CDK), the
least-privilege IAM of each function, the local server's routing table, `/help`, the OpenAPI document and the MCP
tools. Declarations live in `backinstock.actions.<resource>` modules (a report family's actions are derived from its
reports' declarations, `backinstock.reporting`); this module only holds the types and the aggregate, and imports the
declaration modules lazily so that a Lambda handler imports only its own resource.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

BASE_PATH = "/api/v2/external"
API_VERSION = "2.0"
# v1 stays available through its deprecation window (reference 002): each v1 route runs its v2 action (`Action.v1`)
# and answers with RFC 9745's `Deprecation`, RFC 8594's `Sunset` and a `Link` to the successor.
V1_BASE_PATH = "/api/v1/external"
V1_DEPRECATED_AT = 1767225600  # 2026-01-01T00:00:00Z: v2 replaced v1 (`Deprecation: @<unix seconds>`)
V1_SUNSET_AT = 1814400000  # 2027-07-01T00:00:00Z: v1 may stop answering after this (`Sunset`, an HTTP date)
META_RESOURCE = "meta"

# Resource modules whose ACTIONS lists make up the registry, in the order /help lists them.
RESOURCE_MODULES = (
    "backinstock.actions.signups",
    "backinstock.actions.notifications",
    "backinstock.actions.restocks",
    "backinstock.actions.settings",
    "backinstock.actions.webhooks",
    "backinstock.actions.reports",
    "backinstock.actions.preorders",
    "backinstock.actions.preorder_reports",
    "backinstock.actions.meta",
)


class Access(enum.Enum):
    """What an action may touch. CDK turns each into the narrowest IAM grant and the environment it needs."""

    TABLE_READ = "table:read"
    TABLE_WRITE = "table:write"
    SEND_QUEUE = "queue:send"  # enqueue work for the send worker (notify, bulk notify, transfer, opt-in mail)
    IDEMPOTENCY = "idempotency"  # the Idempotency-Key store (Powertools idempotency table)
    WEBHOOK_QUEUE = "queue:webhooks"  # enqueue verified Shopify webhooks for the webhook worker
    SHOP_SECRETS = "secret:shops"  # read shops' Shopify secrets (webhook HMAC key)
    LINK_SECRET = "secret:links"  # noqa: S105 (an access kind, not a secret): the HMAC key that signs and verifies opt-in / unsubscribe links
    EXPORT_RUN = "exports:run"  # start and stop export workflow executions, abort an export's partial upload
    EXPORT_READ = "exports:read"  # read export files: sign their download URLs
    CAMPAIGN_RUN = "campaigns:run"  # start executions of the restock campaign workflow (a restock by hand, a resume)
    # Take points from the shop's rate-limit bucket: never declared, implied by an authenticated route
    # (`Action.rate_limited`); the grant reaches the limiter's table only.
    RATE_LIMIT = "ratelimit"


class Auth(enum.Enum):
    """How a route is authenticated. The identity source header is what API Gateway requires before it calls
    the authorizer; the local server enforces the same header."""

    API_KEY = "X-Auth-Token"
    BEARER = "Authorization"
    PUBLIC = ""


_PARAM = re.compile(r":([a-z_]+)")


@dataclass(frozen=True)
class Sample:
    """A valid request of an action, declared beside it: the tests that run every action (no Scan, the read cost of
    reports) take their requests from the registry, so a new action brings its own and cannot be left out.

    `path` is relative to BASE_PATH, with its query string. `{name}` placeholders in the path, in the body's strings
    and in header values stand for what only a test's fixtures know (`SAMPLE_PLACEHOLDERS` of the test kit,
    `backinstock_tools/testkit/samples.py`): a signup id, an export job, a token, the report window."""

    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class V1:
    """The v1 route of an action (reference 002's parity table): its method and path under V1_BASE_PATH, `:param`
    placeholders named as the action's own. It runs the action itself: same function, auth, validation, limits and
    answers, plus the deprecation headers. Not an MCP tool, not in v2's /help; in `/api/v1/external/help`."""

    method: str
    path: str
    extra_paths: tuple[str, ...] = ()  # the same v1 route on more paths (the v1 `<prefix>/help`, from `actions()`)

    @property
    def all_paths(self) -> tuple[str, ...]:
        return (self.path, *self.extra_paths)

    def gateway_path(self, path: str | None = None) -> str:
        return V1_BASE_PATH + _PARAM.sub(r"{\1}", path or self.path)


@dataclass(frozen=True)
class Export:
    """What an export action's job writes, declared with the action (a report's by its family, `reporting.py`; the
    waitlist's with the signups): the export machinery (`services.exports`) reads nothing else.

    `rows` names its function ("module:function") so that a declaration imports no service. It takes first the
    product of the `context` factory of `backinstock.deps`, then the shop, the job's filters (the action's body
    model) and:
    - a report (`resumable=False`): `now`; it returns the report's answer (its response model), whose CSV table the
      model declares (`models.reporting.Table`; `columns` is its header): all computed at once (a report is small),
      and a resumed job skips the rows already written;
    - a row-level export (`resumable=True`): the cursor to resume after (None at first); it returns
      `services.exports.Opened` (rows with their cursors, and the expected count for the progress)."""

    report: str  # the job's `report`, as the API shows it
    columns: tuple[str, ...]  # the CSV header, in the order of the cells
    rows: str
    context: str
    status_path: str  # the job's status URL is BASE_PATH + status_path + "/" + job_id
    file_name: str  # pattern: {report}, {today}; {from} and {to} when the window is resolved
    window: bool = True  # from/to are resolved (defaults, limits) when the job starts: the file covers that window
    resumable: bool = False


@dataclass(frozen=True)
class Action:
    name: str
    method: str
    path: str  # relative to BASE_PATH, `:param` placeholders, as the reference writes them
    resource: str
    description: str
    handler: str  # module under functions/ that Lambda imports, e.g. "settings.get_settings"
    access: frozenset[Access] = frozenset()
    aliases: tuple[str, ...] = ()
    body_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    success_status: int = 200
    # Other statuses it answers than success_status and the errors every action may answer (services.openapi),
    # with what each means: e.g. 207 for a partial success (its body is the response model's, as for success).
    statuses: tuple[tuple[int, str], ...] = ()
    notes: tuple[str, ...] = ()
    auth: Auth = Auth.API_KEY
    mcp_tool: bool = True  # the MCP transport itself is a route but not a tool
    runs_actions: bool = False  # runs other actions in-process (MCP): needs the union of their access
    extra_paths: tuple[str, ...] = field(default=())  # same action reachable on more paths
    help_suffix: bool = False  # also served at `<every static prefix>/help` (filled in by `actions()`)
    body_optional: bool = False  # an empty body reads as `{}` (every field of the body model has a default)
    idempotent: bool = False  # honours the `Idempotency-Key` header (replays the first response)
    html: bool = False  # answers a small HTML page (public customer-facing links), not JSON
    report: str | None = None  # the report this action reads (a GET: listed by the manifest) or exports (a POST)
    # The attribute of `handler` that Lambda calls: `handler`, or one of a generic module's handlers (one per report,
    # built from its declaration on first access, `functions/reports/read_report.py`).
    handler_attribute: str = "handler"
    sample: Sample | None = field(default=None, compare=False)  # a valid request (tests run every action with it)
    export: Export | None = None  # what this action's export job writes (an export action)
    # Points a request takes from the shop's rate limit; None: by method (GET 1, else 2). The MCP transport takes
    # none itself: each tool call it runs takes its own action's (`services/ratelimits.py`).
    rate_cost: int | None = None
    v1: V1 | None = None  # the deprecated v1 route that runs this action

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def entry_point(self) -> str:
        """What Lambda runs (the function's `Handler`): `module.attribute`, e.g. `settings.get_settings.handler`."""
        return f"{self.handler}.{self.handler_attribute}"

    @property
    def all_paths(self) -> tuple[str, ...]:
        return (self.path, *self.extra_paths)

    @property
    def rate_limited(self) -> bool:
        """Limited per shop: every route a shop's key authenticates. Public routes are protected otherwise
        (webhooks by their HMAC, customer links by their signed token, all by the stage's throttle)."""
        return self.auth is not Auth.PUBLIC

    @property
    def points(self) -> int:
        if self.rate_cost is not None:
            return self.rate_cost
        return 1 if self.method == "GET" else 2

    @property
    def read_only(self) -> bool:
        """No side effect at all: reads the table, nothing else."""
        return self.access <= {Access.TABLE_READ}

    def gateway_path(self, path: str | None = None) -> str:
        """`/back_in_stock/signups/:id` -> `/api/v2/external/back_in_stock/signups/{id}` (API Gateway syntax)."""
        return BASE_PATH + _PARAM.sub(r"{\1}", path or self.path)

    def input_schema(self) -> dict[str, Any]:
        """One JSON Schema for everything a caller passes: path params, query and body fields, flattened into one
        object. /help shows it as `request_schema` and MCP uses it as the tool's `inputSchema`."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        defs: dict[str, Any] = {}
        for param in self.path_params:
            properties[param] = {"type": "string", "description": f"The `{param}` path parameter"}
            required.append(param)
        for model in (self.query_model, self.body_model):
            if model is None:
                continue
            schema = model.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(schema.pop("$defs", {}))
            properties.update(schema.get("properties", {}))
            required.extend(schema.get("required", []))
        schema_out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema_out["required"] = required
        if defs:
            schema_out["$defs"] = defs
        return schema_out


@cache
def actions() -> tuple[Action, ...]:
    """Every action, in declaration order. Imports every resource module: for tooling, not for a single handler.

    A resource module lists its actions in `ACTIONS` (a report family's are derived from its declarations). An
    `Action` declared at a module's top level but left out of every `ACTIONS` would silently not exist: refused."""
    out: list[Action] = []
    modules = [importlib.import_module(module_name) for module_name in RESOURCE_MODULES]
    for module in modules:
        out.extend(module.ACTIONS)
    listed = {id(a) for a in out}
    for module in modules:
        stray = [name for name, value in vars(module).items() if isinstance(value, Action) and id(value) not in listed]
        if stray:
            raise ValueError(f"{module.__name__} declares actions that no ACTIONS lists: {stray}")
    # Every resource path, and the self-describing routes (`/mcp/help`, `/openapi.json/help`) but /help itself.
    prefixes = help_prefixes([a.path for a in out if not a.help_suffix])
    out = [
        dataclasses.replace(a, extra_paths=(*a.extra_paths, *(p + "/help" for p in prefixes))) if a.help_suffix else a
        for a in out
    ]
    # And the v1 face's: `/api/v1/external/<every static v1 prefix>/help` (reference 002's paths, deprecated).
    v1_prefixes = [p for p in help_prefixes([a.v1.path for a in out if a.v1 and not a.help_suffix]) if ":" not in p]
    out = [
        dataclasses.replace(a, v1=dataclasses.replace(a.v1, extra_paths=tuple(p + "/help" for p in v1_prefixes)))
        if a.help_suffix and a.v1 is not None
        else a
        for a in out
    ]
    names = [a.name for a in out]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate action names in the registry: {sorted(duplicates)}")
    return tuple(out)


def v1_actions() -> tuple[Action, ...]:
    """The actions with a v1 route, in registry order."""
    return tuple(a for a in actions() if a.v1 is not None)


def match_v1(method: str, path: str) -> tuple[Action, dict[str, str]] | None:
    """The action whose v1 route is `method path` (relative to V1_BASE_PATH), with its path parameters."""
    best: tuple[int, Action, dict[str, str]] | None = None
    for action in v1_actions():
        assert action.v1 is not None
        if action.v1.method != method:
            continue
        for pattern in action.v1.all_paths:
            params = match_path(pattern, path)
            if params is not None and (best is None or len(params) < best[0]):
                best = (len(params), action, params)
    return (best[1], best[2]) if best else None


def deprecation_headers(action: Action, path_params: dict[str, str]) -> dict[str, str]:
    """What a v1 answer adds: `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and the successor's link."""
    from email.utils import formatdate
    from urllib.parse import quote

    successor = BASE_PATH + action.path
    for name, value in path_params.items():
        successor = successor.replace(f":{name}", quote(value, safe=""))
    return {
        "Deprecation": f"@{V1_DEPRECATED_AT}",
        "Sunset": formatdate(V1_SUNSET_AT, usegmt=True),
        "Link": f'<{successor}>; rel="successor-version"',
    }


def resolve(ref: str) -> Any:
    """A function named "module:function" by a declaration (`Export.rows`, a report's read), imported now."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


def by_name(name: str) -> Action:
    for action in actions():
        if action.name == name:
            return action
    raise KeyError(name)


def match(method: str, path: str) -> tuple[Action, dict[str, str]] | None:
    """Find the action for a request path relative to the base path. Returns it with its path parameters.

    As in API Gateway, a static segment wins over a path parameter: `/back_in_stock/signups/help` is the help
    route, not `get_signup` with `id=help`."""
    best: tuple[int, Action, dict[str, str]] | None = None
    for action in actions():
        if action.method != method:
            continue
        for pattern in action.all_paths:
            params = match_path(pattern, path)
            if params is not None and (best is None or len(params) < best[0]):
                best = (len(params), action, params)
    return (best[1], best[2]) if best else None


def allowed_methods(path: str, v1: bool = False) -> list[str]:
    """The methods declared on the resource a request path (relative to the base path, or to V1_BASE_PATH with
    `v1`) reaches, sorted; empty for a path that no action declares. The resource is the one API Gateway picks: the
    most static pattern that matches (`/back_in_stock/signups/help`, not `/back_in_stock/signups/:id`). A method
    outside the list is a 405."""
    if v1:
        declared = [(a.v1.method, p) for a in v1_actions() if a.v1 is not None for p in a.v1.all_paths]
    else:
        declared = [(a.method, p) for a in actions() for p in a.all_paths]
    best: tuple[int, str] | None = None
    for _method, pattern in declared:
        params = match_path(pattern, path)
        if params is not None and (best is None or len(params) < best[0]):
            best = (len(params), _PARAM.sub(":", pattern))
    if best is None:
        return []
    shape = best[1]
    return sorted({method for method, pattern in declared if _PARAM.sub(":", pattern) == shape})


def match_path(pattern: str, path: str) -> dict[str, str] | None:
    want = pattern.strip("/").split("/")
    got = path.strip("/").split("/")
    if len(want) != len(got):
        return None
    params: dict[str, str] = {}
    for w, g in zip(want, got, strict=True):
        if w.startswith(":"):
            if not g:
                return None
            params[w[1:]] = g
        elif w != g:
            return None
    return params


def help_prefixes(paths: list[str]) -> list[str]:
    """Every prefix of the given action paths (`/back_in_stock`, `/back_in_stock/settings`,
    `/back_in_stock/signups/:id`, ...): each gets a `<prefix>/help` route, so /help answers at any resource path,
    one with a path parameter included (`/back_in_stock/signups/<id>/help`)."""
    prefixes: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            prefixes.add("/" + "/".join(parts[:i]))
    return sorted(prefixes)
