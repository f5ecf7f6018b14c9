"""SQS send queue -> send worker (notify, bulk notify, opt-in mail, transfer pages)."""

import backinstock
from backinstock.workers.send import handler

backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)

__all__ = ["handler"]
