"""Counts, not timers: how many DynamoDB calls each action makes, and that none of them ever Scans. The settings live
on the shop's item (`SHOP#<id>`), which issue 23's shards leave where it was: one GetItem to read, one UpdateItem to
patch."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from backinstock import deps, dispatch, registry
from backinstock_tools.testkit import Shop
from backinstock_tools.testkit.gateway import count_calls

pytestmark = pytest.mark.integration

PATCH_BODIES = {
    "update_settings": {"delivery": {"stock_threshold": 2}, "channels": {"sms": {"enabled": True}}},
    "update_channels_settings": {"sms": {"enabled": True}, "push": {"enabled": False}},
    "update_delivery_settings": {"batching": {"mode": "fixed"}, "locations": {"location_ids": [1, 2]}},
    "update_compliance_settings": {"optin_required": True},
    "update_tagging_settings": {"order_tags": {"enabled": True, "tag": "x"}},
    "update_alerts_settings": {"scheduled_reports": {"weekly": True}},
}


@pytest.fixture
def dynamodb_calls(shop: Shop) -> Counter[str]:
    calls: Counter[str] = Counter()
    count_calls(deps.shops().client, "dynamodb", calls)
    return calls


@pytest.mark.parametrize("action", [a for a in registry.actions() if a.resource == "settings"], ids=lambda a: a.name)
def test_each_settings_action_makes_exactly_one_dynamodb_call(
    action: registry.Action, shop: Shop, dynamodb_calls: Counter[str]
) -> None:
    body = PATCH_BODIES.get(action.name)
    event = dispatch.proxy_event(
        action,
        action.method,
        action.gateway_path(),
        body=json.dumps(body) if body is not None else None,
        shop_id=shop.id,
    )
    response = dispatch.invoke(action, event)
    assert response["statusCode"] == 200, response["body"]
    expected = "GetItem" if action.method == "GET" else "UpdateItem"
    assert dynamodb_calls == Counter({expected: 1})
