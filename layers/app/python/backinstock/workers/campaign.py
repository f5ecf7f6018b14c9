"""The campaign workflow's task (Step Functions -> Lambda): `{"phase": "batch"|"abandon", "campaign": state}` ->
the next state (see `services.campaigns` and `workflows/campaign.asl.json`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from backinstock import deps
from backinstock.services import campaigns

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = event["campaign"]
    logger.append_keys(campaign_id=state.get("campaign_id"), shop_id=state.get("shop_id"))
    if event.get("phase") == "abandon":
        return campaigns.abandon(deps.campaigns(), state)
    return campaigns.step(deps.campaigns(), state)
