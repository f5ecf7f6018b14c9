"""DynamoDB stream of the main table -> report rollups."""

from backinstock.workers.rollups import handler

__all__ = ["handler"]
