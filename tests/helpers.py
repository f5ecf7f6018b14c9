"""What only the HTTP suites need beside the test kit. Builders, requests, samples and fakes are the kit's
(`backinstock_tools.testkit`), shared with the benches and the chaos run."""

from __future__ import annotations

from typing import Any

from backinstock import registry


def v1_base(shop: dict[str, Any]) -> dict[str, Any]:
    """A shop (or server) dict whose `base_url` is the v1 base: `tests/e2e` and `tests/security` helpers then send
    their paths to the v1 routes."""
    return {**shop, "base_url": shop["base_url"].replace(registry.BASE_PATH, registry.V1_BASE_PATH)}
