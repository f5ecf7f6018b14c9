"""Export workflow task: stream a report or the waitlist into a CSV file in S3 (run), or record a failure (fail)."""

import backinstock
from backinstock.workers.exports import handler

backinstock.loaded()  # the entry point is built: resume garbage collection (see backinstock/__init__.py)

__all__ = ["handler"]
