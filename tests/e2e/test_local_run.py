"""The local run as a user meets it: `backinstock serve` over HTTP, and the admin CLI against its backend."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from backinstock.infra_spec import UNAUTHORIZED_MESSAGE
from tests.e2e.conftest import cli, http

pytestmark = pytest.mark.e2e


def test_info_file_names_the_base_url_backend_and_demo_shop(server: dict[str, Any]) -> None:
    assert server["base_url"].endswith("/api/v2/external")
    assert server["aws_endpoint"].startswith("http://127.0.0.1:")
    assert server["shop_id"] and server["api_key"].startswith("bis_")


def test_every_settings_route_over_http(server: dict[str, Any]) -> None:
    status, full, headers = http(server, "GET", "/back_in_stock/settings")
    assert status == 200 and set(full) == {"channels", "delivery", "compliance", "tagging", "alerts"}
    assert headers["Content-Type"].startswith("application/json")
    for capability in full:
        status, block, _ = http(server, "GET", f"/back_in_stock/settings/{capability}")
        assert (status, block) == (200, full[capability])
    patches = {
        "channels": {"push": {"enabled": False}},
        "delivery": {"batching": {"enabled": True, "mode": "fixed", "batch_size": 50}},
        "compliance": {"optin_required": True},
        "tagging": {"order_tags": {"enabled": True, "tag": "restock-recovered"}},
        "alerts": {"signups_threshold": {"count": 25, "notify": True}, "scheduled_reports": {"weekly": True}},
    }
    for capability, patch in patches.items():
        status, block, _ = http(server, "PATCH", f"/back_in_stock/settings/{capability}", patch)
        assert status == 200, block
    status, full, _ = http(server, "PATCH", "/back_in_stock/settings", {"delivery": {"stock_threshold": 3}})
    assert status == 200
    assert full["channels"]["push"]["enabled"] is False
    assert full["delivery"]["batching"]["batch_size"] == 50 and full["delivery"]["stock_threshold"] == 3
    assert full["tagging"]["order_tags"] == {"enabled": True, "tag": "restock-recovered"}
    assert full["alerts"]["scheduled_reports"]["weekly"] is True
    # Put every setting back: the other tests on this server (any order) expect what `serve` starts with
    from backinstock.models.settings import Settings

    defaults = Settings().model_dump(mode="json", exclude_none=True)
    defaults["channels"]["sms"].pop("verification", None)  # read-only: Shopify's verification status
    status, reset, _ = http(server, "PATCH", "/back_in_stock/settings", defaults)
    assert status == 200 and reset["delivery"]["batching"]["enabled"] is False, reset


def test_bad_requests_over_http(server: dict[str, Any]) -> None:
    status, body, _ = http(server, "PATCH", "/back_in_stock/settings/delivery", raw=b"{oops")
    assert status == 422 and "not valid JSON" in body["errors"][0]
    status, body, _ = http(server, "GET", "/back_in_stock/settings", api_key=None)
    assert (status, body["errors"]) == (401, [UNAUTHORIZED_MESSAGE]) and body["request_id"]
    status, body, _ = http(server, "GET", "/back_in_stock/unknown")
    assert status == 404 and body["errors"][0].startswith("No v2 action registered for GET")
    # A typo names the nearest routes and /help
    status, body, _ = http(server, "POST", "/back_in_stock/signup", {})
    assert status == 404 and "nearest: GET, POST /api/v2/external/back_in_stock/signups" in body["errors"][0]
    assert body["errors"][0].endswith("every route: GET /api/v2/external/help")
    assert "/api/v2/external/back_in_stock/reports/summary" in http(server, "GET", "/reports/sumary")[1]["errors"][0]
    # 401, 404 and 405 are written compactly, as every other answer (one serializer)
    for method, path, key, code in (
        ("GET", "/back_in_stock/settings", None, 401),
        ("GET", "/back_in_stock/unknown", True, 404),
        ("DELETE", "/back_in_stock/settings", True, 405),
        ("GET", "/back_in_stock/settings", True, 200),
    ):
        headers = {"X-Auth-Token": server["api_key"]} if key else {}
        request = urllib.request.Request(server["base_url"] + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode()
        assert status == code and text == json.dumps(json.loads(text), separators=(",", ":")), (path, text)


def test_cli_creates_a_shop_and_rotates_its_key_against_the_local_backend(server: dict[str, Any]) -> None:
    created = cli(server, "shops", "create", "--domain", "cli-shop.myshopify.com", "--currency", "EUR")
    assert created.returncode == 0, created.stderr
    shop = json.loads(created.stdout)
    assert set(shop) == {"shop_id", "domain", "api_key"}
    assert http(server, "GET", "/back_in_stock/settings", api_key=shop["api_key"])[0] == 200

    rotated = cli(server, "shops", "rotate-key", "--shop-id", shop["shop_id"])
    assert rotated.returncode == 0, rotated.stderr
    new_key = json.loads(rotated.stdout)["api_key"]
    assert http(server, "GET", "/back_in_stock/settings", api_key=shop["api_key"])[0] == 401
    assert http(server, "GET", "/back_in_stock/settings", api_key=new_key)[0] == 200

    duplicate = cli(server, "shops", "create", "--domain", "cli-shop.myshopify.com")
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr


def test_the_demo_shop_starts_with_a_catalog_and_a_waitlist(server: dict[str, Any]) -> None:
    variant_ids = server["demo_variant_ids"]
    assert len(variant_ids) == 6
    banner = Path(server["log_file"]).read_text()
    assert all(str(v) in banner for v in variant_ids) and "backinstock outbox" in banner
    status, listed, _ = http(server, "GET", "/back_in_stock/signups?per_page=200")
    # The server is shared by this module's tests (in any order under xdist): the demo's seven are the oldest
    seeded = sorted(listed["signups"], key=lambda s: (s["created_at"], s["id"]))[:7]
    assert status == 200 and listed["meta"]["total_count"] >= 7
    assert sorted(s["channel"] for s in seeded) == ["email"] * 5 + ["sms"] * 2
    assert {s["variant"]["shopify_variant_id"] for s in seeded} <= set(variant_ids)
    assert all(s["variant"]["title"] for s in seeded)


def test_cli_catalog_add_refuses_an_unknown_shop(server: dict[str, Any]) -> None:
    added = cli(server, "catalog", "add", "--shop-id", "nope", "--variant-id", "1", "--product-id", "2")
    assert added.returncode == 2 and "not found" in added.stderr


def test_seed_shows_its_progress_and_prints_what_it_wrote(server: dict[str, Any]) -> None:
    created = cli(server, "shops", "create", "--domain", "seeded-shop.myshopify.com")
    shop_id = json.loads(created.stdout)["shop_id"]
    seeded = cli(server, "seed", "--shop-id", shop_id, "--signups", "4", "--preorders", "2", "--days", "10")
    assert seeded.returncode == 0, seeded.stderr
    progress = [line for line in seeded.stderr.splitlines() if line.startswith("seed: ")]
    assert [line.split(" (")[0] for line in progress] == [
        "seed: signups 1/4",
        "seed: signups 2/4",
        "seed: signups 3/4",
        "seed: signups 4/4",
        "seed: preorders 1/2",
        "seed: preorders 2/2",
    ]
    counts = json.loads(seeded.stdout)  # stdout stays the JSON summary
    assert (counts["shop_id"], counts["signups"], counts["preorders"]) == (shop_id, 4, 2)
