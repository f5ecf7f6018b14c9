"""The test kit: what tests, benches and the chaos run build their inputs with, in one importable place (never under
`tests/`, so `bench/` and `backinstock_tools.chaos` import it without touching `sys.path`).

- `shops`: `Shop` (a created shop: id, key, domain, plan), `new_shop`, the two-product `CATALOG` and `stock`.
- `gateway`: `call` (a request through the local gateway, in process), `invoke` (an action's handler, as API Gateway
  calls it once the authorizer answered), `event_for`, `context`, `count_calls`.
- `samples`: `sample_request` (a concrete request of any action from its declared `Action.sample`), the
  placeholders it fills (`SAMPLE_PLACEHOLDERS`) and `sample_values` (a shop's values for every placeholder).
- `builders`: signups (`signup`, `signup_body`, `signup_record`), offers, orders, attributions, and Shopify payloads
  (`TEE`, `level`, `webhook_headers`).
- `sqs`: `sqs_event` (what Lambda's SQS event source hands a worker) and `receive_all`.
- `history`: report histories of any size, written cheaply (rollups by the aggregator's own rules), and counters of
  what DynamoDB answers a read.
- `fakes`: `MemoryRateLimitStore`.

Every module imports `backinstock` and the local run lazily enough to be imported before the environment is set
(the tests' conftest sets it first; a bench or the chaos run calls `backend.local_environment` first).
"""

from __future__ import annotations

from backinstock_tools.testkit.shops import CATALOG, Shop, new_shop, stock

__all__ = ["CATALOG", "Shop", "new_shop", "stock"]
