"""What clients and Shopify do during the run: requests through the local gateway, signed webhooks, and the
client operations interleaved with the pipeline (creates, deletes, unsubscribes, orders, restocks, bulk
notify, transfer, exports).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from typing import Any

from backinstock_tools.chaos.model import FAULTED_ATTEMPTS, WEBHOOK_SECRET, Run, ShopRun, Signup
from backinstock_tools.testkit.builders import signup_body, webhook_headers


# ------------------------------------------------------------------------------------------------- requests
def _request(
    r: Run, method: str, path: str, api_key: str | None, body: Any = None, *, query: str = "", retries: int = 5
) -> tuple[int, Any]:
    """A client's request through the local gateway; a 5xx (a fault) is retried with the same Idempotency-Key."""
    from backinstock import registry

    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.UUID(int=r.rng.getrandbits(128)))}
    if api_key:
        headers["X-Auth-Token"] = api_key
    text = json.dumps(body) if body is not None else None
    status, answer = 0, None
    for attempt in range(retries + 1):
        with r.faults.invocation("api", attempt < FAULTED_ATTEMPTS):
            response = _gateway(method, registry.BASE_PATH + path + query, headers, text)
        status = int(response["statusCode"])
        try:
            answer = json.loads(response.get("body") or "null")
        except ValueError:
            answer = response.get("body")
        if status < 500:
            break
        r.figures["client_retries"] += 1
    return status, answer


def _gateway(method: str, path: str, headers: dict[str, str], body: str | None) -> dict[str, Any]:
    """The local gateway; a failure outside the action's handler (the authorizer's lookup) is API Gateway's 500."""
    from backinstock_tools.local.server import handle

    try:
        return handle(method, path, headers, body)
    except Exception:
        return {"statusCode": 500, "body": json.dumps({"errors": ["Internal server error (the authorizer failed)"]})}


def _webhook(r: Run, s: ShopRun, topic: str, payload: dict[str, Any], event_id: str | None = None) -> tuple[int, Any]:
    """Shopify's delivery: signed with the shop's secret, retried (same event id) until it is answered 2xx."""
    from backinstock import registry

    body = json.dumps(payload)
    event_id = event_id or str(uuid.UUID(int=r.rng.getrandbits(128)))
    headers = {"Content-Type": "application/json", **webhook_headers(topic, s.domain, WEBHOOK_SECRET, body, event_id)}
    status, answer = 0, None
    for attempt in range(8):  # Shopify retries 8 times
        with r.faults.invocation("api", attempt < FAULTED_ATTEMPTS):
            response = _gateway("POST", registry.BASE_PATH + "/webhooks/shopify", headers, body)
        status, answer = int(response["statusCode"]), json.loads(response.get("body") or "null")
        if status < 500:
            break
        r.figures["webhook_redeliveries"] += 1
    return status, answer


# ----------------------------------------------------------------------------------------------- client ops
def _client_ops(r: Run) -> list[Callable[[], None]]:
    c, rng = r.config, r.rng
    one, two = r.shops
    ops: list[Callable[[], None]] = []
    kinds = ["create"] * 3 + ["delete"] * 3 + ["unsubscribe"] * 3 + ["order"] * 2 + ["restock_noise"]
    for _ in range(c.client_ops):
        kind = rng.choice(kinds)
        shop = one if rng.random() < 0.8 else two
        ops.append(functools.partial(_client_op, r, kind, shop))
    ops.insert(min(len(ops), 3), lambda: _restock(r, one))
    ops.insert(min(len(ops), 8), lambda: _restock(r, two))
    ops.insert(min(len(ops), 12), lambda: _bulk_notify(r, one))
    ops.insert(min(len(ops), 16), lambda: _transfer(r, one))
    ops.insert(min(len(ops), 20), lambda: _export(r, one, "/back_in_stock/signups/export", {"variant_id": 101}))
    ops.append(lambda: _export(r, one, "/back_in_stock/reports/summary/export", None))
    ops.append(lambda: _export(r, two, "/back_in_stock/signups/export", {}))
    ops.append(lambda: _bulk_notify(r, one, resend=True))  # again, inside the spacing window: no second alert
    return ops


def _restock(r: Run, s: ShopRun) -> None:
    """The restock (delivered twice by Shopify, same event id), then a late stale sold-out level."""
    level = {
        "inventory_item_id": s.inventory_item,
        "location_id": 1,
        "available": 50,
        "updated_at": "2026-11-27T10:00:00Z",
    }
    s.restock_tick = r.faults.tick
    r.eligible[s.shop_id] = {
        i
        for i, g in r.signups.items()
        if g.shop == s.shop_id and g.variant == s.restock_variant and g.gone_tick is None
    }
    event = str(uuid.UUID(int=r.rng.getrandbits(128)))
    _webhook(r, s, "inventory_levels/update", level, event)
    _webhook(r, s, "inventory_levels/update", level, event)
    stale = {**level, "available": 0, "updated_at": "2026-11-27T09:00:00Z"}
    _webhook(r, s, "inventory_levels/update", stale)


def _client_op(r: Run, kind: str, s: ShopRun) -> None:
    rng = r.rng
    mine = [g for g in r.signups.values() if g.shop == s.shop_id and g.gone_tick is None]
    if kind == "create":
        variant = s.restock_variant if rng.random() < 0.6 else s.restock_variant + 3
        contact = f"n{rng.getrandbits(48):012x}@example.com"
        status, body = _request(
            r,
            "POST",
            "/back_in_stock/signups",
            s.api_key,
            signup_body(variant, contact),
        )
        if status == 201:
            r.signups[body["id"]] = Signup(s.shop_id, body["id"], contact, variant, r.faults.tick)
        r.figures[f"create_{status}"] += 1
    elif kind in ("delete", "unsubscribe") and mine:
        g = rng.choice(sorted(mine, key=lambda x: x.contact))
        if kind == "delete":
            status, _ = _request(r, "DELETE", f"/back_in_stock/signups/{g.signup_id}", s.api_key)
        else:
            from backinstock import deps, ids
            from backinstock.services import links

            token = links.make_token(deps.link_secret(), s.shop_id, g.signup_id, "unsubscribe", ids.now())
            status, _ = _request(r, "POST", "/back_in_stock/unsubscribe", None, query=f"?token={token}")
        # A 404 to a delete of a signup this run knows is there: an earlier attempt of the same request deleted it
        # (its answer was lost to a fault and the client retried).
        if status < 300 or (kind == "delete" and status == 404):
            g.gone_tick, g.how = r.faults.tick, kind
        r.figures[f"{kind}_{status}"] += 1
    elif kind == "order":
        alerted = sorted({to for _, to, subject in r.faults.delivered if "back in stock" in subject})
        if not alerted:
            return
        r.orders += 1
        contact = rng.choice(alerted)
        order: dict[str, Any] = {
            "id": 5_000_000 + r.orders,
            "name": f"#{1000 + r.orders}",
            "email": contact,
            "created_at": _now_iso(),
            "currency": "USD",
            "line_items": [
                {
                    "id": r.orders,
                    "variant_id": s.restock_variant,
                    "product_id": s.product,
                    "price": "20.00",
                    "quantity": 1,
                    "discount_allocations": [],
                }
            ],
        }
        owner = next(
            (sh for sh in r.shops if any(g.contact == contact and g.shop == sh.shop_id for g in r.signups.values())), s
        )
        order["line_items"][0].update(variant_id=owner.restock_variant, product_id=owner.product)
        _webhook(r, owner, "orders/create", order)
        r.figures["orders"] += 1
    elif kind == "restock_noise":  # another variant's stock moves: no restock of the waiting variants
        level = {
            "inventory_item_id": s.inventory_item + 3,
            "location_id": 1,
            "available": rng.randint(0, 3),
            "updated_at": _now_iso(),
        }
        _webhook(r, s, "inventory_levels/update", level)


def _bulk_notify(r: Run, s: ShopRun, resend: bool = False) -> None:
    """The side variant's signups notified; `resend`: again, with allow_resend, moments later (the resend spacing
    window holds or joins each: still one alert per customer)."""
    ids_ = sorted(g.signup_id for g in r.signups.values() if g.shop == s.shop_id and g.variant == s.restock_variant + 1)
    body = {"signup_ids": ids_[:20], **({"allow_resend": True} if resend else {})}
    status, _ = _request(r, "POST", "/back_in_stock/signups/bulk_notify", s.api_key, body)
    r.figures[f"bulk_notify_{'resend_' if resend else ''}{status}"] += 1


def _transfer(r: Run, s: ShopRun) -> None:
    body = {
        "from_shopify_variant_id": s.restock_variant + 2,
        "to_shopify_variant_id": s.restock_variant + 3,
        "to_shopify_product_id": s.product,
    }
    status, _ = _request(r, "POST", "/back_in_stock/signups/transfer", s.api_key, body)
    if status < 300:
        for g in r.signups.values():
            if g.shop == s.shop_id and g.variant == s.restock_variant + 2:
                g.variant = s.restock_variant + 3
    r.figures[f"transfer_{status}"] += 1


def _export(r: Run, s: ShopRun, path: str, body: Any) -> None:
    status, answer = _request(r, "POST", path, s.api_key, body)
    r.figures[f"export_{status}"] += 1
    if status == 202:
        r.export_jobs.append((s.shop_id, s.api_key, answer["job_id"]))


def _now_iso() -> str:
    from backinstock import ids

    return ids.iso(ids.now())
