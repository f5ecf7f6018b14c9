"""Preorders in the local run: an offer created with the CLI and read over HTTP; `backinstock simulate` posts signed
preorder webhooks (an order, a failed and a collected balance, a cancellation, a refund); the webhook worker and the
stream poller turn them into the report counters that `backinstock preorders counters` reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import cli, eventually, http

pytestmark = pytest.mark.e2e
OATMEAL = 40002  # a demo variant


def run(server: dict[str, Any], *args: str) -> Any:
    result = cli(server, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_simulated_preorder_reaches_the_counters(server: dict[str, Any]) -> None:
    shop_id = server["shop_id"]
    offer = run(
        server,
        *("offers", "create", "--shop-id", shop_id, "--name", "Oatmeal restock", "--selling-plan-id", "88001"),
        *("--variant-id", str(OATMEAL), "--deposit-percent", "25", "--balance-due-days", "14"),
    )
    status, read, _ = http(server, "GET", f"/preorders/offers/{offer['id']}")
    assert status == 200 and read == offer and read["variants"][0]["product_title"] == "Merino Beanie"

    placed = run(
        server,
        *("simulate", "preorder", "--variant-id", str(OATMEAL), "--email", "e2e-pre@example.com"),
        *("--quantity", "2", "--price", "30.00", "--presentment-currency", "EUR", "--rate", "0.5"),
    )
    assert placed["body"]["status"] == "queued" and placed["deposit"] == "15.00"
    order_id = str(placed["order_id"])

    def counters(*extra: str) -> dict[str, Any]:
        return dict(
            run(server, "preorders", "counters", "--shop-id", shop_id, "--offer-id", offer["id"], *extra)["counters"]
        )

    def counted() -> dict[str, Any] | None:
        found = counters()  # the order's counters, then its customer's (their row's creation is a later record)
        return found if found.get("customers") else None

    seen = eventually(counted, "the stream poller to count the preorder and its customer", timeout=90)
    assert seen["orders"] == 1 and seen["revenue"] == "60.00" and seen["deposits_collected"] == "15.00"
    assert seen["balances_outstanding"] == "45.00" and seen["customers"] == 1
    assert counters("--currency", "EUR")["revenue"] == "30.00"

    run(server, "simulate", "balance", "--order-id", order_id, "--fail")
    run(server, "simulate", "balance", "--order-id", order_id)  # everything still owed: 45.00
    run(server, "simulate", "cancel", "--order-id", order_id, "--reason", "customer")
    run(server, "simulate", "refund", "--order-id", order_id, "--amount", "10.00")

    def settled() -> dict[str, Any] | None:
        found = counters()
        return found if found.get("refunds_issued") and found.get("cancelled_orders") else None

    done = eventually(settled, "the balance, cancellation and refund to count", timeout=90)
    assert (done["balances_collected"], done["collected_count"]) == ("45.00", 1)
    assert (done["balances_failed"], done["failed_count"]) == ("45.00", 1)
    assert (done["cancelled_orders"], done["cancelled_reason_customer"], done["refunds_issued"]) == (1, 1, "10.00")
    assert "balances_outstanding" not in done
