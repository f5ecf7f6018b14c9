"""The actions, one nested stack per registry resource ("signups", "reports", ...).

Why: CloudFormation allows 500 resources a stack, and each action brings five of them (its function, role, policy,
API permission and alarm) plus its routes (API methods and path resources, a `/help` route for each new path). In
one stack, 43 actions and everything they share came to 451. Here an action's resources land in the nested stack of
its `Action.resource`, and a new resource (`preorders`) gets a nested stack of its own without a line changing: each
stack grows with its own resource's actions only.

What a nested stack holds, per action: the function and its role and policy (built by `FunctionFactory`, as in the
main stack), the permission that lets the API invoke it (`stacks.constructs.api` adds it on the function) and its
errors + throttles alarm (`stacks.constructs.monitoring.Monitoring` puts each function's alarm in the function's
stack); and the action's routes, except for the resources whose routes were deployed in the main stack before these
stacks existed (`stacks.constructs.routes`). Everything shared (tables, queues, secrets, layers, the one log group,
the REST API, its authorizers and shared path resources, the alarm topic) stays in the main stack and arrives as
CloudFormation parameters, which CDK creates per reference.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import NestedStack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from backinstock import registry
from backinstock.registry import Action
from stacks.constructs.api import action_function, construct_name
from stacks.constructs.functions import FunctionFactory
from stacks.constructs.routes import stack_of


def resources_in_order(actions: Sequence[Action]) -> list[str]:
    """The registry resources, in the order their first action is declared (the order of the nested stacks)."""
    return list(dict.fromkeys(action.resource for action in actions))


def _routes_note(resource: str) -> str:
    return "and their routes" if stack_of(resource) else "their routes are in the main stack"


class ActionStack(NestedStack):
    """One registry resource's actions. `functions`: action name -> function (the API adds the routes)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource: str,
        actions: Sequence[Action],
        every_action: Sequence[Action],
        functions: FunctionFactory,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"Back-in-stock API: the {resource} actions, a function each ({_routes_note(resource)})",
        )
        self.resource = resource
        # `every_action`: an action that runs others in-process (MCP) is granted the union of their access.
        self.functions: dict[str, lambda_.Function] = {
            action.name: action_function(functions, self, action, every_action) for action in actions
        }


class ActionStacks(Construct):
    """One `ActionStack` per registry resource (`stacks`: resource -> its stack), and every action's function
    (`functions`: action name -> function, in registry order)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        actions: Sequence[Action] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        actions = tuple(registry.actions() if actions is None else actions)
        self.stacks: dict[str, ActionStack] = {
            resource: ActionStack(
                self,
                construct_name(resource),
                resource=resource,
                actions=[a for a in actions if a.resource == resource],
                every_action=actions,
                functions=functions,
            )
            for resource in resources_in_order(actions)
        }
        by_name = {name: f for stack in self.stacks.values() for name, f in stack.functions.items()}
        self.functions: dict[str, lambda_.Function] = {a.name: by_name[a.name] for a in actions}
