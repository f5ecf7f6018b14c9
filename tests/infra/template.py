"""Reading a synthesized app: routes, functions, the IAM actions a role can use.

The app is a main stack and nested stacks (one per registry resource: `stacks.action_stacks`). `Synth.template` is
their union, with every cross-stack reference resolved: a nested stack's parameter becomes the value the main stack
passes it, and the main stack's `Fn::GetAtt` of a nested stack's output becomes that output's value. So a test reads
`{"Ref": "MainTable"}` in a function's environment, or follows a method's integration to the function it invokes,
whichever stack each of them is in. `Synth.stacks` keeps each template as synthesized.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backinstock import registry
from backinstock.registry import Action

# Context that skips asset bundling for every stack: no pip, no network, the source directory stands in.
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}

NESTED_STACK = "AWS::CloudFormation::Stack"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
# W3005 (DependsOn already implied by a reference) is how CDK writes templates: noise, not a finding.
CFN_LINT_IGNORED = "W3005"
# IAM actions, as the grants of the workers' roles read them.
READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
# What the Lambda poller needs on the queue a worker consumes.
POLLER = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
}
SES_IDENTITIES = "arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/*"


@dataclass(frozen=True)
class StackTemplate:
    """One synthesized template. `parent`: the file of the stack that holds this one (None for the main stack),
    `resource_id`: the logical ID of its `AWS::CloudFormation::Stack` resource there."""

    file: str
    template: dict[str, Any]
    parent: str | None = None
    resource_id: str | None = None

    @property
    def resource_count(self) -> int:
        return len(self.template["Resources"])


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: dict[str, Any]  # the union of every stack's resources (references resolved) and the main outputs
    metadata: dict[str, list[dict[str, Any]]]
    stacks: dict[str, StackTemplate]  # template file -> template, the main stack first
    # A nested stack's parameter -> how the main stack names the value (`<MainTable.Arn>`), as cdk-nag writes it.
    parameter_names: dict[str, str]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}

    @property
    def main(self) -> StackTemplate:
        return next(iter(self.stacks.values()))

    @property
    def nested(self) -> list[StackTemplate]:
        return [s for s in self.stacks.values() if s.parent is not None]


def load_synth(outdir: Path, artifact_id: str) -> Synth:
    """The synthesized app in `outdir`: the stack `artifact_id` and every stack nested in it."""
    stacks = _load_stacks(outdir, artifact_id)
    resolver = _Resolver(stacks)
    resources: dict[str, dict[str, Any]] = {}
    for stack in stacks.values():
        for logical_id, resource in stack.template["Resources"].items():
            assert logical_id not in resources, f"logical ID {logical_id} in two stacks: the union would hide one"
            resources[logical_id] = resolver.resolve(stack.file, resource)
    main = next(iter(stacks.values()))
    outputs = resolver.resolve(main.file, main.template.get("Outputs", {}))
    metadata = json.loads((outdir / f"{artifact_id}.metadata.json").read_text())
    return Synth(
        outdir=outdir,
        template={"Resources": resources, "Outputs": outputs},
        metadata=metadata,
        stacks=stacks,
        parameter_names=resolver.parameter_names(),
    )


def cfn_lint(synth: Synth) -> subprocess.CompletedProcess[str]:
    """cfn-lint on every template of the app (the main one and each nested stack's), offline."""
    templates = [str(synth.outdir / file) for file in synth.stacks]
    return subprocess.run(
        [str(CFN_LINT), "--ignore-checks", CFN_LINT_IGNORED, "--", *templates],
        capture_output=True,
        text=True,
        check=False,
    )


def _load_stacks(outdir: Path, artifact_id: str) -> dict[str, StackTemplate]:
    """The main template, then each nested one, found through its `TemplateURL` (`.../<asset hash>.json`) in the
    assets manifest, recursively."""
    assets = json.loads((outdir / f"{artifact_id}.assets.json").read_text())["files"]
    main_file = f"{artifact_id}.template.json"
    stacks = {main_file: StackTemplate(main_file, json.loads((outdir / main_file).read_text()))}
    pending = [main_file]
    while pending:
        parent = stacks[pending.pop(0)]
        for logical_id, resource in parent.template["Resources"].items():
            if resource["Type"] != NESTED_STACK:
                continue
            url_parts = resource["Properties"]["TemplateURL"]["Fn::Join"][1]
            asset_hash = url_parts[-1].rsplit("/", 1)[-1].removesuffix(".json")
            file = assets[asset_hash]["source"]["path"]
            template = json.loads((outdir / file).read_text())
            stacks[file] = StackTemplate(file, template, parent=parent.file, resource_id=logical_id)
            pending.append(file)
    return stacks


class _Resolver:
    """Replaces cross-stack references by what they refer to, in the producing stack's own terms."""

    def __init__(self, stacks: dict[str, StackTemplate]) -> None:
        self._stacks = stacks
        # (parent file, nested stack resource ID) -> the nested stack's file
        self._children = {(s.parent, s.resource_id): s.file for s in stacks.values() if s.parent is not None}

    def resolve(self, file: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(file, item) for item in value]
        if not isinstance(value, dict):
            return value
        stack = self._stacks[file]
        if set(value) == {"Ref"} and value["Ref"] in stack.template.get("Parameters", {}) and stack.parent:
            return self.resolve(stack.parent, self._passed(stack, value["Ref"]))
        if set(value) == {"Fn::GetAtt"}:
            target, attribute = value["Fn::GetAtt"]
            child = self._children.get((file, target))
            if child is not None and attribute.startswith("Outputs."):
                output = self._stacks[child].template["Outputs"][attribute.removeprefix("Outputs.")]
                return self.resolve(child, output["Value"])
        return {key: self.resolve(file, item) for key, item in value.items()}

    def _passed(self, nested: StackTemplate, parameter: str) -> Any:
        """The value the parent passes to `nested`'s `parameter`."""
        assert nested.parent is not None and nested.resource_id is not None
        stack_resource = self._stacks[nested.parent].template["Resources"][nested.resource_id]
        return stack_resource["Properties"]["Parameters"][parameter]

    def parameter_names(self) -> dict[str, str]:
        """Each nested stack parameter -> `<LogicalId>` or `<LogicalId.Attribute>` of the value it carries."""
        names: dict[str, str] = {}
        for stack in self._stacks.values():
            for parameter in stack.template.get("Parameters", {}) if stack.parent else ():
                value = self.resolve(stack.file, {"Ref": parameter})
                if "Ref" in value:
                    names[parameter] = f"<{value['Ref']}>"
                elif "Fn::GetAtt" in value:
                    names[parameter] = "<{}.{}>".format(*value["Fn::GetAtt"])
        return names


def getatt_target(value: Any) -> str | None:
    """The logical ID behind the first `Fn::GetAtt` found in `value` (however deeply nested)."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        for item in value.values():
            found = getatt_target(item)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = getatt_target(item)
            if found:
                return found
    return None


def resource_paths(synth: Synth) -> dict[str, str]:
    """API Gateway resource logical ID -> full path, following ParentId up to the root."""
    resources = synth.resources("AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        props = resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{props['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in resources}


def methods(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, full path) -> the Method's properties."""
    paths = resource_paths(synth)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for props in (r["Properties"] for r in synth.resources("AWS::ApiGateway::Method").values()):
        if props["HttpMethod"] == "ANY":
            continue  # a path's 405 for the methods no action declares (`not_allowed_methods`), not a route
        resource = props["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        key = (props["HttpMethod"], path)
        assert key not in out, f"duplicate route {key}"
        out[key] = props
    return out


def not_allowed_methods(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """Full path -> (the template file, the properties) of its ANY method: the 405 answer."""
    paths = resource_paths(synth)
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for stack in synth.stacks.values():
        for logical_id, resource in stack.template["Resources"].items():
            if resource["Type"] == "AWS::ApiGateway::Method":
                props = synth.template["Resources"][logical_id]["Properties"]
                if props["HttpMethod"] == "ANY":
                    resource_id = props["ResourceId"]
                    out[paths[resource_id["Ref"]] if "Ref" in resource_id else "/"] = (stack.file, props)
    return out


def route_stacks(synth: Synth) -> dict[tuple[str, str], str]:
    """(HTTP method, full path) -> the template file its Method is in."""
    paths = resource_paths(synth)
    out: dict[tuple[str, str], str] = {}
    for stack in synth.stacks.values():
        for logical_id, resource in stack.template["Resources"].items():
            if resource["Type"] == "AWS::ApiGateway::Method":
                props = synth.template["Resources"][logical_id]["Properties"]  # references resolved
                if props["HttpMethod"] == "ANY":
                    continue
                resource_id = props["ResourceId"]
                out[(props["HttpMethod"], paths[resource_id["Ref"]] if "Ref" in resource_id else "/")] = stack.file
    return out


def functions_by_handler(synth: Synth) -> dict[str, tuple[str, dict[str, Any]]]:
    """Lambda handler string -> (logical ID, properties)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, resource in synth.resources("AWS::Lambda::Function").items():
        handler = resource["Properties"]["Handler"]
        assert handler not in out, f"two functions with handler {handler}"
        out[handler] = (logical_id, resource["Properties"])
    return out


def function_of(synth: Synth, action: Action) -> tuple[str, dict[str, Any]]:
    return functions_by_handler(synth)[action.entry_point]


def statements_of_role(synth: Synth, role_logical_id: str) -> list[dict[str, Any]]:
    role = synth.template["Resources"][role_logical_id]["Properties"]
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_actions(statements: list[dict[str, Any]], prefix: str = "") -> set[str]:
    return {a for s in statements if s["Effect"] == "Allow" for a in as_list(s["Action"]) if a.startswith(prefix)}


def registry_routes() -> set[tuple[str, str]]:
    """Every (method, path) of the registry: each path of each action and each deprecated v1 route (`Action.v1`)."""
    v2 = {(a.method, a.gateway_path(p)) for a in registry.actions() for p in a.all_paths}
    return v2 | {
        (a.v1.method, a.v1.gateway_path(p)) for a in registry.actions() if a.v1 is not None for p in a.v1.all_paths
    }


def resource_name(value: Any) -> str:
    """An IAM resource as a readable string: `Ref` and `Fn::GetAtt` become the logical ID they name (pseudo
    parameters keep theirs: `AWS::Region`), `Fn::Join` is joined. `{"Fn::GetAtt": ["MainTable", "Arn"]}` ->
    `MainTable`; the GSI1 ARN -> `MainTable/index/GSI1`; `*` stays `*`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(resource_name(p) for p in parts)
    raise ValueError(f"unexpected IAM resource {value!r}")


def grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Resource (see `resource_name`) -> the IAM actions the Allow statements grant on it, whatever way the
    statements are split or merged."""
    out: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        assert "NotAction" not in statement and "NotResource" not in statement, statement
        for resource in as_list(statement["Resource"]):
            out.setdefault(resource_name(resource), set()).update(as_list(statement["Action"]))
    return out


def role_of(props: dict[str, Any]) -> str:
    """The logical ID of a function's role."""
    return str(props["Role"]["Fn::GetAtt"][0])


def log_group_of(props: dict[str, Any]) -> str:
    """The logical ID of a function's own log group."""
    return str(props["LoggingConfig"]["LogGroup"]["Ref"])


def queue_properties(synth: Synth, logical_id: str) -> dict[str, Any]:
    """A queue's properties, by its pinned logical id (messages in flight survive a refactor)."""
    resource = synth.template["Resources"][logical_id]
    assert resource["Type"] == "AWS::SQS::Queue"
    return dict(resource["Properties"])


def role_grants(synth: Synth, props: dict[str, Any]) -> dict[str, set[str]]:
    """A function's role's grants (see `grants`), from the function's properties."""
    return grants(statements_of_role(synth, role_of(props)))


def function_of_module(synth: Synth, module: str) -> tuple[str, dict[str, Any]]:
    """The function whose handler is `<module>.handler`: its logical id and properties."""
    return functions_by_handler(synth)[f"{module}.handler"]
