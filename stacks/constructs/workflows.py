"""Workflows: one Standard Step Functions state machine per `infra_spec.STATE_MACHINES` entry, with the Lambda
functions of its tasks.

Everything here is a loop over the specs: a workflow added to `STATE_MACHINES` gets its functions (through
`FunctionFactory`, with the access `TASK_ACCESS` gives each task handler, and the extras of `TaskSettings` when it
needs more), its state machine and a role that may invoke exactly its own task functions. A task handler without a
`TASK_ACCESS` entry fails the synth.

The definition is the ASL JSON the local run executes too (`spec.definition()`), inline in the template
(`DefinitionBody.from_string`), its `${Placeholder}` names substituted with the task functions' ARNs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from backinstock import infra_spec
from backinstock.infra_spec import StateMachineSpec
from backinstock.registry import Access
from stacks.constructs.functions import CHECKOV_LOG_GROUP_REASON, XRAY_WILDCARD_REASON, FunctionFactory
from stacks.constructs.layers import REPO_ROOT
from stacks.constructs.queues import pin
from stacks.nag import acknowledge, checkov_skip

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
DEFAULT_TASK_TIMEOUT = Duration.seconds(60)

# Task handler (module under functions/) -> what its function may touch. Stated per handler, not per workflow: two
# workflows sharing a handler share its access.
TASK_ACCESS: dict[str, frozenset[Access]] = {
    # One batch of a restock campaign: reads the campaign and its signups, claims them, enqueues their sends.
    # CAMPAIGN_SECONDS_PER_HOUR is not set: 3600 in AWS (the local run shortens it).
    "workflows.campaign_step": frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.SEND_QUEUE}),
    # A CSV export: reads rollups or signups, writes the job row's progress (the bucket: `Exports.task_settings`).
    "workflows.export_step": frozenset({Access.TABLE_READ, Access.TABLE_WRITE}),
}


@dataclass(frozen=True)
class TaskSettings:
    """What a task function needs beyond its `TASK_ACCESS` grants: `environment`, `statements` (built in the
    workflow's scope, so they can name the stack's account and region), a `timeout`, and `wildcard_reason` when a
    statement adds a `Resource: *` beside X-Ray's."""

    environment: Mapping[str, str] = field(default_factory=dict)
    statements: Callable[[Construct], Iterable[iam.PolicyStatement]] | None = None
    timeout: Duration = DEFAULT_TASK_TIMEOUT
    wildcard_reason: str = XRAY_WILDCARD_REASON


# Task handler -> its extras; a handler without an entry gets `TaskSettings()`. The stack may pass more (settings
# that reference its resources) to `Workflows(task_settings=...)`.
TASK_SETTINGS: dict[str, TaskSettings] = {}

STATE_MACHINE_WILDCARD_REASON = (
    "CDK's grants for the state machine's own logging and tracing: CloudWatch Logs vended log delivery "
    "(logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, "
    "PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray (xray:PutTraceSegments, "
    "PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support no resource-level permissions. Invoking its "
    "tasks is scoped to each task function's ARN."
)


def missing_task_access(specs: Iterable[StateMachineSpec] = infra_spec.STATE_MACHINES) -> list[str]:
    return sorted({module for spec in specs for _, module in spec.tasks} - set(TASK_ACCESS))


def construct_name(module: str) -> str:
    """`workflows.campaign_step` -> `CampaignStep`."""
    return "".join(part.capitalize() for part in module.rsplit(".", 1)[-1].split("_"))


class Workflows(Construct):
    """`state_machines`: logical ID -> state machine. `task_functions`: task handler module -> its function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        specs: Iterable[StateMachineSpec] = infra_spec.STATE_MACHINES,
        task_settings: Mapping[str, TaskSettings] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        specs = tuple(specs)
        missing = missing_task_access(specs)
        if missing:
            raise RuntimeError(f"stacks/constructs/workflows.py: no TASK_ACCESS entry for the task handlers {missing}")
        settings = {**TASK_SETTINGS, **(task_settings or {})}
        self._functions = functions
        self.task_functions: dict[str, lambda_.Function] = {}
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for spec in specs:
            tasks = {placeholder: self._task_function(module, settings) for placeholder, module in spec.tasks}
            self.state_machines[spec.logical_id] = self._state_machine(spec, tasks)

    def _task_function(self, module: str, settings: Mapping[str, TaskSettings]) -> lambda_.Function:
        if module in self.task_functions:  # a handler shared by two workflows is one function
            return self.task_functions[module]
        if not (REPO_ROOT / "functions" / f"{module.replace('.', '/')}.py").is_file():
            raise RuntimeError(f"workflow task handler functions/{module.replace('.', '/')}.py does not exist")
        extra = settings.get(module, TaskSettings())
        function = self._functions.function(
            self,
            construct_name(module),
            handler=module,
            access=TASK_ACCESS[module],
            description=f"Step Functions task {module}",
            role_description=f"backinstock {module}: least privilege for a workflow task",
            timeout=extra.timeout,
            environment=extra.environment,
            statements=extra.statements(self) if extra.statements else (),
            wildcard_reason=extra.wildcard_reason,
        )
        self.task_functions[module] = function
        return function

    def _state_machine(self, spec: StateMachineSpec, tasks: Mapping[str, lambda_.Function]) -> sfn.StateMachine:
        definition = spec.definition()
        for placeholder in tasks:
            if "${" + placeholder + "}" not in definition:
                raise RuntimeError(f"{spec.definition_file} never uses the placeholder ${{{placeholder}}}")
        log_group = logs.LogGroup(self, f"{spec.logical_id}Logs", retention=LOG_RETENTION)
        checkov_skip(log_group, "CKV_AWS_158", CHECKOV_LOG_GROUP_REASON)
        role = iam.Role(
            self,
            f"{spec.logical_id}Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"backinstock {spec.logical_id}: invokes its own task functions, logs and traces",
        )
        # Exactly the unqualified ARNs the definition names (no `:*` for versions or aliases: it calls none).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=list(dict.fromkeys(f.function_arn for f in tasks.values())),
            )
        )
        state_machine = sfn.StateMachine(
            self,
            spec.logical_id,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions={placeholder: f.function_arn for placeholder, f in tasks.items()},
            role=role,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            tracing_enabled=True,
        )
        # Executions in flight (a campaign waits hours between batches) end with their state machine: a moved
        # construct must never replace it.
        pin(state_machine, spec.logical_id)
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", STATE_MACHINE_WILDCARD_REASON)
        return state_machine
