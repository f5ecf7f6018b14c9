"""Step Functions executions behind a small interface: a service starts and stops a workflow and knows nothing of
boto3 (`services.exports.Workflow` is the port; tests may pass any object with these two methods)."""

from __future__ import annotations

import json
from typing import Any

from backinstock import aws


class StepFunctionsWorkflow:
    """Starts and stops executions of one state machine (Standard). The client is made on first use."""

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or aws.client("stepfunctions")

    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start an execution named `name` (an execution name is unique per state machine: a retry with the same
        name cannot start a second one). Returns its ARN."""
        arn: str = self.client.start_execution(stateMachineArn=self.arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
        return arn

    def stop(self, execution_arn: str) -> None:
        """Stop an execution; one that no longer exists is already stopped."""
        try:
            self.client.stop_execution(executionArn=execution_arn, cause="Cancelled by the merchant")
        except self.client.exceptions.ExecutionDoesNotExist:
            return
