"""SQS webhook queue -> webhook worker (restocks, catalog, orders, privacy requests)."""

from backinstock.workers.webhooks import handler

__all__ = ["handler"]
