"""`backinstock shops connect-shopify`: the shop's Shopify secrets live in Secrets Manager, never in the table."""

from __future__ import annotations

import json

import pytest

from backinstock import aws, deps
from backinstock.errors import ValidationFailed
from backinstock.repositories.shop_secrets import secret_name
from backinstock.services import shops
from backinstock_tools import cli
from backinstock_tools.testkit import Shop

WEBHOOK_SECRET = "whsec-0123456789abcdef"
TOKEN = "shpat_0123456789abcdef"


def _table_text(shop_id: str) -> str:
    items = aws.client("dynamodb").query(
        TableName=deps.shops().table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"SHOP#{shop_id}"}},
    )["Items"]
    return json.dumps(items)


def test_connect_stores_secrets_in_secrets_manager_only(shop: Shop) -> None:
    result = shops.connect_shopify(
        deps.shops(), deps.shop_secrets(), shop.id, WEBHOOK_SECRET, TOKEN, email="owner@example.com"
    )
    assert result["email"] == "owner@example.com" and result["shopify_connected_at"]
    assert WEBHOOK_SECRET not in json.dumps(result) and TOKEN not in json.dumps(result)
    stored = json.loads(aws.client("secretsmanager").get_secret_value(SecretId=secret_name(shop.id))["SecretString"])
    assert stored == {"webhook_secret": WEBHOOK_SECRET, "access_token": TOKEN}
    assert WEBHOOK_SECRET not in _table_text(shop.id) and TOKEN not in _table_text(shop.id)
    credentials = deps.shop_secrets().get(shop.id)
    assert credentials is not None and WEBHOOK_SECRET not in repr(credentials)


def test_reconnect_replaces_the_secrets(shop: Shop) -> None:
    shops.connect_shopify(deps.shops(), deps.shop_secrets(), shop.id, WEBHOOK_SECRET, TOKEN)
    shops.connect_shopify(deps.shops(), deps.shop_secrets(), shop.id, WEBHOOK_SECRET + "-2", TOKEN + "-2")
    credentials = deps.shop_secrets().get(shop.id, max_age=0)
    assert credentials is not None and credentials.webhook_secret == WEBHOOK_SECRET + "-2"


def test_connect_rejects_short_secrets_and_changes_nothing(shop: Shop) -> None:
    with pytest.raises(ValidationFailed) as raised:
        shops.connect_shopify(deps.shops(), deps.shop_secrets(), shop.id, "short", "also-short", email="x")
    assert len(raised.value.problems) == 3
    assert deps.shop_secrets().get(shop.id) is None
    assert deps.shops().require(shop.id).shopify_connected_at is None


def test_cli_reads_secrets_from_the_environment(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    assert cli.main(["shops", "connect-shopify", "--shop-id", shop.id]) == 0
    out = capsys.readouterr().out
    assert WEBHOOK_SECRET not in out and TOKEN not in out
    assert deps.shop_secrets().get(shop.id, max_age=0) is not None


def test_domain_lookup_and_key_references(shop: Shop, other_shop: Shop) -> None:
    repo = deps.shops()
    assert repo.shop_id_for_domain("FIRST-shop.myshopify.com ") == shop.id
    assert repo.shop_id_for_domain("nobody.myshopify.com") is None
    old_hash = repo.require(shop.id).api_key_hash
    shops.rotate_key(repo, shop.id)
    new_hash = repo.require(shop.id).api_key_hash
    text = _table_text(shop.id)
    assert f"APIKEY#{old_hash}" in text and f"APIKEY#{new_hash}" in text
    assert repo.require(other_shop.id).api_key_hash not in text
