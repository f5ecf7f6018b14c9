"""A concrete request of any action from the sample declared beside it (`Action.sample`), and the values of its
placeholders for a shop: the one way tests and benches build "a valid request of this action"."""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backinstock.registry import Action, Sample

# The placeholders an action's `Sample` may use, and what `sample_values` fills in for each.
SAMPLE_PLACEHOLDERS = {
    "api_key": "the shop's API key (for a header other than X-Auth-Token, e.g. MCP's Bearer)",
    "shop_domain": "the shop's myshopify domain",
    "shopify_hmac": "Shopify's signature of the request body, with the shop's webhook secret",
    "signup_id": "a signup of variant 101, notified once",
    "pending_signup_id": "a pending signup of variant 201 (deleted by delete_signup)",
    "spare_signup_id": "a pending signup of variant 102 (deleted by bulk_delete_signups)",
    "notification_id": "the notification of `signup_id`",
    "optin_token": "an opt-in link token of `signup_id`",
    "unsubscribe_token": "an unsubscribe link token of `signup_id`",
    "job_id": "a running export job of the shop",
    "download_token": "a download link token of `job_id` (as if it were ready)",
    "offer_id": "a preorder offer of the shop (selling plan 7001 on variant 101)",
    "restock_id": "a restock campaign of the shop (started by hand on variant 101)",
    "from": "the first day of a report window (ISO date)",
    "to": "the last day of a report window (ISO date)",
}
WINDOW = {"from": "2026-01-01", "to": "2026-03-31"}
RUNNING_JOB = "exp_00000000000000aa"


def placeholders(sample: Sample) -> set[str]:
    """Every `{name}` a sample uses, in its path, body strings and header values."""
    texts = [sample.path, *sample.headers.values(), *_strings(sample.body)]
    return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def sample_request(
    action: Action, values: Mapping[str, str], webhook_secret: str | None = None
) -> tuple[str, Any, dict[str, str]]:
    """The action's declared sample (path, body, headers) with its placeholders filled from `values` (any mapping:
    `Fresh` makes each value when first asked). The body is filled first: `{shopify_hmac}` signs it as sent
    (`json.dumps`, as `gateway.call` sends it) with `webhook_secret`."""
    sample = action.sample
    assert sample is not None, (
        f"action {action.name} declares no sample request: add `sample=Sample(...)` to its declaration "
        f"(backinstock/actions/{action.resource}.py), a valid request the tests that run every action can send"
    )
    body = _fill(sample.body, values)
    if webhook_secret is not None:
        from backinstock.services.webhooks import signature

        values = _Over(values, shopify_hmac=signature(webhook_secret, json.dumps(body).encode()))
    return sample.path.format_map(values), body, {k: v.format_map(values) for k, v in sample.headers.items()}


def v1_sample_request(action: Action, values: Mapping[str, str]) -> tuple[str, Any, dict[str, str]]:
    """The action's sample sent to its deprecated v1 route (`Action.v1`): the path relative to V1_BASE_PATH, its
    parameters and query taken from the filled v2 sample."""
    from backinstock import registry

    assert action.v1 is not None, f"{action.name} has no v1 route"
    path, body, headers = sample_request(action, values)
    v2_path, _, query = path.partition("?")
    v1_path = action.v1.path
    for name, value in (registry.match_path(action.path, v2_path) or {}).items():
        v1_path = v1_path.replace(f":{name}", value)
    return v1_path + (f"?{query}" if query else ""), body, headers


def sample_values(shop_id: str, key: str, domain: str, **seeded: str) -> dict[str, str]:
    """Every placeholder's value for a shop with a catalog (`shops.stock`): the test's own `signup_id`,
    `pending_signup_id`, `spare_signup_id` and `notification_id` (made through the API, `seeded`), and the rest
    made here: the link tokens of `signup_id`, a running export job (`RUNNING_JOB`) and its download token, a
    preorder offer, a running restock campaign, the report window."""
    from backinstock import deps, ids
    from backinstock.services import links

    def token(subject: str, purpose: str, **extra: str) -> str:
        return links.make_token(deps.link_secret(), shop_id, subject, purpose, ids.now(), **extra)  # type: ignore[arg-type]

    signup_id = seeded["signup_id"]
    running_job(shop_id)
    return {
        "api_key": key,
        "shop_domain": domain,
        **seeded,
        "optin_token": token(signup_id, "optin"),
        "unsubscribe_token": token(signup_id, "unsubscribe"),
        "job_id": RUNNING_JOB,
        "download_token": token(RUNNING_JOB, "download", file="f.csv"),
        "offer_id": preorder_offer(shop_id),
        "restock_id": running_campaign(shop_id),
        **WINDOW,
    }


def ready_for(action: Action, shop_id: str) -> None:
    """What an action's sample needs afresh before each request: an export job still running, under the action's
    family (a cancel cancels it; a job answers under its own family's path only)."""
    if action.path.endswith("/exports/:job_id"):
        running_job(shop_id, action.path.removesuffix("/:job_id"))


class Fresh(dict[str, str]):
    """Placeholder values made when first asked (`makers[name]()`), so a request seeds only what its sample uses,
    afresh for each `Fresh`: a bench sending an action again and again gives each request its own signup."""

    def __init__(self, makers: Mapping[str, Callable[[], str]], **known: str) -> None:
        super().__init__(known)
        self.makers = makers

    def __missing__(self, name: str) -> str:
        value = self[name] = self.makers[name]()
        return value


def running_job(shop_id: str, status_path: str = "/back_in_stock/reports/exports") -> None:
    """An export job row that is still running (its workflow never started): the sample that cancel can cancel
    (each report family's cancel gets it afresh), of the family whose exports path is `status_path` (a job answers
    under its own family's path only)."""
    from backinstock import aws, config, deps, ids
    from backinstock.repositories.exports import export_key

    aws.client("dynamodb").delete_item(TableName=config.table_name(), Key=export_key(shop_id, RUNNING_JOB))
    deps.exports().jobs.create(
        {
            "job_id": RUNNING_JOB,
            "shop_id": shop_id,
            "source": "summary",
            "status_path": status_path,
            "params": "{}",
            "status": "running",
            "progress": 0,
            "row_count": 0,
            "file_name": "f.csv",
            "object_key": f"exports/{shop_id}/{RUNNING_JOB}/f.csv",
            "created_at": ids.iso(ids.now()),
            "expires_at": int(ids.now().timestamp()) + 3600,
        }
    )


def preorder_offer(shop_id: str) -> str:
    """A preorder offer: selling plan 7001 on variant 101, half paid at checkout. Returns its id."""
    from backinstock_tools.testkit.builders import create_offer

    body = {
        "name": "Drop",
        "selling_plan_ids": [7001],
        "variants": [{"shopify_variant_id": 101}],
        "deposit": {"type": "percentage", "value": 50},
    }
    return create_offer(shop_id, body)


def running_campaign(shop_id: str, variant_id: int = 103, product_id: int = 10) -> str:
    """A running restock campaign of the shop (its record and the variant's lock, as a start writes them), with no
    workflow execution behind it: it stays running, so pause, resume and cancel all apply. Returns its id."""
    from backinstock import deps, ids

    campaign_id = ids.uuid7(ids.now())
    campaign = {
        "campaign_id": campaign_id,
        "shop_id": shop_id,
        "variant_id": variant_id,
        "product_id": product_id,
        "restocked_quantity": 5,
        "episode": 1,
        "started_at": ids.iso(ids.now()),
        "batches": 0,
        "queued": 0,
        "trigger": "webhook",
    }
    assert deps.restocks().restocks.claim_campaign(shop_id, variant_id, campaign)
    return campaign_id


class _Over(dict[str, str]):
    """`base` with some values replaced (a `Fresh` base keeps making the others on demand)."""

    def __init__(self, base: Mapping[str, str], **over: str) -> None:
        super().__init__(over)
        self.base = base

    def __missing__(self, name: str) -> str:
        return self.base[name]


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
