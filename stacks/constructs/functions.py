"""One way to build a Lambda function, shared by the API's action functions and the queue workers.

Every function gets the same runtime, architecture, layers and code asset, its own log group and its own role. What
the role may do and which variables the environment holds follow from an `Access` set, one kind at a time
(`GRANTS`): an action declares its access in the registry, a worker in its construct, and both are built here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aws_cdk import ArnFormat, CfnElement, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from backinstock import config, infra_spec
from backinstock.registry import Access
from backinstock.repositories.shop_secrets import SECRET_PREFIX
from stacks.constructs.layers import ARCHITECTURE, REPO_ROOT, RUNTIME, Layers
from stacks.nag import acknowledge, checkov_skip, finding_reference

FUNCTIONS_DIR = REPO_ROOT / "functions"
FUNCTION_EXCLUDES = ["**/__pycache__", "**/*.pyc"]

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
CHECKOV_FUNCTION_SKIPS = {
    "CKV_AWS_115": "No reserved concurrency per function: the stage's throttle (1,000 rps, burst 2,000) bounds the API "
    "functions and each queue's event source its worker (maximum concurrency); reserving per function would carve "
    "the account's pool into ~80 slices.",
    "CKV_AWS_116": "Failures do not vanish without a function DLQ: API functions are invoked synchronously (the "
    "caller gets the error), workers through SQS event sources whose queues have dead-letter queues, the rollup "
    "aggregator with an on-failure queue, workflow tasks by Step Functions (retries, then the job records the "
    "error).",
    "CKV_AWS_117": "Outside a VPC by design: the functions reach only AWS APIs (DynamoDB, SQS, S3, SES, SNS, Step "
    "Functions, Secrets Manager) and Shopify over TLS with IAM or HMAC; a VPC would add NAT or endpoints and cold "
    "start time for no isolation gain.",
    "CKV_AWS_173": "Environment variables hold names and ARNs only (tables, queues, the link secret's ARN, the "
    "sender address), no secret: Lambda encrypts them at rest with its AWS managed key; secrets are read from "
    "Secrets Manager at run time.",
}
CHECKOV_LOG_GROUP_REASON = (
    "Encrypted at rest by CloudWatch Logs with its own key: the log lines carry codes and ids, never an email "
    "address, a phone number, a token or a key (tested), so a customer-managed key would add cost and a key "
    "policy to keep for no confidentiality gain."
)
DEFAULT_MEMORY_MB = 512
DEFAULT_TIMEOUT = Duration.seconds(10)

# Least privilege on the main table. Never Scan. TransactWriteItems needs no action of its own: DynamoDB authorizes
# each item of a transaction against the per-item action (PutItem, UpdateItem, DeleteItem, ConditionCheckItem).
TABLE_ACTIONS: Mapping[Access, tuple[str, ...]] = {
    Access.TABLE_READ: (
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
    ),
    Access.TABLE_WRITE: (
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ),
}
# Powertools' DynamoDB persistence layer: a conditional PutItem claims the key, GetItem reads a replay, UpdateItem
# stores the response, DeleteItem forgets a failed attempt. Items are addressed by key only: no Query, no index.
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
RATE_LIMIT_ACTIONS = ("dynamodb:UpdateItem",)  # the limiter's one conditional update (services/ratelimits.py)
# SendMessageBatch has no IAM action of its own: SQS authorizes it as sqs:SendMessage.
SEND_QUEUE_ACTIONS = ("sqs:SendMessage",)
# The key is read once per container; nothing describes, lists or writes it.
LINK_SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
# Verified Shopify webhooks, enqueued by the public intake (one SendMessage per webhook).
WEBHOOK_QUEUE_ACTIONS = ("sqs:SendMessage",)
# Shops' Shopify secrets (`backinstock/shops/<shop_id>/shopify`), read by name: nothing lists or describes them.
SHOP_SECRETS_ACTIONS = ("secretsmanager:GetSecretValue",)
# Export jobs: start an execution of the export state machine (and only it), stop or describe its executions, abort
# the partial upload of a cancelled one. Reading a file is signing its download URL: GetObject on export files.
EXPORT_START_ACTIONS = ("states:StartExecution",)
CAMPAIGN_START_ACTIONS = ("states:StartExecution",)
EXPORT_EXECUTION_ACTIONS = ("states:StopExecution", "states:DescribeExecution")
EXPORT_ABORT_ACTIONS = ("s3:AbortMultipartUpload",)
EXPORT_READ_ACTIONS = ("s3:GetObject",)
EXPORT_PREFIX = "exports/"  # every export file lives under it (services/exports.py)
EXPORT_FILES_REASON = (
    "Export files are created at run time, one per job (`exports/<shop_id>/<job_id>/<file>`): no key exists at "
    "synth. The wildcard is the export bucket's `exports/` prefix only, for the actions of the access kind "
    "(GetObject to sign a download URL; AbortMultipartUpload to cancel; the task's multipart writes)."
)


def export_files_finding(role: IConstruct, bucket: s3.IBucket) -> str:
    """The cdk-nag IAM5 finding of `role`'s grant on the export files (`<bucket ARN>/exports/*`)."""
    bucket_resource = bucket.node.default_child
    assert isinstance(bucket_resource, CfnElement)
    return f"AwsSolutions-IAM5[Resource::{finding_reference(role, bucket_resource, 'Arn')}/{EXPORT_PREFIX}*]"


XRAY_WILDCARD_REASON = (
    "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports no resource-level permissions; it is "
    "the only wildcard in this role."
)
RUNTIME_REASON = (
    "Pinned to Python 3.12: the dependencies layer is built for cp312 (pip --python-version 3.12) and the code is "
    "tested on it; moving runtime is a deliberate change of both."
)


# One secret per shop, created at run time (`backinstock shops connect-shopify`): no ARN exists at synth, so the
# grant is every secret under the prefix (Secrets Manager appends a random suffix to each name: `-AbCdEf`).
SHOP_SECRETS_FINDING = (
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:"
    f"{SECRET_PREFIX}*]"
)
SHOP_SECRETS_REASON = (
    f"Each shop's Shopify secrets are one secret named {SECRET_PREFIX}<shop_id>/shopify, created at run time when a "
    "shop connects: no ARN exists at synth. The wildcard is this account's and region's secrets under that prefix "
    "only (Secrets Manager appends a random suffix to every secret's ARN); the link key and every other secret stay "
    "out of reach."
)


def shop_secrets_arn(scope: IConstruct) -> str:
    """The ARN pattern of every shop's Shopify secret, in `scope`'s account and region."""
    stack = Stack.of(scope)
    return f"arn:{stack.partition}:secretsmanager:{stack.region}:{stack.account}:secret:{SECRET_PREFIX}*"


def table_actions(access: frozenset[Access]) -> list[str]:
    """IAM actions on the main table for an access set. Writing implies reading (conditional writes,
    read-modify-write)."""
    if Access.TABLE_WRITE in access:
        access = access | {Access.TABLE_READ}
    return [name for kind in (Access.TABLE_READ, Access.TABLE_WRITE) if kind in access for name in TABLE_ACTIONS[kind]]


@dataclass(frozen=True)
class AccessTargets:
    """The resources the `Access` kinds reach."""

    table: dynamodb.ITable
    index_names: tuple[str, ...]
    idempotency_table: dynamodb.ITable
    rate_limit_table: dynamodb.ITable
    send_queue: sqs.IQueue
    webhook_queue: sqs.IQueue
    link_secret: secretsmanager.ISecret
    export_bucket: s3.IBucket
    # Logical ID -> state machine, filled in when the workflows exist (their task functions come from this
    # factory too); functions granted on a state machine are built after it.
    state_machines: dict[str, sfn.StateMachine] = field(default_factory=dict)
    index_arns: list[str] = field(init=False)

    def state_machine(self, logical_id: str) -> sfn.StateMachine:
        if logical_id not in self.state_machines:
            raise RuntimeError(f"state machine {logical_id} is not built yet: build the workflows before the API")
        return self.state_machines[logical_id]

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_arns", [f"{self.table.table_arn}/index/{n}" for n in self.index_names])


# One grant per access kind: adds the role's statements and returns the environment variables the code reads for it
# (the names of `backinstock.config`). The table kinds share one grant (writing implies reading).
Grant = Callable[[AccessTargets, iam.IRole, frozenset[Access]], dict[str, str]]


def _grant_table(targets: AccessTargets, role: iam.IRole, access: frozenset[Access]) -> dict[str, str]:
    actions = table_actions(access)
    reads = [a for a in actions if a in TABLE_ACTIONS[Access.TABLE_READ]]
    writes = [a for a in actions if a in TABLE_ACTIONS[Access.TABLE_WRITE]]
    # Reads (Query) reach the indexes; writes only ever address the base table.
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=reads, resources=[targets.table.table_arn, *targets.index_arns])
    )
    if writes:
        role.add_to_principal_policy(iam.PolicyStatement(actions=writes, resources=[targets.table.table_arn]))
    return {"TABLE_NAME": targets.table.table_name}


def _grant_export_run(targets: AccessTargets, role: iam.IRole, _access: frozenset[Access]) -> dict[str, str]:
    machine = targets.state_machine(infra_spec.EXPORT_WORKFLOW.logical_id)
    executions = Stack.of(role).format_arn(
        service="states",
        resource="execution",
        resource_name=f"{machine.state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(EXPORT_START_ACTIONS), resources=[machine.state_machine_arn])
    )
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(EXPORT_EXECUTION_ACTIONS), resources=[executions]))
    machine_resource = machine.node.default_child
    assert isinstance(machine_resource, CfnElement)
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        f"{finding_reference(role, machine_resource, 'Name')}:*]",
        "An execution is named by its export job (`exp_...`), created at run time: the wildcard is the executions "
        "of the export state machine only, for StopExecution (cancel) and DescribeExecution.",
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(EXPORT_ABORT_ACTIONS), resources=[_export_files(targets)])
    )
    acknowledge(role, export_files_finding(role, targets.export_bucket), EXPORT_FILES_REASON)
    return {
        "EXPORT_STATE_MACHINE_ARN": machine.state_machine_arn,
        "EXPORT_BUCKET_NAME": targets.export_bucket.bucket_name,
    }


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity (`grant_access` runs each grant once)
class ResourceGrant:
    """The common shape of a grant: `actions` on one resource, the environment variable that names it to the code
    (`variable` = `value`; none when the code finds it otherwise), and the cdk-nag finding the resource's wildcard
    raises, if any (the finding and its reason)."""

    actions: tuple[str, ...]
    resource: Callable[[AccessTargets, iam.IRole], str]
    variable: str | None = None
    value: Callable[[AccessTargets], str] | None = None
    finding: Callable[[AccessTargets, iam.IRole], tuple[str, str]] | None = None

    def __call__(self, targets: AccessTargets, role: iam.IRole, _access: frozenset[Access]) -> dict[str, str]:
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(self.actions), resources=[self.resource(targets, role)])
        )
        if self.finding is not None:
            acknowledge(role, *self.finding(targets, role))
        if self.variable is None or self.value is None:
            return {}
        return {self.variable: self.value(targets)}


def _export_files(targets: AccessTargets, _role: iam.IRole | None = None) -> str:
    return targets.export_bucket.arn_for_objects(EXPORT_PREFIX + "*")


def _campaign_machine(targets: AccessTargets, _role: iam.IRole | None = None) -> str:
    # A restock started by hand, or a paused campaign resumed: an execution of the campaign state machine only.
    return targets.state_machine(infra_spec.CAMPAIGN_WORKFLOW.logical_id).state_machine_arn


# Access kind -> its grant. The table kinds share one grant (writing implies reading); the export run's is three
# statements; every other kind is one row: actions, resource, environment variable.
GRANTS: Mapping[Access, Grant] = {
    Access.TABLE_READ: _grant_table,
    Access.TABLE_WRITE: _grant_table,
    Access.IDEMPOTENCY: ResourceGrant(
        IDEMPOTENCY_ACTIONS,
        resource=lambda t, _: t.idempotency_table.table_arn,
        variable="IDEMPOTENCY_TABLE_NAME",
        value=lambda t: t.idempotency_table.table_name,
    ),
    Access.SEND_QUEUE: ResourceGrant(
        SEND_QUEUE_ACTIONS,
        resource=lambda t, _: t.send_queue.queue_arn,
        variable="SEND_QUEUE_URL",
        value=lambda t: t.send_queue.queue_url,
    ),
    Access.WEBHOOK_QUEUE: ResourceGrant(
        WEBHOOK_QUEUE_ACTIONS,
        resource=lambda t, _: t.webhook_queue.queue_arn,
        variable="WEBHOOK_QUEUE_URL",
        value=lambda t: t.webhook_queue.queue_url,
    ),
    # Found by name from the shop id (`repositories/shop_secrets.py`): no environment variable.
    Access.SHOP_SECRETS: ResourceGrant(
        SHOP_SECRETS_ACTIONS,
        resource=lambda _, role: shop_secrets_arn(role),
        finding=lambda _, __: (SHOP_SECRETS_FINDING, SHOP_SECRETS_REASON),
    ),
    Access.LINK_SECRET: ResourceGrant(
        LINK_SECRET_ACTIONS,
        resource=lambda t, _: t.link_secret.secret_arn,
        variable="LINK_SECRET_ARN",
        value=lambda t: t.link_secret.secret_arn,
    ),
    Access.EXPORT_RUN: _grant_export_run,
    Access.EXPORT_READ: ResourceGrant(
        EXPORT_READ_ACTIONS,
        resource=_export_files,
        variable="EXPORT_BUCKET_NAME",
        value=lambda t: t.export_bucket.bucket_name,
        finding=lambda t, role: (export_files_finding(role, t.export_bucket), EXPORT_FILES_REASON),
    ),
    Access.RATE_LIMIT: ResourceGrant(
        RATE_LIMIT_ACTIONS,
        resource=lambda t, _: t.rate_limit_table.table_arn,
        variable="RATE_LIMIT_TABLE_NAME",
        value=lambda t: t.rate_limit_table.table_name,
    ),
    Access.CAMPAIGN_RUN: ResourceGrant(
        CAMPAIGN_START_ACTIONS,
        resource=_campaign_machine,
        variable=infra_spec.CAMPAIGN_WORKFLOW.env_var,
        value=_campaign_machine,
    ),
}
# A new access kind without a grant would silently grant nothing: fail the synth (and the import) instead.
_UNGRANTED = set(Access) - set(GRANTS)
if _UNGRANTED:
    raise RuntimeError(
        f"stacks/constructs/functions.py: no grant for access kinds {sorted(a.name for a in _UNGRANTED)}"
    )

# Environment variable -> the config model that reads it, for the variables the grants set: a renamed variable on
# either side fails the synth here rather than the function's cold start.
_GRANT_VARIABLES: dict[str, type[config.BaseEnv]] = {
    "TABLE_NAME": config.TableEnv,
    "IDEMPOTENCY_TABLE_NAME": config.IdempotencyEnv,
    "RATE_LIMIT_TABLE_NAME": config.RateLimitEnv,
    "SEND_QUEUE_URL": config.QueueEnv,
    "WEBHOOK_QUEUE_URL": config.WebhookQueueEnv,
    "LINK_SECRET_ARN": config.LinkEnv,
    "EXPORT_STATE_MACHINE_ARN": config.ExportRunEnv,
    "EXPORT_BUCKET_NAME": config.ExportReadEnv,
    "CAMPAIGN_STATE_MACHINE_ARN": config.CampaignRunEnv,
}
for _variable, _model in _GRANT_VARIABLES.items():
    if _variable not in _model.model_fields:
        raise RuntimeError(f"{_model.__name__} no longer reads {_variable}: update the grants")


def grant_access(targets: AccessTargets, role: iam.IRole, access: frozenset[Access]) -> dict[str, str]:
    """Every grant an access set implies, once each. Returns the environment variables they need."""
    environment: dict[str, str] = {}
    done: set[Grant] = set()
    for kind in Access:  # a stable order: the template does not change when a frozenset iterates differently
        grant = GRANTS[kind]
        if kind in access and grant not in done:
            done.add(grant)
            environment.update(grant(targets, role, access))
    return environment


class FunctionFactory:
    """Builds functions into any construct: the action functions into their resource's nested stack
    (`stacks.action_stacks`), the authorizer into `Api`, the queue workers into their `QueueWorker`s, the workflow tasks
    into `Workflows`.

    `stack`: the stack that holds what every function shares (the log group); functions may be built in it or in its
    nested stacks, which reach the shared things through CloudFormation parameters."""

    def __init__(self, *, stack: Stack, layers: Layers, targets: AccessTargets, log_level: str = "INFO") -> None:
        self.targets = targets
        self._stack = stack
        self._layers = layers
        self._base_env = config.BaseEnv(LOG_LEVEL=log_level).model_dump()
        self._code: dict[str, lambda_.Code] = {}  # by stack path
        self._log_group: logs.LogGroup | None = None

    def log_group(self) -> logs.LogGroup:
        """The one log group every function writes to (Lambda's advanced logging: `LoggingConfig.LogGroup`).

        One group, not one per function: CloudFormation allows 500 resources a stack, and a log group per function
        was 50 of them. Each line is Powertools JSON carrying `function_name` (and `action`, `shop_id`), so Logs
        Insights filters by function as a per-function group would; each role may write only to this group. It
        stays in the main stack whichever stack a function is built in."""
        if self._log_group is None:
            self._log_group = logs.LogGroup(self._stack, "FunctionLogs", retention=LOG_RETENTION)
            checkov_skip(self._log_group, "CKV_AWS_158", CHECKOV_LOG_GROUP_REASON)
        return self._log_group

    def code(self, scope: Construct) -> lambda_.Code:
        """One code asset for every function: the whole functions/ directory (each entry point is a few lines).
        CDK binds an asset to one stack, so each stack gets its own `Code`; the content hash, and so the uploaded
        object, is the same for all of them."""
        stack = Stack.of(scope).node.path
        if stack not in self._code:
            self._code[stack] = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=FUNCTION_EXCLUDES)
        return self._code[stack]

    def function(
        self,
        scope: Construct,
        name: str,
        *,
        handler: str,
        access: frozenset[Access],
        description: str,
        role_description: str,
        memory_size: int = DEFAULT_MEMORY_MB,
        timeout: Duration = DEFAULT_TIMEOUT,
        environment: Mapping[str, str] | None = None,
        statements: Iterable[iam.PolicyStatement] = (),
        wildcard_reason: str = XRAY_WILDCARD_REASON,
        entry_point: str | None = None,
    ) -> lambda_.Function:
        """`handler`: module under functions/ exposing `handler`. `access`: what the role may touch, and the
        environment that goes with it. `environment` and `statements`: what no access kind covers (a worker's
        provider calls, its settings). `wildcard_reason`: why every `Resource: *` of the role is needed."""
        log_group = self.log_group()
        role = iam.Role(
            scope,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=role_description,
        )
        log_group.grant_write(role)
        env = {**self._base_env, **grant_access(self.targets, role, access), **(environment or {})}
        for statement in statements:
            role.add_to_principal_policy(statement)
        function = lambda_.Function(
            scope,
            f"{name}Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=entry_point or f"{handler}.handler",  # an action's `Action.entry_point`
            code=self.code(scope),
            layers=self._layers.all,
            environment=env,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            memory_size=memory_size,
            timeout=timeout,
            description=description[:256],
        )
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", wildcard_reason)
        acknowledge(function, "AwsSolutions-L1", RUNTIME_REASON)
        for check_id, reason in CHECKOV_FUNCTION_SKIPS.items():
            checkov_skip(function, check_id, reason)
        return function
