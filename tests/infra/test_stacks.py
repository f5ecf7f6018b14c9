"""The app's stacks: what goes where, and room to grow under CloudFormation's limits.

The main stack holds everything shared; each registry resource's actions live in a nested stack of their own, five
resources an action (function, role, policy, API permission, alarm) and the action's routes (methods, path
resources). The resources deployed before the nested stacks existed keep their routes in the main stack: a deployed
route cannot move. A new resource adds one resource to the main stack (its nested stack); the last test grows the
registry by twenty actions and checks exactly that.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from backinstock import registry
from backinstock.registry import Access, Action
from stacks.constructs.routes import prefixes
from tests.infra.template import (
    SKIP_BUNDLING,
    StackTemplate,
    Synth,
    cfn_lint,
    getatt_target,
    load_synth,
    methods,
    not_allowed_methods,
    registry_routes,
    route_stacks,
)

pytestmark = pytest.mark.infra

# CloudFormation allows 500 resources, 200 parameters and 200 outputs a template: keep a fifth of each free.
RESOURCE_BUDGET = 400
PARAMETER_BUDGET = OUTPUT_BUDGET = 160
# What one action brings to its resource's nested stack.
PER_ACTION = {
    "AWS::Lambda::Function": 1,
    "AWS::IAM::Role": 1,
    "AWS::IAM::Policy": 1,
    "AWS::Lambda::Permission": 1,
    "AWS::CloudWatch::Alarm": 1,
}


def _types(stack: StackTemplate) -> Counter[str]:
    return Counter(r["Type"] for r in stack.template["Resources"].values())


def _actions_in(stack: StackTemplate) -> list[Action]:
    """The registry actions whose functions a stack holds (by handler)."""
    handlers = {
        r["Properties"]["Handler"] for r in stack.template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    }
    return [a for a in registry.actions() if a.entry_point in handlers]


def test_every_stack_leaves_room_under_cloudformation_limits(synth: Synth) -> None:
    """CloudFormation refuses a template over its limits: fail here, with room left, not at deploy."""
    assert len(synth.stacks) == 1 + len({a.resource for a in registry.actions()})
    for stack in synth.stacks.values():
        assert stack.resource_count <= RESOURCE_BUDGET, (stack.file, stack.resource_count)
        assert len(stack.template.get("Parameters", {})) <= PARAMETER_BUDGET, stack.file
        assert len(stack.template.get("Outputs", {})) <= OUTPUT_BUDGET, stack.file


def test_each_registry_resource_has_a_nested_stack_of_its_action_functions(synth: Synth) -> None:
    resources = []
    for stack in synth.nested:
        actions = _actions_in(stack)
        (resource,) = {a.resource for a in actions}  # one registry resource a stack
        resources.append(resource)
        assert {a.name for a in actions} == {a.name for a in registry.actions() if a.resource == resource}
        # Five resources an action, and (for a resource deployed after the nested stacks) its routes: the size of a
        # nested stack is bounded by its own actions.
        kinds = _types(stack)
        routes = Counter({k: kinds.pop(k) for k in ROUTE_KINDS if k in kinds})
        assert kinds == Counter({kind: n * len(actions) for kind, n in PER_ACTION.items()}), stack.file
        if resource in DEPLOYED_IN_MAIN_STACK:
            assert not routes, stack.file
        else:
            owned = [r for r, file in route_stacks(synth).items() if file == stack.file]
            answers_405 = [p for p, (file, _) in not_allowed_methods(synth).items() if file == stack.file]
            assert routes["AWS::ApiGateway::Method"] == len(owned) + len(answers_405), stack.file
            assert len(owned) >= len(actions), stack.file
    assert sorted(resources) == sorted({a.resource for a in registry.actions()})
    # No action function is left in the main stack.
    assert not _actions_in(synth.main)


# Stated here on purpose, not imported from stacks/: the resources whose routes were deployed in the main stack
# before the nested stacks existed. Moving a deployed route to another stack fails the deploy (API Gateway refuses a
# second method at a path, and CloudFormation creates the new one before it deletes the old).
DEPLOYED_IN_MAIN_STACK = {"signups", "notifications", "settings", "webhooks", "reports", "meta"}
ROUTE_KINDS = ("AWS::ApiGateway::Method", "AWS::ApiGateway::Resource")


def _new_prefix_help(action: Action, path: str) -> bool:
    """A `<prefix>/help` route of the help action whose prefix only new resources' routes live under: it lives with
    them (stacks/constructs/routes.py), it was never deployed in the main stack."""
    if action.name != "help" or not path.endswith("/help") or path == "/help":
        return False
    prefix = path.removesuffix("/help")
    under = {
        a.resource
        for a in registry.actions()
        if (a.name != "help" and a.path.startswith(prefix + "/")) or a.path == prefix
    }
    return len(under) == 1 and not (under & DEPLOYED_IN_MAIN_STACK)  # a prefix shared by resources keeps its help


def test_routes_deployed_before_the_nested_stacks_stay_in_the_main_stack(synth: Synth) -> None:
    where = route_stacks(synth)
    assert set(where) == registry_routes()
    for action in registry.actions():
        if action.resource in DEPLOYED_IN_MAIN_STACK:
            for path in action.all_paths:
                if _new_prefix_help(action, path):
                    assert where[(action.method, action.gateway_path(path))] != synth.main.file, path
                    continue
                assert where[(action.method, action.gateway_path(path))] == synth.main.file, (action.name, path)
    # The REST API, its deployment and stage, its authorizers and every stateful resource: the main stack.
    main = _types(synth.main)
    shared = ("RestApi", "Deployment", "Stage", "Authorizer", "GatewayResponse")
    for kind in [f"AWS::ApiGateway::{k}" for k in shared] + [
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::StepFunctions::StateMachine",
        "AWS::S3::Bucket",
        "AWS::SecretsManager::Secret",
    ]:
        assert main[kind] == len(synth.resources(kind)) > 0, kind
    assert main["AWS::CloudFormation::Stack"] == len(synth.nested)


def test_main_stack_keeps_its_outputs(synth: Synth) -> None:
    outputs = synth.main.template["Outputs"]
    assert {"ApiBaseUrl", "TableName", "ExportBucketName", "AlarmTopicArn", "SendQueueUrl"} <= set(outputs)


# Twenty more actions in a new resource, shaped like the coming preorder reports: nine reports (GET) with their
# exports (POST), and two offer actions.
PREORDERS = "preorders_fake"
_REPORTS = [f"fake_report_{i}" for i in range(9)]


def _fake_action(name: str, method: str, path: str, access: frozenset[Access]) -> Action:
    return Action(
        name=name,
        method=method,
        path=path,
        resource=PREORDERS,
        description=f"test only: {name}",
        handler=f"{PREORDERS}.{name}",
        access=access,
    )


def _fake_actions() -> tuple[Action, ...]:
    read = frozenset({Access.TABLE_READ})
    export = frozenset({Access.TABLE_READ, Access.TABLE_WRITE, Access.IDEMPOTENCY, Access.EXPORT_RUN})
    prefix = "/back_in_stock/preorders_fake"
    actions = []
    for report in _REPORTS:
        actions.append(_fake_action(f"{report}_report", "GET", f"{prefix}/reports/{report}", read))
        actions.append(_fake_action(f"export_{report}_report", "POST", f"{prefix}/reports/{report}/export", export))
    actions.append(_fake_action("list_fake_offers", "GET", f"{prefix}/offers", read))
    actions.append(_fake_action("create_fake_offer", "POST", f"{prefix}/offers", read | {Access.TABLE_WRITE}))
    return tuple(actions)


@pytest.fixture
def grown_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Action, ...]]:
    """The registry plus a resource module of twenty actions (the help action gains their `/help` paths, as it
    would for a real module)."""
    module = types.ModuleType("tests.infra.fake_preorders_actions")
    module.ACTIONS = _fake_actions()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(registry, "RESOURCE_MODULES", (*registry.RESOURCE_MODULES, module.__name__))
    registry.actions.cache_clear()
    yield module.ACTIONS  # type: ignore[attr-defined]
    monkeypatch.undo()
    registry.actions.cache_clear()


def test_a_new_resource_of_twenty_actions_adds_one_resource_to_the_main_stack(
    synth: Synth, grown_registry: tuple[Action, ...], tmp_path: Path
) -> None:
    """Its functions and their satellites (five resources an action) and its routes (methods and path resources,
    `/help` routes included) all go in its own nested stack. The grown app goes through cdk-nag and cfn-lint:
    routes in a nested stack exist only here. (aws-cdk-lib's own validation, which cfn-lint's schema checks cover,
    is left to `test_synth_validated.py`: it doubles the time of a synth.)"""
    from stacks.application import build_app

    grown_routes = registry_routes()
    new_routes = {(method, path) for method, path in grown_routes if f"/{PREORDERS}" in path}
    assert len(grown_registry) == 20 and len(new_routes) > 20  # each path with its /help
    assert grown_routes - new_routes == set(methods(synth)), "the new resource adds routes and changes none"

    app, stack = build_app(outdir=str(tmp_path), validation=False, checks=True, context=SKIP_BUNDLING)
    app.synth()  # raises on an unacknowledged cdk-nag finding
    grown = load_synth(tmp_path, stack.artifact_id)
    result = cfn_lint(grown)
    assert result.returncode == 0, result.stdout + result.stderr

    # Every route, wherever it lives, invokes its own action's function.
    routes = methods(grown)
    assert set(routes) == grown_routes
    handlers = {lid: f["Properties"]["Handler"] for lid, f in grown.resources("AWS::Lambda::Function").items()}
    for action in registry.actions():
        for path in action.all_paths:
            uri = routes[(action.method, action.gateway_path(path))]["Integration"]["Uri"]
            assert handlers[getatt_target(uri)] == action.entry_point, (action.name, path)

    (new_stack,) = [s for s in grown.nested if {a.resource for a in _actions_in(s)} == {PREORDERS}]
    where = route_stacks(grown)
    assert {route for route in where if where[route] == new_stack.file} == new_routes
    route_resources = {
        # its routes, and the ANY method (405) of each of their paths
        "AWS::ApiGateway::Method": len(new_routes) + len({path for _, path in new_routes}),
        "AWS::ApiGateway::Resource": len(_path_resources(new_routes)),
    }
    per_action = {kind: n * len(grown_registry) for kind, n in PER_ACTION.items()}
    assert _types(new_stack) == Counter({**per_action, **route_resources})
    # The main stack: one more resource, the nested stack. The other nested stacks: unchanged.
    assert grown.main.resource_count == synth.main.resource_count + 1
    assert sorted(s.resource_count for s in grown.nested if s is not new_stack) == sorted(
        s.resource_count for s in synth.nested
    )
    # The stage's deployment depends on the new stack and is a new deployment: new routes get deployed.
    ((deployment_id, deployment),) = grown.resources("AWS::ApiGateway::Deployment").items()
    assert new_stack.resource_id in deployment["DependsOn"]
    assert deployment_id not in synth.resources("AWS::ApiGateway::Deployment")
    for each in grown.stacks.values():
        assert each.resource_count <= RESOURCE_BUDGET, (each.file, each.resource_count)


def _path_resources(routes: set[tuple[str, str]]) -> set[str]:
    """The path resources only these routes need: prefixes of their paths that no other route's path has."""
    others = {prefix for _, path in registry_routes() - routes for prefix in prefixes(path)}
    return {prefix for _, path in routes for prefix in prefixes(path)} - others


def stack_table(synth: Synth) -> str:
    """docs/DEPLOY.md's "Size now" table, from the synthesized templates."""
    main = synth.main
    kinds = _types(main)
    nested = kinds["AWS::CloudFormation::Stack"]
    rows = [
        "| Stack | Resources | Room to 400 | Parameters / outputs |",
        "| --- | --- | --- | --- |",
        f"| `BackInStock` (main) | {main.resource_count} ({kinds['AWS::ApiGateway::Method']} methods, "
        f"{kinds['AWS::ApiGateway::Resource']} path resources, {nested} nested stacks) | "
        f"{RESOURCE_BUDGET - main.resource_count} | {len(main.template.get('Parameters', {}))} / "
        f"{len(main.template.get('Outputs', {}))} |",
    ]
    ordered = []
    for stack in synth.nested:
        actions = _actions_in(stack)
        resource = actions[0].resource
        name = "".join(part.title() for part in resource.split("_"))
        ordered.append((resource, name, len(actions), stack))
    first = True
    for _, name, count, stack in sorted(ordered, key=lambda row: row[0]):
        rows.append(
            f"| `Actions/{name}` ({count}{' actions' if first else ''}) | {stack.resource_count} | "
            f"{RESOURCE_BUDGET - stack.resource_count} | {len(stack.template.get('Parameters', {}))} / "
            f"{len(stack.template.get('Outputs', {}))} |"
        )
        first = False
    return "\n".join(rows)


def test_the_deploy_guide_states_the_stacks_the_synth_makes(synth: Synth) -> None:
    """docs/DEPLOY.md's table of stacks is the synth's: every nested stack, its size, as `make synth` makes them.
    When it drifts (a new registry resource, new actions), paste the table this test prints."""
    table = stack_table(synth)
    text = (Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md").read_text()
    assert table in text, f"docs/DEPLOY.md's stack table should read:\n{table}"
