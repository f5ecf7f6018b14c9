"""EventBridge schedule -> scheduled summary emails to merchants (daily, weekly, monthly)."""

import backinstock
from backinstock.workers.scheduled import handler

backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)

__all__ = ["handler"]
