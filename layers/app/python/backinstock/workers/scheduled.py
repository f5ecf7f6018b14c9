"""Scheduled merchant reports: an EventBridge rule per period invokes this function with `{"period": "daily"}`
(`weekly`, `monthly`); locally `backinstock reports send-scheduled --period P` runs the same code."""

from __future__ import annotations

from typing import Any

from backinstock import deps, observability
from backinstock.services import merchant_alerts

logger = observability.root_logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return merchant_alerts.send_scheduled_reports(deps.merchant_alerts(), str(event.get("period", "")))
