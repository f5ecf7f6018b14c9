"""The campaign workflow's task (Step Functions -> Lambda): `{"phase": "batch"|"abandon", "campaign": state}` ->
the next state (see `services.campaigns` and `workflows/campaign.asl.json`)."""

from __future__ import annotations

from typing import Any

from backinstock import deps, observability
from backinstock.services import campaigns

logger = observability.root_logger()


metrics = observability.metrics()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = event["campaign"]
    logger.append_keys(campaign_id=state.get("campaign_id"), shop_id=state.get("shop_id"))
    observability.correlate(logger, state.get("campaign_id"))
    if event.get("phase") == "abandon":
        return campaigns.abandon(deps.campaigns(), state)
    try:
        if first_step(state):
            name = observability.per_trigger(observability.RESTOCKS_STARTED, state.get("trigger", "webhook"))
            observability.count(metrics, name)
        return campaigns.step(deps.campaigns(), state)
    finally:
        observability.flush(metrics)


def first_step(state: dict[str, Any]) -> bool:
    """The first step of a campaign (as `campaigns.start` hands it over): a restock started. A campaign paused
    before its first batch and resumed starts from this state again, and counts twice."""
    return not state.get("batches") and state.get("cursor") is None and not state.get("in_batch")
