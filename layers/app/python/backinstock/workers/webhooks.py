"""The webhook worker: consumes verified Shopify webhooks (queued by `services.webhooks`) with Powertools batch
processing and partial batch failures. Each topic's work is idempotent, so SQS's at-least-once redelivery (and a
retry after a partial failure) changes nothing twice; a message that keeps failing lands in the alarmed DLQ.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from backinstock import deps, observability
from backinstock.repositories.shops import Shop

logger = observability.root_logger()
metrics = observability.metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _inventory(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import restocks

    return restocks.on_inventory_level(deps.restocks(), shop, payload)


def _product(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import catalog

    return catalog.on_product(deps.catalog(), shop.shop_id, payload)


def _product_delete(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import catalog

    return catalog.on_product_delete(deps.catalog(), shop.shop_id, payload)


def _order(shop: Shop, payload: dict[str, Any]) -> Any:
    """A new order: back-in-stock attribution and the preorder ledger, each idempotent (a retry after one of them
    failed redoes the other harmlessly)."""
    from backinstock.services import attribution, preorder_ledger

    result = attribution.attribute_order(deps.attribution(), shop, payload)
    preorders = preorder_ledger.on_order_created(deps.ledger(), shop, payload)
    return {
        "attributed": len(result["attributions"]),
        "tagged": result["tagged"],
        "preorder_lines": preorders["preorder_lines"],
    }


def _order_cancelled(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import preorder_ledger

    return preorder_ledger.on_cancelled(deps.ledger(), shop, payload)


def _transaction(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import preorder_ledger

    return preorder_ledger.on_transaction(deps.ledger(), shop, payload)


def _refund(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import preorder_ledger

    return preorder_ledger.on_refund(deps.ledger(), shop, payload)


def _data_request(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import privacy

    return privacy.customer_data_request(deps.privacy(), shop, payload)["counts"]


def _customer_redact(shop: Shop, payload: dict[str, Any]) -> Any:
    from backinstock.services import privacy

    return privacy.redact_customer(deps.privacy(), shop, payload)


TOPIC_HANDLERS: dict[str, Callable[[Shop, dict[str, Any]], Any]] = {
    "inventory_levels/update": _inventory,
    "products/create": _product,
    "products/update": _product,
    "products/delete": _product_delete,
    "orders/create": _order,
    "orders/cancelled": _order_cancelled,
    "order_transactions/create": _transaction,
    "refunds/create": _refund,
    "customers/data_request": _data_request,
    "customers/redact": _customer_redact,
}


def handle_message(message: dict[str, Any]) -> Any:
    topic, shop_id = message["topic"], message["shop_id"]
    logger.append_keys(topic=topic, shop_id=shop_id, event_id=message.get("event_id"))
    if topic == "shop/redact":  # the shop may be half purged already (a retry): no shop lookup
        from backinstock.services import privacy

        return privacy.redact_shop(deps.privacy(), shop_id, message["payload"])
    shop = deps.shops().get(shop_id)
    if shop is None:
        logger.warning("webhook for a shop that no longer exists dropped")
        return "dropped"
    handler = TOPIC_HANDLERS.get(topic)
    if handler is None:
        raise ValueError(f"no handler for topic {topic!r}")
    return handler(shop, message["payload"])


def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    observability.correlate(logger, message.get("event_id") or record.message_id)
    outcome = handle_message(message)
    logger.info("webhook processed", extra={"outcome": outcome})
    metrics.add_metric(name=f"Webhook_{message['topic'].replace('/', '_')}", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
