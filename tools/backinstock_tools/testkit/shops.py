"""A created shop, typed, and the catalog the declared samples (`Action.sample`) and the tests name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shop:
    """A shop as `services.shops.create_shop` made it: its id, its API key (shown only then), its domain, its plan."""

    id: str
    key: str
    domain: str
    plan: str = "free"

    @classmethod
    def of(cls, created: dict[str, str], plan: str = "free") -> Shop:
        """From what `create_shop` (or `backinstock shops create`) returns."""
        return cls(id=created["shop_id"], key=created["api_key"], domain=created["domain"], plan=plan)


def new_shop(domain: str, plan: str = "free", **fields: str) -> Shop:
    """A new shop (the application's own `create_shop`, through `deps`)."""
    from backinstock import deps
    from backinstock.services import shops

    return Shop.of(shops.create_shop(deps.shops(), domain, plan=plan, **fields), plan)


# name -> (variant id, product id, variant title, product title, handle): a tee (variants 101, 102) and a mug (201).
# The declared samples (`Action.sample`) name these variants and products.
CATALOG = {
    "small": (101, 10, "Small / Blue", "Classic Tee", "classic-tee"),
    "large": (102, 10, "Large / Blue", "Classic Tee", "classic-tee"),
    "mug": (201, 20, "Default Title", "Camp Mug", "camp-mug"),
}


def stock(shop_id: str) -> dict[str, int]:
    """The shop's catalog: `CATALOG`'s variants. Returns name -> variant id."""
    from backinstock import deps

    repo = deps.catalog()
    for variant, product, title, product_title, handle in CATALOG.values():
        repo.put_variant(shop_id, variant, product, title, product_title, handle)
    return {name: spec[0] for name, spec in CATALOG.items()}
