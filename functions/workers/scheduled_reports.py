"""EventBridge schedule -> scheduled summary emails to merchants (daily, weekly, monthly)."""

from backinstock.workers.scheduled import handler

__all__ = ["handler"]
