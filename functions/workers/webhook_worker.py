"""SQS webhook queue -> webhook worker (restocks, catalog, orders, privacy requests)."""

import backinstock
from backinstock.workers.webhooks import handler

backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)

__all__ = ["handler"]
