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
