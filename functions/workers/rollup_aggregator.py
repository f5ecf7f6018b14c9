"""DynamoDB stream of the main table -> report rollups."""

import backinstock
from backinstock.workers.rollups import handler

backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)

__all__ = ["handler"]
