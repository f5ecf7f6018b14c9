"""SQS send queue -> send worker (notify, bulk notify, opt-in mail, transfer pages)."""

from backinstock.workers.send import handler

__all__ = ["handler"]
