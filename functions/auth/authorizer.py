"""API Gateway Lambda authorizer: X-Auth-Token (or Authorization: Bearer) -> shop id."""

from backinstock.api.auth import handler

__all__ = ["handler"]
