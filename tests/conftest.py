"""Shared fixtures. Builders, requests and samples live in the test kit,
`backinstock_tools.testkit` (shared with the benches and the chaos run).

The environment is set before any boto3 client exists: clients are created lazily (`backinstock.aws`) and
`deps.reset()` forgets them between tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "BackInStock")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "backinstock")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from tests.local_server import server  # noqa: F401  (the session's local run, for tests/e2e and tests/security)
