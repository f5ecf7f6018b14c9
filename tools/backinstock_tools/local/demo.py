"""Demo data of the local run: the demo shop gets a small catalog and a waitlist, so every signups route can be
tried with curl right after `make run`. Signups are created through the real service, as the API creates them."""

from __future__ import annotations

from dataclasses import dataclass

from backinstock import deps
from backinstock.models.signups import SignupCreate
from backinstock.services.signups import create_signup


@dataclass(frozen=True)
class DemoVariant:
    variant_id: int
    product_id: int
    title: str
    product_title: str
    handle: str

    @property
    def inventory_item_id(self) -> int:
        return self.variant_id * 10  # Shopify's inventory item of the variant (inventory webhooks name it)


CATALOG = (
    DemoVariant(40001, 9001, "Charcoal", "Merino Beanie", "merino-beanie"),
    DemoVariant(40002, 9001, "Oatmeal", "Merino Beanie", "merino-beanie"),
    DemoVariant(40011, 9002, "US 9", "Trail Runner", "trail-runner"),
    DemoVariant(40012, 9002, "US 10", "Trail Runner", "trail-runner"),
    DemoVariant(40013, 9002, "US 11", "Trail Runner", "trail-runner"),
    DemoVariant(40021, 9003, "Default Title", "Canvas Tote", "canvas-tote"),
)

MERCHANT_EMAIL = "owner@demo-shop.example"  # the demo merchant: alerts and reports go here

SIGNUPS = (
    SignupCreate(channel="email", shopify_variant_id=40001, email="jane@example.com", name="Jane Doe"),
    SignupCreate(channel="email", shopify_variant_id=40001, email="omar@example.com", name="Omar Haddad"),
    SignupCreate(channel="email", shopify_variant_id=40002, email="li@example.com", name="Li Wei", quantity=2),
    SignupCreate(channel="email", shopify_variant_id=40012, email="jane@example.com", name="Jane Doe"),
    SignupCreate(channel="email", shopify_variant_id=40021, email="sam@example.com"),
    SignupCreate(channel="sms", shopify_variant_id=40011, phone="+15555550101", name="Ana Souza"),
    SignupCreate(channel="sms", shopify_variant_id=40013, phone="+15555550102"),
)


def put_catalog(shop_id: str) -> None:
    """Put (or put back) the demo catalog in the shop, inventory item ids included: inventory webhooks restock."""
    catalog = deps.catalog()
    for v in CATALOG:
        catalog.put_variant(
            shop_id,
            v.variant_id,
            v.product_id,
            v.title,
            v.product_title,
            v.handle,
            inventory_item_id=v.inventory_item_id,
        )


def seed(shop_id: str) -> list[DemoVariant]:
    """Put the demo catalog and waitlist in the shop. Returns the catalog."""
    put_catalog(shop_id)
    waitlist = deps.waitlist()
    for signup in SIGNUPS:
        create_signup(waitlist, shop_id, signup)
    return list(CATALOG)
