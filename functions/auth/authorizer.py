"""API Gateway Lambda authorizer: X-Auth-Token (or Authorization: Bearer) -> shop id."""

import backinstock
from backinstock.api.auth import handler

backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)

__all__ = ["handler"]
