"""The CLI answers a user's mistake with one line that says what to do, never a Python traceback."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from backinstock import deps
from backinstock_tools import cli

pytestmark = pytest.mark.unit


@pytest.fixture
def no_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """No --local and no deployed stack configured: no TABLE_NAME (nor any resource variable)."""
    for name in ("TABLE_NAME", "SEND_QUEUE_URL", "LINK_SECRET_ARN", "SENDER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    deps.reset()


@pytest.mark.parametrize(
    "argv",
    [
        ["shops", "create", "--domain", "new-shop.myshopify.com"],
        ["reports", "send-scheduled", "--period", "weekly"],
        ["catalog", "add", "--shop-id", "s", "--variant-id", "1", "--product-id", "2"],
    ],
)
def test_a_missing_table_name_is_one_line_saying_what_to_do(
    no_stack: None, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    [message] = json.loads(err)["errors"]
    assert message.startswith("TABLE_NAME is not set: pass --local") and "TableName" in message


def test_an_unreachable_local_backend_says_to_start_it() -> None:
    message = cli._aws_problem(EndpointConnectionError(endpoint_url="http://127.0.0.1:5000/"), local=True)
    assert message == (
        "cannot reach the local run's AWS endpoint (http://127.0.0.1:5000/): is the local server running? "
        "start it with `make run`"
    )


def test_missing_credentials_or_table_say_what_to_check() -> None:
    assert "pass --local" in str(cli._aws_problem(NoCredentialsError(), local=False))
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no table"}}, "GetItem")
    assert "check TABLE_NAME" in str(cli._aws_problem(missing, local=False))


def test_a_fault_of_ours_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_args: object) -> int:
        raise RuntimeError("a bug")

    parser = cli.build_parser()
    args = parser.parse_args(["shops", "create", "--domain", "x.myshopify.com"])
    args.func = broken
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    with pytest.raises(RuntimeError):
        cli.main([])


@pytest.mark.parametrize("argument", ["not-a-uuid", "123", "01900000-0000-7000-8000-00000000000Z"])
def test_restocks_watch_refuses_a_malformed_id_in_one_line(argument: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["restocks", "watch", argument, "--shop-id", "s"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    [message] = json.loads(captured.err)["errors"]
    assert message.startswith("not a restock campaign id") and argument in message
