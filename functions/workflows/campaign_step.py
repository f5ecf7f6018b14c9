"""Step Functions task of the restock campaign workflow: one batch of sends (or closing a failed campaign)."""

from backinstock.workers.campaign import handler

__all__ = ["handler"]
