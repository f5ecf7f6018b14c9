"""The embedded AWS backend of the local run: a moto server on 127.0.0.1, with the resources that the CDK stack
creates in AWS, made from the same specs (`backinstock.infra_spec`)."""

from __future__ import annotations

import operator
import os
import threading
from typing import Any

from backinstock import aws, deps, infra_spec, observability
from backinstock.config import DEFAULT_TABLE_NAME

REGION = "us-east-1"
IDEMPOTENCY_TABLE_NAME = "backinstock-idempotency"
RATE_LIMIT_TABLE_NAME = "backinstock-ratelimits"
SEND_QUEUE_NAME = "backinstock-send"
EXPORT_BUCKET_NAME = "backinstock-exports"
WEBHOOK_QUEUE_NAME = "backinstock-webhooks"
# The local run's campaign clock: a `wait_hours` hour lasts this many seconds (3600 in AWS), so batching can be
# watched end to end. Override with CAMPAIGN_SECONDS_PER_HOUR.
LOCAL_SECONDS_PER_HOUR = 10
SENDER_EMAIL = "alerts@backinstock.local"
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:4280/api/v2/external"


def local_environment(
    endpoint: str, table_name: str = DEFAULT_TABLE_NAME, public_base_url: str = DEFAULT_PUBLIC_BASE_URL
) -> dict[str, str]:
    """What a process needs to talk to the local backend: the same variables Lambda gets, plus the endpoint.
    The queue URL and the secret ARN are known once the resources exist: `create_resources` returns them."""
    return {
        "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_NAME,
        "RATE_LIMIT_TABLE_NAME": RATE_LIMIT_TABLE_NAME,
        "SENDER_EMAIL": SENDER_EMAIL,
        "PUBLIC_BASE_URL": public_base_url,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any credentials; no real account is involved
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "TABLE_NAME": table_name,
        "EXPORT_BUCKET_NAME": EXPORT_BUCKET_NAME,
        "CAMPAIGN_SECONDS_PER_HOUR": os.environ.get("CAMPAIGN_SECONDS_PER_HOUR", str(LOCAL_SECONDS_PER_HOUR)),
        "POWERTOOLS_SERVICE_NAME": observability.SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": observability.NAMESPACE,
    }


def apply_environment(env: dict[str, str]) -> None:
    os.environ.update(env)
    deps.reset()


AWS_HOST = "127.0.0.1"  # where the embedded moto listens, always: it needs no credential, so never the network


def start_moto(host: str, port: int) -> Any:
    import logging

    from moto import backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per AWS call
    # moto's server lists its package directory on every request (an isdir per service) to route it: once is enough.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server


def create_table(spec: infra_spec.TableSpec, name: str) -> None:
    client = aws.client("dynamodb")
    attributes = {spec.partition_key} | ({spec.sort_key} if spec.sort_key else set())
    for index in spec.indexes:
        attributes.update({index.partition_key, index.sort_key})
    key_schema = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        key_schema.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "KeySchema": key_schema,
    }
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": index.projection},
            }
            for index in spec.indexes
        ]
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    try:
        client.create_table(**request)
    except client.exceptions.ResourceInUseException:
        return
    if spec.ttl_attribute:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )


def create_queue(spec: infra_spec.QueueSpec, name: str) -> str:
    """The queue and its dead-letter queue, with the stack's redrive policy and visibility timeout."""
    import json

    sqs = aws.client("sqs")
    retention = str(spec.retention_days * 86400)
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count})
    url: str = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(spec.visibility_timeout_seconds),
            "MessageRetentionPeriod": retention,
            "RedrivePolicy": redrive,
        },
    )["QueueUrl"]
    return url


def create_link_secret() -> str:
    import secrets

    client = aws.client("secretsmanager")
    try:
        arn: str = client.create_secret(Name=infra_spec.LINK_SECRET_NAME, SecretString=secrets.token_urlsafe(48))["ARN"]
    except client.exceptions.ResourceExistsException:
        arn = client.describe_secret(SecretId=infra_spec.LINK_SECRET_NAME)["ARN"]
    return arn


def create_export_bucket(name: str = EXPORT_BUCKET_NAME) -> None:
    """The export files' bucket, with the stack's lifecycle rule (files expire, partial uploads are aborted)."""
    s3 = aws.client("s3")
    try:
        s3.create_bucket(Bucket=name)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        return
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-exports",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": infra_spec.EXPORT_FILE_RETENTION_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )


class _TransactionJournal:
    """Replaces the backup that moto's DynamoDB takes before a transaction: moto deep-copies every table the
    transaction names (the whole table, stream records included) so that it can put the copy back when the
    transaction is cancelled. That copy grows with the table: once `backinstock seed` has written a few thousand
    items, every transaction (a signup, a send, each rollup batch) spent most of its time copying, and the seed of
    200 signups took minutes. Here moto's copy of a table is the table itself, and the journal keeps a copy of
    only the items the transaction names, taken before it runs; a cancelled transaction puts those items back
    and drops the stream records it added (DynamoDB never emits them). Calls are one at a time
    (`_one_call_at_a_time`), so nothing else writes meanwhile. moto is pinned exactly in pyproject.toml; AWS has
    no such cost."""

    def __init__(self) -> None:
        import copy
        import threading

        self._copy = copy
        self._local = threading.local()

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(self._local, "active", False) and isinstance(value, Table):
            return value  # the journal restores what the transaction touched; no whole-table copy
        return self._copy.deepcopy(value, memo)

    def _snapshot(self, backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
        """(table, hash key, range key, a copy of the item or None) for every item the transaction names."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        saved = []
        for entry in transact_items:
            for op in entry.values():
                table = backend.tables.get(op.get("TableName"))
                key = op.get("Item") or op.get("Key") or {}
                if table is None or table.hash_key_attr not in key:
                    continue  # moto refuses it before writing anything of it
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = None
                if table.range_key_attr is not None:
                    if table.range_key_attr not in key:
                        continue
                    range_value = DynamoType(key[table.range_key_attr])
                current = table.get_item(hash_value, range_value)
                saved.append((table, hash_value, range_value, self._copy.deepcopy(current)))
        return saved

    @staticmethod
    def _restore(saved: list[tuple[Any, Any, Any, Any]]) -> None:
        for table, hash_value, range_value, item in reversed(saved):
            if range_value is not None:
                if item is None:
                    table.items.get(hash_value, {}).pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = item
            elif item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item

    def wrap(self, method: Any) -> Any:
        def transact_write_items(backend: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            saved = self._snapshot(backend, transact_items)
            marks = {
                id(table): (table, len(table.stream_shard.items))
                for table, *_ in saved
                if table.stream_shard is not None
            }
            self._local.active = True
            try:
                return method(backend, transact_items, *args, **kwargs)
            except Exception:
                self._restore(saved)
                for table, mark in marks.values():
                    del table.stream_shard.items[mark:]
                raise
            finally:
                self._local.active = False

        transact_write_items.__wrapped__ = method  # type: ignore[attr-defined]
        return transact_write_items


def speed_up_moto_transactions() -> None:
    """No whole-table copy per transaction in moto's DynamoDB (see `_TransactionJournal`). Idempotent."""
    import moto.dynamodb.models as models

    if isinstance(getattr(models, "copy", None), _TransactionJournal):
        return
    shim = _TransactionJournal()
    models.copy = shim  # type: ignore[assignment]
    backend = models.DynamoDBBackend
    backend.transact_write_items = shim.wrap(backend.transact_write_items)  # type: ignore[method-assign]
    _one_call_at_a_time()


def _one_call_at_a_time() -> None:
    """Each DynamoDB and DynamoDB Streams call atomic in the moto server, as DynamoDB's are: moto's are not (a
    transaction deep-copies a table that another request thread is writing; a stream read iterates records another
    thread appends). The local run has concurrent writers: the API, the pollers, workflows, `backinstock seed`."""
    import threading

    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    lock = threading.RLock()
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original = handler.call_action

        def call_action(self: Any, _original: Any = original) -> Any:
            with lock:
                return _original(self)

        handler.call_action = call_action  # type: ignore[method-assign]


_QUERY = threading.local()
_STRING_TESTS: dict[str, Any] = {
    "EQ": lambda v, a: v == a[0],
    "LT": lambda v, a: v < a[0],
    "LE": lambda v, a: v <= a[0],
    "GT": lambda v, a: v > a[0],
    "GE": lambda v, a: v >= a[0],
    "BETWEEN": lambda v, a: a[0] <= v <= a[1],
    "BEGINS_WITH": lambda v, a: v.startswith(a[0]),
}
_STRING_TESTS.update({"=": _STRING_TESTS["EQ"], "<": _STRING_TESTS["LT"], "<=": _STRING_TESTS["LE"]})
_STRING_TESTS.update({">": _STRING_TESTS["GT"], ">=": _STRING_TESTS["GE"]})


def _string_test(comparison: str, bounds: Any) -> Any:
    """The key condition as a test of a string key, when its bounds are strings (moto's own test otherwise)."""
    check = _STRING_TESTS.get(comparison)
    if check is None or not bounds or any(b.type != "S" for b in bounds):
        return None
    values = [b.value for b in bounds]
    return lambda value: check(value, values)


def speed_up_moto_queries() -> None:
    """A Query of a table reads one partition in key order, as DynamoDB's does: moto's sorts *every* item of the
    table (all shops) on each Query, then picks the partition's, comparing keys through a generic cast. Two
    behaviour-preserving patches (moto is pinned exactly): a table Query (not an index's) starts from its
    partition's items within its key condition (per thread, so concurrent queries never see each other's), and
    two strings compare as strings. A preorder report of 20 Queries on a 1,500-item partition went from 17.5 s to
    well under a second (`bench/preorders.py`). Idempotent."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_one_partition", False):
        return
    all_items, query = Table.all_items, Table.query

    def partition_items(self: Any) -> Any:
        scoped = getattr(_QUERY, "scope", None)
        if scoped is not None and scoped[0] is self:
            return scoped[1]
        return all_items(self)

    def one_partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return query(self, hash_key, *args, **kwargs)
        items = list(self.items.get(hash_key, {}).values())
        comparison = args[0] if args else kwargs.get("range_comparison")
        if comparison:  # moto sizes every candidate before its key test: test the key first (same answer)
            bounds = args[1] if len(args) > 1 else kwargs.get("range_objs")
            test = _string_test(comparison, bounds)
            if test is not None:
                items = [
                    i for i in items if i.range_key is not None and i.range_key.type == "S" and test(i.range_key.value)
                ]
            else:
                items = [i for i in items if i.range_key is not None and i.range_key.compare(comparison, bounds)]
        _QUERY.scope = (self, items)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _QUERY.scope = None

    one_partition_query._one_partition = True  # type: ignore[attr-defined]
    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = one_partition_query  # type: ignore[method-assign]

    def fast(op: Any, generic: Any) -> Any:
        def compare(self: Any, other: Any) -> bool:
            if self.type == "S" and other.type == "S":
                return bool(op(self.value, other.value))
            return bool(generic(self, other))

        return compare

    for name in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__"):
        setattr(DynamoType, name, fast(getattr(operator, name.strip("_")), getattr(DynamoType, name)))


def create_resources(table_name: str = DEFAULT_TABLE_NAME) -> dict[str, str]:
    """Every resource of the stack that the code talks to. Returns the environment they add (queue URL, secret
    ARN) and applies it to this process."""
    from backinstock_tools.local import provider_limits

    speed_up_moto_transactions()
    speed_up_moto_queries()
    provider_limits.install()  # no sending quota unless `serve --email-rate/--sms-rate` (or the chaos run) sets one
    create_table(infra_spec.MAIN_TABLE, table_name)
    create_table(infra_spec.IDEMPOTENCY_TABLE, IDEMPOTENCY_TABLE_NAME)
    create_table(infra_spec.RATE_LIMIT_TABLE, RATE_LIMIT_TABLE_NAME)
    create_export_bucket(os.environ.get("EXPORT_BUCKET_NAME", EXPORT_BUCKET_NAME))
    aws.client("ses").verify_email_identity(EmailAddress=os.environ.get("SENDER_EMAIL", SENDER_EMAIL))
    env = {
        "SEND_QUEUE_URL": create_queue(infra_spec.SEND_QUEUE, SEND_QUEUE_NAME),
        "WEBHOOK_QUEUE_URL": create_queue(infra_spec.WEBHOOK_QUEUE, WEBHOOK_QUEUE_NAME),
        "LINK_SECRET_ARN": create_link_secret(),
    }
    from backinstock_tools.local import stepfunctions

    env.update(stepfunctions.create_state_machines(REGION))
    apply_environment(env)
    return env
