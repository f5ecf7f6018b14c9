"""The factory: real repositories and providers, built once per container, on first use."""

from __future__ import annotations

from functools import cache

from backinstock import aws, config
from backinstock.repositories.shops import ShopRepository


@cache
def shops() -> ShopRepository:
    return ShopRepository(config.table_name())


def reset() -> None:
    """Forget built dependencies, clients and the loaded environment (tests change them between cases)."""
    shops.cache_clear()
    config.load.cache_clear()
    aws.reset()
