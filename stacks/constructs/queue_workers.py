"""A queue worker: a work queue, its dead-letter queue, and the worker function that consumes it. The send queue
(`stacks.constructs.sending.SEND_WORKER`) and the webhook queue (`stacks.constructs.webhooks.WEBHOOK_WORKER`) are
both this construct; what differs between them is a `WorkerSpec` (data) and what `add_worker` is given.

Built in two steps: the queues exist before the API (its functions are granted on them: notify enqueues sends, the
public intake enqueues webhooks), the worker after what it references (the API's base URL for the send worker's
links, the campaign state machine for the webhook worker's restocks). The worker is no API route, so its reference
to the REST API makes no cycle.

Logical IDs: the queues' are pinned to their `QueueSpec` (`queues.pin`); the worker's function, role and event source
follow from the construct path (`<construct id>/<WorkerSpec.construct_id>...`), so the stack keeps the construct IDs
`Sending` and `Webhooks` and the specs keep `SendWorker` and `WebhookWorker`: renaming either replaces the worker
(harmless) and its event source mapping (also harmless: the queue, and the messages in it, stay).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from backinstock import config, infra_spec
from backinstock.infra_spec import QueueSpec
from backinstock.registry import Access
from stacks.constructs.functions import XRAY_WILDCARD_REASON, FunctionFactory
from stacks.constructs.queues import queue_with_dead_letters
from stacks.nag import acknowledge, checkov_skip


@dataclass(frozen=True)
class WorkerSpec:
    """What makes one queue worker differ from another.

    `name`: the worker's name on the dashboard and in its alarm (`send_worker`); `construct_id`: the function's
    construct ID (`SendWorker` -> `SendWorkerFunction`, `SendWorkerRole`: its logical IDs); `handler`: the module
    under functions/ (in `infra_spec.WORKER_HANDLERS`); `access`: the grants every function can get; `purpose`: what
    the queue carries, for its dead-letter queue's acknowledgment; `environment_model`: the config model that reads
    the environment `add_worker` is given (a variable it does not read fails the synth); `role_findings`: cdk-nag
    findings acknowledged on the role (finding, reason) for the statements `add_worker` is given;
    `policy_checkov_skips`: checkov checks skipped on the role's policy (check, reason)."""

    name: str
    construct_id: str
    handler: str
    queue: QueueSpec
    access: frozenset[Access]
    max_concurrency: int
    purpose: str
    description: str
    environment_model: type[config.BaseEnv]
    wildcard_reason: str = XRAY_WILDCARD_REASON
    role_findings: tuple[tuple[str, str], ...] = ()
    policy_checkov_skips: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.handler not in infra_spec.WORKER_HANDLERS:
            raise RuntimeError(f"{self.handler} is not in infra_spec.WORKER_HANDLERS")

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")  # "send worker"


class QueueWorker(Construct):
    """`queue` and `dead_letter_queue` at once; `worker` once `add_worker` has run."""

    def __init__(self, scope: Construct, construct_id: str, *, spec: WorkerSpec) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.queue, self.dead_letter_queue = queue_with_dead_letters(self, spec.queue, purpose=spec.purpose)
        self._worker: lambda_.Function | None = None

    @property
    def worker(self) -> lambda_.Function:
        if self._worker is None:
            raise RuntimeError(f"{self.node.path}: add_worker has not been called")
        return self._worker

    def add_worker(
        self,
        *,
        functions: FunctionFactory,
        environment: Mapping[str, str],
        statements: Iterable[iam.PolicyStatement] = (),
    ) -> lambda_.Function:
        """The worker: an SQS event source on the queue, partial batch failures, least privilege. `environment` and
        `statements`: what no access kind covers (its settings, its provider and workflow calls)."""
        if self._worker is not None:
            raise RuntimeError(f"{self.node.path}: the worker exists already")
        spec = self.spec
        # A renamed variable on either side fails the synth, not the worker's cold start.
        unread = set(environment) - set(spec.environment_model.model_fields)
        if unread:
            raise RuntimeError(f"config.{spec.environment_model.__name__} does not read {sorted(unread)}")
        worker = functions.function(
            self,
            spec.construct_id,
            handler=spec.handler,
            access=spec.access,
            description=spec.description,
            role_description=f"backinstock {spec.handler}: least privilege for the {spec.label}",
            timeout=Duration.seconds(spec.queue.worker_timeout_seconds),
            environment=environment,
            statements=statements,
            wildcard_reason=spec.wildcard_reason,
        )
        worker.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=spec.queue.batch_size,
                report_batch_item_failures=True,
                max_concurrency=spec.max_concurrency,
            )
        )
        assert worker.role is not None
        for finding, reason in spec.role_findings:
            acknowledge(worker.role, finding, reason)
        policy = worker.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            for check_id, reason in spec.policy_checkov_skips:
                checkov_skip(policy, check_id, reason)
        self._worker = worker
        return worker
