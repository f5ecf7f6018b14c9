"""Schemathesis hooks of the contract fuzzer (loaded by `st run` through SCHEMATHESIS_HOOKS, `test_contract.py`).

They state, for the generator, the rules that JSON Schema cannot express and that the operations' descriptions
write out instead (`contract_rules` of the models): a request the fuzzer means to be valid (positive) is bent to
follow them, so that the check "a schema-valid request is accepted" still runs on every operation with real data
instead of being switched off. Negative requests are left as generated.

- `from` must not be after `to` (every list, report and export with a window);
- a report's window spans at most 366 days, the strictest bucket cap (`to` defaults to today, `from` to 29 days
  before `to`);
- a transfer moves signups to another variant: from_shopify_variant_id and to_shopify_variant_id differ;
- a preorder revenue read counts deposits, balances or both (not neither); by_variant is scoped to offers (a query
  cannot say so in JSON Schema; its export's body does);
- a signup, and a restock started by hand, names a variant of the shop's catalog, and its product if it names one
  (data, not schema: the seeded variant and product, FUZZ_VARIANT_ID and FUZZ_PRODUCT_ID);
- an integer in a JSON body is written without a fraction (`1`, not `1.0`): JSON Schema counts 1.0 as an integer,
  the API refuses it (issue 25: two parsers must not disagree);
- a preorder report's reporting `currency` is one the shop's orders give a rate for (the fuzzer's shop: its own
  currency, USD).

A deprecated v1 route follows the rules of the v2 action it runs.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

import schemathesis
from schemathesis import GenerationMode

MAX_WINDOW_DAYS = 366  # backinstock.models.reports.MAX_WINDOW_DAYS (a test checks they agree)
_REPORTS = ("/reports/", "/reports?")  # report reads and report exports: the windowed operations


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _window(params: dict[str, Any], report: bool) -> None:
    """`from` <= `to`, and for a report at most MAX_WINDOW_DAYS days from `from` to `to` (or to today)."""
    start, end = params.get("from"), params.get("to")
    if report:
        first, last = _day(start), _day(end)
        if first is not None and end is None:  # `to` left out or null: today
            last = min(datetime.now(UTC).date(), first + timedelta(days=MAX_WINDOW_DAYS - 1))
            if last < first:  # a `from` in the future: the window it asks for ends after today
                params["to"] = first.isoformat()
                return
            params["to"] = last.isoformat()
        if first is not None and last is not None:
            if first > last:
                first, last = last, first
            if (last - first).days + 1 > MAX_WINDOW_DAYS:
                first = last - timedelta(days=MAX_WINDOW_DAYS - 1)
            params["from"], params["to"] = first.isoformat(), last.isoformat()
        return  # without `from`, it defaults to 29 days before `to`
    begin, finish = _moment(start), _moment(end)
    if begin is not None and finish is not None and begin > finish:
        params["from"], params["to"] = end, start


def _v2_path(method: str, path: str) -> str:
    """A deprecated v1 route's rules are its v2 action's (`registry.V1`): the v2 path, which the rules below name."""
    from backinstock import registry

    if not path.startswith(registry.V1_BASE_PATH):
        return path
    found = registry.match_v1(method.upper(), path.removeprefix(registry.V1_BASE_PATH))
    return registry.BASE_PATH + found[0].path if found else path


def _whole(value: Any) -> Any:
    """A JSON number with a zero fraction as the integer it means, anywhere in a body."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


@schemathesis.hook
def map_case(ctx: Any, case: Any) -> Any:
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return case
    path = _v2_path(ctx.operation.method, ctx.operation.path)
    report = any(marker in path + "?" for marker in _REPORTS)
    for params in (case.query, case.body):
        if isinstance(params, dict) and ("from" in params or "to" in params):
            _window(params, report)
    for params in (case.query, case.body):
        if not isinstance(params, dict):
            continue
        off = (False, "false")
        revenue = path.endswith(("/reports/revenue", "/reports/revenue/export"))
        if revenue and params.get("include_deposits") in off and params.get("include_balances") in off:
            params["include_deposits"] = True if params is case.body else "true"
        if path.endswith("/reports/by_variant") and not params.get("offer_id") and not params.get("offer_ids[]"):
            params["offer_id"] = os.environ["FUZZ_OFFER_ID"]
        if "/preorders/reports/" in path and params.get("currency") is not None:
            params["currency"] = "USD"
    if isinstance(case.body, dict | list):
        case.body = _whole(case.body)
    body = case.body
    if isinstance(body, dict) and path.endswith(("/back_in_stock/signups", "/back_in_stock/restocks")):
        body["shopify_variant_id"] = int(os.environ["FUZZ_VARIANT_ID"])
        if body.get("shopify_product_id") is not None:
            body["shopify_product_id"] = int(os.environ["FUZZ_PRODUCT_ID"])
    if isinstance(body, dict) and path.endswith("/signups/transfer"):
        source, target = body.get("from_shopify_variant_id"), body.get("to_shopify_variant_id")
        if isinstance(source, int | float) and source == target:
            body["to_shopify_variant_id"] = source + 1 if source < 2**53 else source - 1
    return case
