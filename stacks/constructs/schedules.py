"""Schedules: functions that EventBridge rules invoke on a clock (`infra_spec.SCHEDULES`): today the merchants'
scheduled summary emails, one rule per period, each passing `{"period": <name>}` to the same function."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from backinstock import config, infra_spec
from backinstock.registry import Access
from stacks.constructs.functions import FunctionFactory
from stacks.constructs.sending import acknowledge_ses_identities, ses_send_email_statement

# Reads shops (GSI1 `SHOPS`) and the rollups, writes the once-per-period markers; emails merchants.
SCHEDULE_ACCESS = {infra_spec.SCHEDULED_REPORTS.handler: frozenset({Access.TABLE_READ, Access.TABLE_WRITE})}
SCHEDULE_TIMEOUT = Duration.minutes(5)


class Schedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: FunctionFactory, sender_email: str) -> None:
        super().__init__(scope, construct_id)
        self.functions: dict[str, lambda_.Function] = {}
        self.rules: dict[str, events.Rule] = {}
        environment = {"SENDER_EMAIL": sender_email}
        if set(environment) - set(config.MailEnv.model_fields):
            raise RuntimeError("config.MailEnv no longer reads SENDER_EMAIL")
        for spec in infra_spec.SCHEDULES:
            if spec.handler not in SCHEDULE_ACCESS:
                raise RuntimeError(f"stacks/constructs/schedules.py: no access declared for {spec.handler}")
            name = spec.handler.rsplit(".", 1)[-1]
            construct_name = "".join(part.title() for part in name.split("_"))
            function = functions.function(
                self,
                construct_name,
                handler=spec.handler,
                access=SCHEDULE_ACCESS[spec.handler],
                description=f"Scheduled: {spec.handler} ({', '.join(p for p, _ in spec.rules)})",
                role_description=f"backinstock {spec.handler}: least privilege for a scheduled function",
                timeout=SCHEDULE_TIMEOUT,
                environment=environment,
                statements=[ses_send_email_statement(self, sender_email)],
            )
            assert function.role is not None
            acknowledge_ses_identities(function.role)
            self.functions[name] = function
            for period, expression in spec.rules:
                rule = events.Rule(
                    self,
                    f"{construct_name}{period.title()}Rule",
                    schedule=events.Schedule.expression(expression),
                    description=f"backinstock: {spec.handler} {period} ({expression}, UTC)",
                )
                rule.add_target(
                    targets.LambdaFunction(
                        function,
                        event=events.RuleTargetInput.from_object({"period": period}),
                        retry_attempts=2,
                    )
                )
                self.rules[f"{name}:{period}"] = rule
