"""Names that explain themselves (CONTRIBUTING.md, "Glossary"): a service function's context parameter is named after
its class, and the words the glossary gives one meaning keep it in the code's identifiers."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "app" / "python" / "backinstock"
SERVICES = PACKAGE / "services"
GLOSSARY = (ROOT / "CONTRIBUTING.md").read_text().split("## Glossary", 1)[1].split("\n## ", 1)[0]

# The glossary's exceptions to "snake case of the class": report sources are `sources`, the restock book `book`.
CONTEXT_NAMES = {"ReportSources": "sources", "PreorderReportSources": "sources", "RestockBook": "book"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def context_classes() -> set[str]:
    """The services' context dataclasses: a frozen dataclass of a service module that `deps.py` builds."""
    built = set(re.findall(r"-> (?:\w+\.)?([A-Z]\w+):", (PACKAGE / "deps.py").read_text()))
    found = set()
    for path in SERVICES.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name in built and node.decorator_list:
                found.add(node.name)
    return found


@dataclass(frozen=True)
class Param:
    where: str
    name: str
    annotation: str


def context_params() -> list[Param]:
    classes = context_classes()
    params = []
    for path in sorted(SERVICES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.args.args:
                first = node.args.args[0]
                annotation = ast.unparse(first.annotation).split(".")[-1] if first.annotation else ""
                if annotation in classes:
                    params.append(Param(f"{path.name}:{node.lineno} {node.name}", first.arg, annotation))
    return params


def test_the_services_have_context_classes_to_check() -> None:
    # Guards the guard: if the discovery found nothing, the naming test below would pass on anything.
    assert {"Waitlist", "ReportSources", "PreorderReportSources", "Campaigns", "Sender"} <= context_classes()
    assert len(context_params()) > 60


def test_a_context_parameter_is_named_after_its_class() -> None:
    wrong = [
        f"{p.where}: `{p.name}: {p.annotation}` (expected `{CONTEXT_NAMES.get(p.annotation, snake(p.annotation))}`)"
        for p in context_params()
        if p.name != CONTEXT_NAMES.get(p.annotation, snake(p.annotation))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        # (the settings model `Alerts` keeps the reference's name of its block: `settings.alerts`)
        (r"\bclass Alerts:|\bdef alerts\(\)|(?<!Merchant)AlertRepository\b|services\.alerts\b",
         "a merchant's alerts are `merchant_alerts` (an alert is the customer's message)"),
        (r"\blink_key\b", "the secret that signs customers' links is the link secret"),
        (r"\bclass (?:Preorder)?Reports\b", "the repositories a report reads are its sources (`ReportSources`)"),
    ],
)  # fmt: skip
def test_a_glossary_word_keeps_its_one_meaning(pattern: str, why: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in (PACKAGE, ROOT / "tools", ROOT / "functions", ROOT / "bench")
        for path in folder.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(pattern, line)
    ]
    assert not found, f"{why}: {found}"


def test_the_glossary_names_what_it_defines() -> None:
    for word in ("merchant alert", "notification", "report sources", "link secret", "context", "sample"):
        assert f"| {word} |" in GLOSSARY, word
