"""Reading a synthesized template: routes, functions, the IAM actions a role can use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backinstock import registry
from backinstock.registry import Action

# Context that skips asset bundling for every stack: no pip, no network, the source directory stands in.
SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: dict[str, Any]
    metadata: dict[str, list[dict[str, Any]]]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}


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
        resource = props["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        key = (props["HttpMethod"], path)
        assert key not in out, f"duplicate route {key}"
        out[key] = props
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
    return {(a.method, a.gateway_path(p)) for a in registry.actions() for p in a.all_paths}


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
