"""What the benchmarks share: a valid request for every action (seeding what it needs: a signup, a notification, a
link token), stub delivery providers, AWS call metering, and a switch for moto's per-transaction table copy.

Everything here runs inside `moto.mock_aws()` with the local backend's resources (`backend.create_resources()`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backinstock.registry import Action
    from backinstock.services.sending import Sender

SIGNUPS = "/back_in_stock/signups"
NOTIFICATIONS = "/back_in_stock/notifications"
# The bench shop's catalog is the test kit's (`testkit.CATALOG`), which the declared samples name.
PRODUCT = 10
VARIANT = 101  # "Classic Tee, Small / Blue"
OTHER_VARIANT = 102  # "Classic Tee, Large / Blue"
WORKER = "workers.send_worker"  # not a registry action: the SQS consumer
AUTHORIZER = "auth.authorizer"

# The settings patches the bench times: each changes a setting (the declared samples of the capability patches are
# empty patches, which answer the block without writing).
PATCH_BODIES: dict[str, dict[str, Any]] = {
    "update_settings": {"delivery": {"stock_threshold": 2}, "compliance": {"optin_required": False}},
    "update_channels_settings": {"push": {"enabled": True}},
    "update_delivery_settings": {"batching": {"enabled": True, "mode": "fixed", "batch_size": 50}},
    "update_compliance_settings": {"optin_required": False},
    "update_tagging_settings": {"order_tags": {"enabled": True}},
    "update_alerts_settings": {"scheduled_reports": {"weekly": True}},
}


# The writes a warm run repeats on one shop with a fresh input per call, with every export start (`Action.export`).
# The others change the shop once for good (a restock started, paused or cancelled) or serve one export job (its
# status, download and cancel): their cold first call is measured.
REPEATABLE_WRITES = frozenset(
    {
        "create_signup",
        "delete_signup",
        "notify_signup",
        "bulk_notify_signups",
        "bulk_delete_signups",
        "transfer_signups",
        "optin_page",
        "confirm_optin",
        "unsubscribe_page",
        "unsubscribe",
        "receive_shopify_webhook",
    }
)
_KEYS: dict[str, str] = {}  # shop id -> API key, of the shops `new_shop` made (the MCP sample sends it)
_ONCE: dict[tuple[str, str], str] = {}  # (shop id, placeholder) -> what a shop can have one of: its offer, its restock


class NoSample(Exception):
    """The action declares no sample request (`Action.sample`; the unit tests fail first)."""


# ------------------------------------------------------------------------------------------------ environment
def use_local_environment(log_level: str | None = None) -> None:
    """The variables Lambda gets, without an endpoint: `mock_aws` intercepts boto3 in process."""
    from backinstock import deps
    from backinstock_tools.local import backend

    env = backend.local_environment("http://unused")
    env.pop("AWS_ENDPOINT_URL")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(env)
    if log_level:
        os.environ["LOG_LEVEL"] = log_level
    deps.reset()


@contextlib.contextmanager
def local_aws() -> Iterator[None]:
    """moto's AWS (`mock_aws`) with the local backend's resources and fresh dependencies; what the set-up prints is
    swallowed."""
    from moto import mock_aws

    from backinstock import deps
    from backinstock_tools.local import backend

    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        backend.create_resources()
        deps.reset()
        yield


def stopped_campaign() -> dict[str, Any]:
    """The one campaign execution (the webhook worker started it) stopped, and its input: the state to step by hand."""
    from backinstock import deps

    sfn = deps.campaigns().workflow.client
    [execution] = sfn.list_executions(stateMachineArn=deps.campaigns().workflow.arn)["executions"]
    state: dict[str, Any] = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    sfn.stop_execution(executionArn=execution["executionArn"])
    return state


def step_to_the_end(state: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """A campaign stepped (`campaigns.step`) until done, as the workflow would: its last state, how many steps."""
    from backinstock import deps
    from backinstock.services import campaigns

    steps = 0
    while not state["done"]:
        state = campaigns.step(deps.campaigns(), state)
        steps += 1
    return state, steps


def new_shop(domain: str, plan: str = "growth") -> dict[str, str]:
    """A shop (growth plan: 10,000 sends a month, so the quota's condition is evaluated but never refuses) with the
    test kit's catalog (`testkit.stock`: a tee's two variants, a mug)."""
    from backinstock import deps
    from backinstock.services import shops
    from backinstock_tools.testkit import stock

    shop = shops.create_shop(deps.shops(), domain, plan=plan)
    stock(shop["shop_id"])
    _KEYS[shop["shop_id"]] = shop["api_key"]
    return shop


# --------------------------------------------------------------------------------------------------- seeding
def new_signup(shop_id: str, variant_id: int = VARIANT) -> str:
    """A pending email signup, through the service as the API creates it (customer, guard, signup)."""
    from backinstock import deps
    from backinstock.models.signups import SignupCreate
    from backinstock.services import signups

    body = SignupCreate(channel="email", shopify_variant_id=variant_id, email=f"b{uuid.uuid4().hex[:16]}@example.com")
    return signups.create_signup(deps.waitlist(), shop_id, body).id


def send_now(shop_id: str, signup_id: str) -> str:
    """Run one send through the worker's rules with stub providers. Returns the notification id."""
    from backinstock import deps
    from backinstock.services import sending
    from backinstock.services.settings import settings_of

    shop = deps.shops().require(shop_id)
    send_id = str(uuid.uuid4())
    outcome = sending.process_send(stub_sender(), shop, settings_of(shop), {"send_id": send_id, "signup_id": signup_id})
    assert outcome.status == "sent", outcome
    claim = deps.notifications().claim(shop_id, signup_id, send_id)
    assert claim is not None
    return str(claim["notification_id"])


def new_notification(shop_id: str) -> str:
    return send_now(shop_id, new_signup(shop_id))


def link_token(shop_id: str, subject: str, purpose: str, **extra: str) -> str:
    """A link token of a signup (optin, unsubscribe) or an export job (download)."""
    from backinstock import deps, ids
    from backinstock.services import links

    return links.make_token(deps.link_secret(), shop_id, subject, purpose, ids.now(), **extra)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------------- requests
@dataclass
class Call:
    """One request to an action, relative to the base path; what `dispatch.proxy_event` needs."""

    path: str
    path_params: dict[str, str] | None = None
    query: dict[str, str] | None = None
    body: Any = None
    label: str = ""  # what the request is, when it is not the action's plain form
    headers: dict[str, str] | None = None


WEBHOOK_SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 (a bench shop's made-up secret)
INVENTORY_ITEM = 77001


def connect(shop_id: str) -> None:
    """Connect the shop to Shopify (webhook secret, access token) and give its variant an inventory item."""
    from backinstock import deps
    from backinstock.services import shops
    from backinstock_tools.testkit import CATALOG

    if deps.shops().require(shop_id).shopify_connected_at is None:
        shops.connect_shopify(deps.shops(), deps.shop_secrets(), shop_id, WEBHOOK_SECRET, "shpat_bench_0123456789ab")
        _, product, title, product_title, handle = CATALOG["small"]
        deps.catalog().put_variant(
            shop_id, VARIANT, product, title, product_title, handle, inventory_item_id=INVENTORY_ITEM
        )


def webhook_call(shop_id: str, topic: str, payload: dict[str, Any]) -> Call:
    """A correctly signed Shopify webhook delivery (a new event id each time)."""
    from backinstock import deps
    from backinstock_tools.testkit.builders import webhook_headers

    connect(shop_id)
    domain = deps.shops().require(shop_id).domain
    headers = webhook_headers(topic, domain, WEBHOOK_SECRET, json.dumps(payload), str(uuid.uuid4()))
    return Call("/webhooks/shopify", body=payload, headers=headers, label=topic)


def repeatable(action: Action) -> bool:
    """Whether a warm run times the write again and again on one shop (`REPEATABLE_WRITES`, export starts)."""
    return action.name in REPEATABLE_WRITES or action.export is not None


def request_for(action: Action, shop_id: str) -> Call:
    """A valid request for the action: its declared sample (`Action.sample`, filled by the test kit), after seeding
    what it uses. Each call seeds afresh (a delete deletes a new signup, a notify notifies a new one) and sends a
    new contact and a new webhook event id, so that a request can be sent again and again."""
    from urllib.parse import parse_qsl

    from backinstock import registry
    from backinstock_tools.testkit.samples import ready_for, sample_request

    if action.sample is None:
        raise NoSample(f"{action.name} declares no sample request")
    webhook = action.name == "receive_shopify_webhook"
    if webhook:
        connect(shop_id)
    path, body, headers = sample_request(action, sample_values(shop_id), WEBHOOK_SECRET if webhook else None)
    ready_for(action, shop_id)  # after the values: the export job afresh, under the action's own family
    if action.name == "create_signup":
        body = {**body, "email": f"new-{uuid.uuid4().hex[:16]}@example.com"}
    if action.name in PATCH_BODIES:
        body = PATCH_BODIES[action.name]
    if webhook:  # the body is the one signed: only the event id changes
        headers = {**headers, "X-Shopify-Event-Id": str(uuid.uuid4())}
    path, _, query = path.partition("?")
    return Call(
        path,
        registry.match_path(action.path, path) or None,
        dict(parse_qsl(query)) or None,
        body,
        headers=headers or None,
    )


def sample_values(shop_id: str) -> Any:
    """The values of the samples' placeholders for the shop, each made when a sample first uses it (`Fresh`):
    through the services, with the stub providers for the send."""
    from backinstock import deps
    from backinstock_tools.testkit import samples

    def notified() -> str:
        signup_id = new_signup(shop_id)
        values["notification_id"] = send_now(shop_id, signup_id)
        return signup_id

    def notification_id() -> str:
        values["signup_id"]
        return values["notification_id"]

    def once(name: str, make: Any) -> Any:
        return lambda: _ONCE.get((shop_id, name)) or _ONCE.setdefault((shop_id, name), make(shop_id))

    def job() -> str:
        samples.running_job(shop_id)
        return samples.RUNNING_JOB

    values = samples.Fresh(
        {
            "api_key": lambda: _KEYS[shop_id],
            "shop_domain": lambda: deps.shops().require(shop_id).domain,
            "signup_id": notified,
            "notification_id": notification_id,
            "pending_signup_id": lambda: new_signup(shop_id, 201),
            "spare_signup_id": lambda: new_signup(shop_id, OTHER_VARIANT),
            "optin_token": lambda: link_token(shop_id, values["signup_id"], "optin"),
            "unsubscribe_token": lambda: link_token(shop_id, values["signup_id"], "unsubscribe"),
            "job_id": job,
            "download_token": lambda: link_token(shop_id, values["job_id"], "download", file="f.csv"),
            "offer_id": once("offer_id", samples.preorder_offer),  # its selling plan belongs to one offer
            "restock_id": once("restock_id", samples.running_campaign),  # its variant has one running restock
            "from": lambda: samples.WINDOW["from"],
            "to": lambda: samples.WINDOW["to"],
        }
    )
    return values


def event(action: Action, call: Call, shop_id: str) -> dict[str, Any]:
    """The API Gateway proxy event for the call, as the authorizer leaves it (public routes carry no shop)."""
    from backinstock import dispatch, registry

    return dispatch.proxy_event(
        action,
        action.method,
        registry.BASE_PATH + call.path,
        path_params=call.path_params,
        query=call.query,
        headers=call.headers,
        body=json.dumps(call.body) if call.body is not None else None,
        shop_id=None if action.auth is registry.Auth.PUBLIC else shop_id,
        # The authorizer's context with the high-limit plan: the benches time each action, hundreds of calls a
        # minute, not the per-shop limit's refusals (the shops keep `growth` for their send quota). The limiter's
        # own cost is `bench/ratelimit.py`'s.
        plan="enterprise",
    )


def first_call(target: str) -> tuple[Any, dict[str, Any], Any]:
    """For the cold-start child: resources, a shop with a small waitlist and one notification, and a valid event
    for `target` (an action name, the authorizer or the send worker). Returns (handler, event, context) with the
    handler not yet imported by this function; the caller resets clients before invoking it."""
    from backinstock import dispatch, registry
    from backinstock_tools.local import backend
    from backinstock_tools.testkit.sqs import sqs_event

    backend.create_resources()
    shop = new_shop("cold-start.myshopify.com")
    shop_id = shop["shop_id"]
    for _ in range(3):
        new_signup(shop_id)
    new_notification(shop_id)
    if target == AUTHORIZER:
        arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/api/v2/external/back_in_stock/signups"
        authorizer_event = {"type": "REQUEST", "methodArn": arn, "headers": {"X-Auth-Token": shop["api_key"]}}
        return target, authorizer_event, dispatch.LambdaContext("authorizer")
    if target == WORKER:
        message = {
            "kind": "send",
            "shop_id": shop_id,
            "sends": [{"send_id": str(uuid.uuid4()), "signup_id": new_signup(shop_id), "allow_resend": False}],
        }
        return target, sqs_event([message]), dispatch.LambdaContext("send-worker")
    action = registry.by_name(target)
    return action.handler, event(action, request_for(action, shop_id), shop_id), dispatch.LambdaContext(action.name)


def succeeded(target: str, response: dict[str, Any]) -> bool:
    if target == AUTHORIZER:
        return bool(response.get("policyDocument"))
    if target == WORKER:
        return response.get("batchItemFailures") == []
    from backinstock import registry

    status = int(response["statusCode"])
    return status < 300 or status == registry.by_name(target).success_status  # a download link answers 302


# ------------------------------------------------------------------------------------------------- providers
class StubEmail:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, email: Any) -> str:
        self.sent += 1
        return f"stub-email-{self.sent}"


class StubSms:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, phone: str, text: str) -> str:
        self.sent += 1
        return f"stub-sms-{self.sent}"


class StubPush:
    def __init__(self) -> None:
        self.sent = 0

    def send(self, endpoint: str, title: str, body: str, url: str) -> str:
        self.sent += 1
        return f"stub-push-{self.sent}"


def stub_sender() -> Sender:
    """The worker's dependencies with providers that only return an id (no SES, no SNS)."""
    from backinstock import deps
    from backinstock.providers import Providers
    from backinstock.services.sending import Sender
    from backinstock_tools.local import backend

    return Sender(
        signups=deps.signups(),
        notifications=deps.notifications(),
        shops=deps.shops(),
        providers=Providers(email=StubEmail(), sms=StubSms(), push=StubPush()),
        link_secret=b"bench-link-signing-key-not-a-secret",
        public_base_url=backend.DEFAULT_PUBLIC_BASE_URL,
    )


# ---------------------------------------------------------------------------------------------- instruments
class Meter:
    """AWS calls by `service.Operation`, and the wall time spent inside them (botocore serialization, moto and
    parsing), from botocore's before-call / after-call events on the clients the code uses (`backinstock.aws`)."""

    def __init__(self, services: tuple[str, ...] = ("dynamodb", "sqs")) -> None:
        from backinstock import aws

        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}
        for service in services:
            events = aws.client(service).meta.events
            events.register(f"before-call.{service}", self._before)
            events.register(f"after-call.{service}", self._after)

    def _before(self, event_name: str, **_: Any) -> None:
        operation = event_name.split(".", 1)[1]
        self.calls[operation] += 1
        self._started[operation] = time.perf_counter()

    def _after(self, event_name: str, **_: Any) -> None:
        operation = event_name.split(".", 1)[1]
        elapsed = time.perf_counter() - self._started.pop(operation, time.perf_counter())
        self.seconds[operation] = self.seconds.get(operation, 0.0) + elapsed

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()

    def inside_ms(self) -> float:
        return sum(self.seconds.values()) * 1000

    def of(self, service: str) -> Counter[str]:
        return Counter({k.split(".", 1)[1]: v for k, v in self.calls.items() if k.startswith(service + ".")})


@contextlib.contextmanager
def moto_transactions(snapshots: bool = True) -> Iterator[dict[str, float]]:
    """Count moto's TransactWriteItems, time its table copies, and optionally skip them.

    moto deep-copies the whole table once per item of every TransactWriteItems, to roll back a cancelled one
    (moto 5.2.5, `DynamoDBBackend.transact_write_items`): 0.1-0.3 ms per table item per transaction item on this
    machine, so a send's two 3-item transactions cost ~5 s on a table of 3,000 signup-sized items. DynamoDB has no
    such cost.
    With `snapshots=False` the copy is skipped, which is only correct while no transaction is cancelled (moto would
    keep the partial writes of a cancelled one): `cancelled` counts them and callers require zero."""
    import copy
    from unittest import mock

    import moto.dynamodb.models as models

    stats: dict[str, float] = {"transactions": 0, "cancelled": 0, "snapshot_seconds": 0.0}
    table_type = models.Table
    real_transact = models.DynamoDBBackend.transact_write_items

    class Copier:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if not isinstance(value, table_type):
                return copy.deepcopy(value, memo)
            if not snapshots:
                return value
            started = time.perf_counter()
            try:
                return copy.deepcopy(value, memo)
            finally:
                stats["snapshot_seconds"] += time.perf_counter() - started

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        stats["transactions"] += 1
        try:
            real_transact(self, transact_items)
        except Exception:
            stats["cancelled"] += 1
            raise

    with (
        mock.patch.object(models, "copy", Copier),
        mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact),
    ):
        yield stats


def drain_queue() -> list[dict[str, Any]]:
    """Receive and delete every message of the send queue (moto refuses a second PurgeQueue within 60 s, as SQS
    does). Returns their bodies."""
    from backinstock import deps
    from backinstock_tools.testkit.sqs import receive_all

    queue = deps.queue()
    return [json.loads(m["Body"]) for m in receive_all(queue.client, queue.url, delete=True)]


def table_items() -> int:
    from backinstock import aws, config

    return int(aws.client("dynamodb").describe_table(TableName=config.table_name())["Table"]["ItemCount"])


def percentile(timings: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 7 timings is the largest)."""
    ordered = sorted(timings)
    rank = max(1, -(-int(fraction * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]
