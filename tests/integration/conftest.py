"""Integration tests run the real handlers and repositories against moto, in process (`mock_aws`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backinstock import deps
from backinstock.local import backend
from backinstock.services import shops

pytestmark = pytest.mark.integration


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    env = backend.local_environment("http://unused")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # mock_aws intercepts in process; no endpoint
    deps.reset()
    with mock_aws():
        for name, value in backend.create_resources().items():
            monkeypatch.setenv(name, value)
        deps.reset()
        yield
    deps.reset()


@pytest.fixture
def shop(aws: None) -> dict[str, Any]:
    return shops.create_shop(deps.shops(), "first-shop.myshopify.com", plan="growth")


@pytest.fixture
def other_shop(aws: None) -> dict[str, Any]:
    return shops.create_shop(deps.shops(), "second-shop.myshopify.com")
