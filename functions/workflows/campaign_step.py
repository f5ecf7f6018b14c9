"""Step Functions task of the restock campaign workflow: one batch of sends (or closing a failed campaign)."""

import backinstock
from backinstock.workers.campaign import handler

backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)

__all__ = ["handler"]
