"""One function per action: runtime, architecture, layers, environment and least-privilege IAM from the registry.

Each `Access` kind is one grant on one resource, with the environment variable the code reads for it:
TABLE_READ / TABLE_WRITE -> the main table (and its indexes for reads), TABLE_NAME; IDEMPOTENCY -> the idempotency
table, IDEMPOTENCY_TABLE_NAME; SEND_QUEUE -> the send queue, SEND_QUEUE_URL; WEBHOOK_QUEUE -> the webhook queue,
WEBHOOK_QUEUE_URL; SHOP_SECRETS -> the shops' Shopify secrets (by name prefix; no variable: the code derives the name
from the shop id); LINK_SECRET -> the link secret, LINK_SECRET_ARN. The tests below state every expected grant;
nothing else may appear in a role.
"""

from __future__ import annotations

from typing import Any

import pytest

from backinstock import config, infra_spec, registry
from backinstock.registry import Access, Action, Auth
from tests.infra.template import (
    READ,
    WRITE,
    Synth,
    function_of,
    functions_by_handler,
    log_group_of,
    role_grants,
    role_of,
)

pytestmark = pytest.mark.infra

# Stated here on purpose, not imported from the construct: the test is the second opinion.
IDEMPOTENCY = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
SEND = {"sqs:SendMessage"}
SECRET_READ = {"secretsmanager:GetSecretValue"}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

MAIN = infra_spec.MAIN_TABLE.logical_id
INDEXES = [f"{MAIN}/index/{index.name}" for index in infra_spec.MAIN_TABLE.indexes]
IDEMPOTENCY_TABLE = infra_spec.IDEMPOTENCY_TABLE.logical_id
RATE_LIMIT_TABLE = infra_spec.RATE_LIMIT_TABLE.logical_id
QUEUE = infra_spec.SEND_QUEUE.logical_id
WEBHOOK_QUEUE = infra_spec.WEBHOOK_QUEUE.logical_id
SECRET = "LinkSecret"
# Every shop's secret, `backinstock/shops/<shop_id>/shopify` plus Secrets Manager's random suffix.
SHOP_SECRETS = "arn:AWS::Partition:secretsmanager:AWS::Region:AWS::AccountId:secret:backinstock/shops/*"

EXPORT_WORKFLOW = infra_spec.EXPORT_WORKFLOW.logical_id
CAMPAIGN_WORKFLOW = infra_spec.CAMPAIGN_WORKFLOW.logical_id
EXPORT_EXECUTIONS = f"arn:AWS::Partition:states:AWS::Region:AWS::AccountId:execution:{EXPORT_WORKFLOW}:*"
EXPORT_BUCKET = "ExportsExportBucketE48D973E"
EXPORT_FILES = f"{EXPORT_BUCKET}/exports/*"

AUTHORIZER_HANDLER = "auth.authorizer.handler"
WORKER_HANDLERS = {f"{h}.handler" for h in infra_spec.WORKER_HANDLERS}
TASK_HANDLERS = {f"{module}.handler" for spec in infra_spec.STATE_MACHINES for _, module in spec.tasks}
STREAM_HANDLERS = {f"{c.handler}.handler" for c in infra_spec.STREAM_CONSUMERS}
SCHEDULED_HANDLERS = {f"{spec.handler}.handler" for spec in infra_spec.SCHEDULES}


def effective_access(action: Action) -> frozenset[Access]:
    """The MCP function runs the MCP tools in-process: it may touch what any of them may. A route a shop's key
    authenticates takes points from the shop's rate limit."""
    own = action.access | ({Access.RATE_LIMIT} if action.auth is not Auth.PUBLIC else set())
    if not action.runs_actions:
        return own
    tools = [other.access for other in registry.actions() if other.mcp_tool]
    return frozenset().union(own, *tools)


def expected_grants(access: frozenset[Access]) -> dict[str, set[str]]:
    """Resource -> IAM actions, for the grants that follow from an access set (logs and X-Ray aside)."""
    out: dict[str, set[str]] = {}
    if access & {Access.TABLE_READ, Access.TABLE_WRITE}:
        out[MAIN] = READ | (WRITE if Access.TABLE_WRITE in access else set())
        out.update(dict.fromkeys(INDEXES, READ))  # reads reach the indexes, writes never
    if Access.IDEMPOTENCY in access:
        out[IDEMPOTENCY_TABLE] = IDEMPOTENCY
    if Access.RATE_LIMIT in access:  # the limiter's one conditional update, on its own table only
        out[RATE_LIMIT_TABLE] = {"dynamodb:UpdateItem"}
    if Access.SEND_QUEUE in access:
        out[QUEUE] = SEND
    if Access.WEBHOOK_QUEUE in access:
        out[WEBHOOK_QUEUE] = SEND
    if Access.SHOP_SECRETS in access:
        out[SHOP_SECRETS] = SECRET_READ
    if Access.LINK_SECRET in access:
        out[SECRET] = SECRET_READ
    if Access.CAMPAIGN_RUN in access:  # only the campaign state machine: a restock by hand, a resume
        out[CAMPAIGN_WORKFLOW] = {"states:StartExecution"}
    if Access.EXPORT_RUN in access:  # only the export state machine, its executions, the export files' uploads
        out[EXPORT_WORKFLOW] = {"states:StartExecution"}
        out[EXPORT_EXECUTIONS] = {"states:StopExecution", "states:DescribeExecution"}
        out[EXPORT_FILES] = {"s3:AbortMultipartUpload"}
    if Access.EXPORT_READ in access:  # signing a download URL: reading export files, nothing else of the bucket
        out[EXPORT_FILES] = out.get(EXPORT_FILES, set()) | {"s3:GetObject"}
    return out


def expected_environment(access: frozenset[Access]) -> dict[str, Any]:
    variables: dict[str, Any] = dict(config.BaseEnv().model_dump())
    if access & {Access.TABLE_READ, Access.TABLE_WRITE}:
        variables["TABLE_NAME"] = {"Ref": MAIN}
    if Access.IDEMPOTENCY in access:
        variables["IDEMPOTENCY_TABLE_NAME"] = {"Ref": IDEMPOTENCY_TABLE}
    if Access.RATE_LIMIT in access:
        variables["RATE_LIMIT_TABLE_NAME"] = {"Ref": RATE_LIMIT_TABLE}
    if Access.SEND_QUEUE in access:
        variables["SEND_QUEUE_URL"] = {"Ref": QUEUE}
    if Access.WEBHOOK_QUEUE in access:
        variables["WEBHOOK_QUEUE_URL"] = {"Ref": WEBHOOK_QUEUE}
    if Access.LINK_SECRET in access:
        variables["LINK_SECRET_ARN"] = {"Ref": SECRET}
    if Access.EXPORT_RUN in access:
        variables["EXPORT_STATE_MACHINE_ARN"] = {"Ref": EXPORT_WORKFLOW}
    if Access.CAMPAIGN_RUN in access:
        variables["CAMPAIGN_STATE_MACHINE_ARN"] = {"Ref": CAMPAIGN_WORKFLOW}
    if access & {Access.EXPORT_RUN, Access.EXPORT_READ}:
        variables["EXPORT_BUCKET_NAME"] = {"Ref": EXPORT_BUCKET}
    return variables


def function_grants(synth: Synth, props: dict) -> dict[str, set[str]]:
    """An API function's grants without its own log group and X-Ray, which every function has (checked here: X-Ray
    has no resource-level permissions, and is the one wildcard, the acknowledged cdk-nag IAM5)."""
    granted = role_grants(synth, props)
    assert granted.pop(log_group_of(props)) == LOGS
    assert granted.pop("*") == XRAY, "X-Ray is the only wildcard of an API function"
    return granted


def test_one_function_per_action_plus_the_authorizer_the_workers_and_the_workflow_tasks(synth: Synth) -> None:
    handlers = set(functions_by_handler(synth))
    actions = {a.entry_point for a in registry.actions()}
    assert handlers == (
        actions | {AUTHORIZER_HANDLER} | WORKER_HANDLERS | TASK_HANDLERS | SCHEDULED_HANDLERS | STREAM_HANDLERS
    )
    others = len(WORKER_HANDLERS) + len(TASK_HANDLERS) + len(SCHEDULED_HANDLERS) + len(STREAM_HANDLERS)
    assert len(handlers) == len(registry.actions()) + 1 + others
    assert {"workers.send_worker.handler", "workers.webhook_worker.handler"} <= WORKER_HANDLERS
    assert "workflows.campaign_step.handler" in TASK_HANDLERS


def test_every_function_runs_python_312_on_arm64_with_both_layers_and_tracing(synth: Synth) -> None:
    layers = set(synth.resources("AWS::Lambda::LayerVersion"))
    assert len(layers) == 2
    code_keys = set()
    for _logical_id, props in functions_by_handler(synth).values():
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert {ref["Ref"] for ref in props["Layers"]} == layers
        assert "LogGroup" in props["LoggingConfig"]
        code_keys.add(props["Code"]["S3Key"])
    assert len(code_keys) == 1, "every function ships the one functions/ asset"
    for layer in synth.resources("AWS::Lambda::LayerVersion").values():
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize("action", registry.actions(), ids=lambda a: a.name)
def test_role_grants_exactly_what_the_access_implies(synth: Synth, action: Action) -> None:
    _, props = function_of(synth, action)
    granted = function_grants(synth, props)
    assert granted == expected_grants(effective_access(action))
    every_action = {a for actions in granted.values() for a in actions}
    assert "dynamodb:Scan" not in every_action
    if action.read_only and not action.runs_actions:
        # A read writes nothing of the shop's: its one write is its rate-limit points, on the limiter's table.
        assert {a for r, actions in granted.items() if r != RATE_LIMIT_TABLE for a in actions} <= READ
        assert granted.get(RATE_LIMIT_TABLE, set()) <= {"dynamodb:UpdateItem"}


def test_only_send_queue_actions_may_send_and_only_send(synth: Synth) -> None:
    senders = set()
    for action in registry.actions():
        _, props = function_of(synth, action)
        granted = function_grants(synth, props)
        sqs_actions = {a for actions in granted.values() for a in actions if a.startswith("sqs:")}
        queues = {QUEUE: Access.SEND_QUEUE, WEBHOOK_QUEUE: Access.WEBHOOK_QUEUE}
        if any(kind in effective_access(action) for kind in queues.values()):
            senders.add(action.name)
            # SendMessageBatch is authorized as sqs:SendMessage: no receive, delete, purge or attribute reads.
            assert sqs_actions == SEND, action.name
        else:
            assert not sqs_actions, action.name
        for queue, kind in queues.items():
            assert granted.get(queue) == (SEND if kind in effective_access(action) else None), (action.name, queue)
    assert {"notify_signup", "bulk_notify_signups", "transfer_signups", "create_signup", "mcp"} <= senders
    assert "receive_shopify_webhook" in senders


def test_only_idempotency_actions_touch_the_idempotency_table(synth: Synth) -> None:
    users = set()
    for action in registry.actions():
        _, props = function_of(synth, action)
        granted = function_grants(synth, props)
        if action.idempotent:
            # The handler wrapper runs Powertools idempotency for these: without the grant every call would fail.
            assert Access.IDEMPOTENCY in action.access, action.name
        if Access.IDEMPOTENCY in effective_access(action):
            users.add(action.name)
            assert granted[IDEMPOTENCY_TABLE] == IDEMPOTENCY, action.name
        else:
            assert IDEMPOTENCY_TABLE not in granted, action.name
    assert {a.name for a in registry.actions() if a.idempotent} <= users
    assert "mcp" in users


def _secret_readers(synth: Synth, access: Access, secret: str) -> set[str]:
    """The actions whose access includes `access`; checked: exactly those read `secret` (and only read it)."""
    readers = set()
    for action in registry.actions():
        _, props = function_of(synth, action)
        granted = function_grants(synth, props)
        if access in effective_access(action):
            readers.add(action.name)
            assert granted[secret] == SECRET_READ, action.name
        else:
            assert secret not in granted, action.name
    return readers


def test_only_link_actions_read_the_link_secret(synth: Synth) -> None:
    readers = _secret_readers(synth, Access.LINK_SECRET, SECRET)
    # The customer links verify tokens; an export's status signs its download link and the download verifies it;
    # MCP runs the status tools. No other action needs the key.
    links = {
        a.name
        for a in registry.actions()
        if a.method == "GET" and a.path.endswith(("/exports/:job_id", "/exports/:job_id/download"))
    }
    assert len(links) == 4  # the status and download of each report family
    assert readers == {"optin_page", "confirm_optin", "unsubscribe_page", "unsubscribe", "mcp"} | links


def test_only_the_webhook_intake_reads_shop_secrets_among_the_actions(synth: Synth) -> None:
    readers = _secret_readers(synth, Access.SHOP_SECRETS, SHOP_SECRETS)
    assert readers == {"receive_shopify_webhook"}


def test_webhook_intake_sends_to_the_webhook_queue_reads_shop_secrets_and_the_table(synth: Synth) -> None:
    action = registry.by_name("receive_shopify_webhook")
    _, props = function_of(synth, action)
    assert function_grants(synth, props) == {
        MAIN: READ | WRITE,
        **dict.fromkeys(INDEXES, READ),
        WEBHOOK_QUEUE: SEND,
        SHOP_SECRETS: SECRET_READ,
    }
    variables = props["Environment"]["Variables"]
    assert variables["WEBHOOK_QUEUE_URL"] == {"Ref": WEBHOOK_QUEUE}
    assert "SEND_QUEUE_URL" not in variables and "LINK_SECRET_ARN" not in variables


def test_mcp_function_has_the_union_of_the_tools_access(synth: Synth) -> None:
    mcp = registry.by_name("mcp")
    assert mcp.runs_actions
    _, props = function_of(synth, mcp)
    granted = function_grants(synth, props)
    assert granted[MAIN] == READ | WRITE
    assert granted[QUEUE] == SEND
    assert granted[IDEMPOTENCY_TABLE] == IDEMPOTENCY
    assert granted[SECRET] == SECRET_READ  # an export's status tool signs its download link
    assert WEBHOOK_QUEUE not in granted and SHOP_SECRETS not in granted


def test_authorizer_reads_the_table_and_nothing_else(synth: Synth) -> None:
    _, props = functions_by_handler(synth)[AUTHORIZER_HANDLER]
    assert function_grants(synth, props) == expected_grants(frozenset({Access.TABLE_READ}))
    assert props["Environment"]["Variables"] == expected_environment(frozenset({Access.TABLE_READ}))


def test_roles_have_no_managed_policies_and_writes_address_base_tables(synth: Synth) -> None:
    for _logical_id, props in functions_by_handler(synth).values():
        role = synth.template["Resources"][role_of(props)]["Properties"]
        assert "ManagedPolicyArns" not in role
        assert "Policies" not in role
        for resource, actions in role_grants(synth, props).items():
            if "/index/" in resource:
                assert actions <= READ, "writes address the base table only"


@pytest.mark.parametrize("action", registry.actions(), ids=lambda a: a.name)
def test_environment_has_exactly_the_variables_its_access_needs(synth: Synth, action: Action) -> None:
    _, props = function_of(synth, action)
    assert props["Environment"]["Variables"] == expected_environment(effective_access(action))


def test_environment_names_are_the_ones_the_code_reads() -> None:
    base = config.BaseEnv().model_dump()
    assert base["POWERTOOLS_SERVICE_NAME"] == "backinstock"
    assert base["POWERTOOLS_METRICS_NAMESPACE"] == "BackInStock"
    assert set(config.TableEnv.model_fields) - set(base) == {"TABLE_NAME"}
    assert set(config.IdempotencyEnv.model_fields) - set(base) == {"IDEMPOTENCY_TABLE_NAME"}
    assert set(config.QueueEnv.model_fields) - set(base) == {"SEND_QUEUE_URL"}
    assert set(config.LinkEnv.model_fields) - set(base) == {"LINK_SECRET_ARN"}
    assert set(config.WebhookQueueEnv.model_fields) - set(base) == {"WEBHOOK_QUEUE_URL"}
    assert set(config.ExportRunEnv.model_fields) - set(base) == {"EXPORT_STATE_MACHINE_ARN", "EXPORT_BUCKET_NAME"}
    assert set(config.ExportReadEnv.model_fields) - set(base) == {"EXPORT_BUCKET_NAME"}
    every_kind = expected_environment(frozenset(Access))
    assert set(every_kind) - set(base) == {
        "TABLE_NAME",
        "IDEMPOTENCY_TABLE_NAME",
        "SEND_QUEUE_URL",
        "WEBHOOK_QUEUE_URL",
        "LINK_SECRET_ARN",
        "EXPORT_STATE_MACHINE_ARN",
        "EXPORT_BUCKET_NAME",
        "RATE_LIMIT_TABLE_NAME",
        "CAMPAIGN_STATE_MACHINE_ARN",
    }
    assert set(config.RateLimitEnv.model_fields) - set(base) == {"RATE_LIMIT_TABLE_NAME"}
    # CAMPAIGN_SECONDS_PER_HOUR keeps its default (3600) in AWS: only the local run sets it
    assert set(config.CampaignRunEnv.model_fields) - set(base) == {
        "TABLE_NAME",
        "CAMPAIGN_STATE_MACHINE_ARN",
        "CAMPAIGN_SECONDS_PER_HOUR",
    }


def test_only_authenticated_routes_take_rate_limit_points_and_only_on_the_limiter_table(synth: Synth) -> None:
    for action in registry.actions():
        _, props = function_of(synth, action)
        granted = function_grants(synth, props)
        if action.auth is Auth.PUBLIC:
            assert RATE_LIMIT_TABLE not in granted, action.name
        else:
            assert granted[RATE_LIMIT_TABLE] == {"dynamodb:UpdateItem"}, action.name


def test_every_function_logs_to_the_one_shared_log_group(synth: Synth) -> None:
    functions = synth.resources("AWS::Lambda::Function")
    groups = {log_group_of(f["Properties"]) for f in functions.values()}
    assert len(groups) == 1
    [group] = groups
    assert synth.template["Resources"][group]["Properties"]["RetentionInDays"] == 30
