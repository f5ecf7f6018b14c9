"""Step Functions in the local run and the integration tests: moto executes the very state machine definitions
that the CDK stack deploys (`infra_spec.STATE_MACHINES`), and their Lambda tasks run our handlers under
`functions/`, in process.

moto runs Lambda code only in Docker; with `lambda.use_docker` off it answers every invoke with an echo. `enable()`
replaces that echo with a call of the task's handler (a moto internal: moto is pinned exactly in pyproject.toml).
A handler that raises answers as Lambda does (`FunctionError: Unhandled`), so the definition's Retry and Catch
apply as in AWS. Executions run on moto's own threads: Wait states really wait (the campaign's wait is scaled in
the local run, see `CAMPAIGN_SECONDS_PER_HOUR`).
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import nullcontext
from typing import Any

from backinstock import aws, dispatch, infra_spec

logger = logging.getLogger("backinstock_tools.local.stepfunctions")

ACCOUNT_ID = "123456789012"  # moto's default account
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/backinstock-local-workflows"
MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}

_TASK_MODULES = {
    infra_spec.task_function_name(module): module for spec in infra_spec.STATE_MACHINES for _, module in spec.tasks
}


def enable(lock: threading.RLock | None = None) -> None:
    """Make moto execute state machines and route their Lambda tasks to our handlers. `lock` is the local run's
    invocation lock (one handler at a time, as the local server and pollers run them)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config

    default_user_config.update(MOTO_CONFIG)  # type: ignore[typeddict-item]
    guard = lock if lock is not None else nullcontext()

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        module = _TASK_MODULES.get(name)
        if module is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error(f"no local handler for the Lambda function {name!r}", "ResourceNotFoundException")
        event = json.loads(body) if body else {}
        try:
            with guard:
                result = dispatch.handler_for(module)(event, dispatch.LambdaContext(name))
        except Exception as exc:  # answered as Lambda answers an unhandled error, so Retry/Catch apply
            logger.warning("workflow task %s failed: %s", name, exc, exc_info=True)
            response_headers["x-amz-function-error"] = "Unhandled"
            return _error(str(exc), type(exc).__name__)
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def _error(message: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def local_definition(spec: infra_spec.StateMachineSpec, region: str) -> str:
    definition = spec.definition()
    for placeholder, module in spec.tasks:
        arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{infra_spec.task_function_name(module)}"
        definition = definition.replace("${" + placeholder + "}", arn)
    return definition


def create_state_machines(region: str) -> dict[str, str]:
    """Every state machine of the stack; returns {env var: state machine ARN}."""
    sfn = aws.client("stepfunctions")
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    env: dict[str, str] = {}
    for spec in infra_spec.STATE_MACHINES:
        name = f"backinstock-{spec.logical_id}"
        arn = (
            existing.get(name)
            or sfn.create_state_machine(
                name=name, definition=local_definition(spec, region), roleArn=ROLE_ARN, type="STANDARD"
            )["stateMachineArn"]
        )
        env[spec.env_var] = arn
    return env
