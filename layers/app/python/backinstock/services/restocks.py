"""Restock detection from `inventory_levels/update`.

A variant restocks when its available quantity, summed over the shop's locations (only `location_ids` when
`delivery.locations.filter_enabled`), rises from below `delivery.stock_threshold` to at least it. Each location's
level is stored only if Shopify's `updated_at` is newer than the stored one (out-of-order and repeated webhooks
change nothing), and the in-stock flip is one conditional write (a restock is detected once, whatever the
concurrency). A restock starts the variant's campaign (`services.campaigns`); dropping below the threshold ends
the episode. Inventory items are mapped to variants by the product webhooks; an unknown item is logged and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from backinstock import ids
from backinstock.models.settings import Locations
from backinstock.repositories.catalog import CatalogRepository
from backinstock.repositories.restocks import RestockRepository
from backinstock.repositories.shops import Shop
from backinstock.services import campaigns
from backinstock.services.attribution import parse_time
from backinstock.services.settings import settings_of

logger = Logger(child=True)


@dataclass(frozen=True)
class Restocks:
    catalog: CatalogRepository
    restocks: RestockRepository
    campaigns: campaigns.Campaigns


def available_total(levels: dict[int, int], locations: Locations) -> int:
    if locations.filter_enabled:
        allowed = set(locations.location_ids)
        levels = {loc: qty for loc, qty in levels.items() if loc in allowed}
    return sum(levels.values())


def on_inventory_level(r: Restocks, shop: Shop, payload: dict[str, Any], now: datetime | None = None) -> str:
    moment = now or ids.now()
    if payload.get("available") is None:
        return "untracked"  # the item's inventory is not tracked: nothing to compare
    item_id, location_id = int(payload["inventory_item_id"]), int(payload["location_id"])
    pointer = r.catalog.variant_of_inventory_item(shop.shop_id, item_id)
    if pointer is None:
        logger.warning("inventory update for an unknown inventory item ignored", extra={"inventory_item_id": item_id})
        return "unknown_item"
    variant_id, product_id = int(pointer["variant_id"]), int(pointer["product_id"])
    updated_at = ids.iso(parse_time(payload.get("updated_at"), moment))
    if not r.restocks.set_level(shop.shop_id, variant_id, location_id, int(payload["available"]), updated_at, item_id):
        return "stale"
    delivery = settings_of(shop).delivery  # once per webhook: the shop's leaves parsed into the settings model
    total = available_total(r.restocks.levels(shop.shop_id, variant_id), delivery.locations)
    at = ids.iso(moment)
    if total < delivery.stock_threshold:
        return "sold_out" if r.restocks.flip_out_of_stock(shop.shop_id, variant_id, total, at) else "out_of_stock"
    episode = r.restocks.flip_in_stock(shop.shop_id, variant_id, total, at)
    if episode is None:
        # Already in stock. If the flip's campaign never started (a crash between the two), start it now.
        state, campaign = (
            r.restocks.state(shop.shop_id, variant_id) or {},
            r.restocks.campaign(shop.shop_id, variant_id),
        )
        episode_now = int(state.get("episode", 0))
        if campaign is not None and int(campaign.get("episode", 0)) >= episode_now:
            return "in_stock"
        episode = episode_now
    logger.info("variant restocked", extra={"variant_id": variant_id, "available": total, "episode": episode})
    started = campaigns.start(r.campaigns, shop, variant_id, product_id, total, episode, moment, delivery)
    return "restocked" if started else "restocked_campaign_running"
