"""Unit tests: pure logic. Sockets are off, so nothing here can reach AWS, moto or the network by accident."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_socket
import urllib3  # noqa: F401  (probes IPv6 with a socket at import: let it do so before sockets go off)


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture(autouse=True)
def _rate_limits_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handlers invoked here take their rate-limit points from memory, not from DynamoDB (sockets are off)."""
    from backinstock import deps
    from backinstock.services.ratelimits import Limiter
    from backinstock_tools.testkit.fakes import MemoryRateLimitStore

    limiter = Limiter(MemoryRateLimitStore())
    monkeypatch.setattr(deps, "rate_limiter", lambda: limiter)
