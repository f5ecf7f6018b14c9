"""Export workflow task: stream a report or the waitlist into a CSV file in S3 (run), or record a failure (fail)."""

from backinstock.workers.exports import handler

__all__ = ["handler"]
