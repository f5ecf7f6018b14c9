"""The CLI answers a user's mistake with one line that says what to do, never a Python traceback."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from backinstock import deps
from backinstock_tools import cli, cli_args

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
        ["catalog", "add", "--shop-id", "s1", "--variant-id", "1", "--product-id", "2"],
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
    message = cli._aws_problem(EndpointConnectionError(endpoint_url="http://127.0.0.1:4281/"), local=True)
    assert message == (
        "cannot reach the local run's AWS endpoint (http://127.0.0.1:4281/): is the local server running? "
        "start it with `make run`"
    )


def test_missing_credentials_or_table_say_what_to_check() -> None:
    assert "pass --local" in str(cli._aws_problem(NoCredentialsError(), local=False))
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no table"}}, "GetItem")
    assert "check TABLE_NAME" in str(cli._aws_problem(missing, local=False))


def test_a_fault_of_ours_is_one_line_and_its_traceback_comes_on_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(_args: object) -> int:
        raise RuntimeError("a bug")

    parser = cli.build_parser()
    args = parser.parse_args(["shops", "create", "--domain", "x.myshopify.com"])
    args.func = broken
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    monkeypatch.delenv("BACKINSTOCK_TRACEBACK", raising=False)
    assert cli.main([]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    [message] = json.loads(err)["errors"]
    assert message.startswith("internal error (RuntimeError: a bug)") and "BACKINSTOCK_TRACEBACK=1" in message
    monkeypatch.setenv("BACKINSTOCK_TRACEBACK", "1")
    with pytest.raises(RuntimeError):
        cli.main([])


def _value_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.nargs != 0 and a.dest != "help"]


def _good(action: argparse.Action) -> str:
    return str(next(iter(action.choices))) if action.choices is not None else action.type.good  # type: ignore[union-attr]


def _bad(action: argparse.Action) -> str:
    return "not-a-choice" if action.choices is not None else action.type.bad  # type: ignore[union-attr]


def _argv(path: tuple[str, ...], parser: argparse.ArgumentParser, tested: argparse.Action | None) -> list[str]:
    """The command with a good value of every required option (and of one option of each required group), and the
    bad value of `tested`."""
    argv = list(path)
    argv += [_good(a) for a in parser._actions if not a.option_strings and isinstance(a.type, cli_args.Value)]
    groups = [g for g in parser._mutually_exclusive_groups if g.required]
    for action in _value_options(parser):
        if action is tested:
            continue
        group = next((g for g in groups if action in g._group_actions), None)
        if action.required or (group and action is group._group_actions[0] and tested not in group._group_actions):
            argv += [action.option_strings[0], _good(action)]
    if tested is not None:
        argv += [tested.option_strings[0], _bad(tested)]
    return argv


COMMANDS = cli_args.leaf_commands(cli.build_parser())
CASES = [
    pytest.param(path, action.option_strings[0], id=f"{' '.join(path)} {action.option_strings[0]}")
    for path, parser in COMMANDS
    for action in _value_options(parser)
]


def test_every_option_that_takes_a_value_has_a_type_with_examples() -> None:
    for path, parser in COMMANDS:
        for action in _value_options(parser):
            assert action.choices is not None or isinstance(action.type, cli_args.Value), (path, action.dest)
    assert len(CASES) > 90  # every command of the CLI, with each of its options


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=" ".join)
def test_every_command_parses_its_good_examples(path: tuple[str, ...]) -> None:
    parser = dict(COMMANDS)[path]
    argv = _argv(path, parser, None)
    for action in _value_options(parser):  # every option at once, where options of a group do not exclude it
        if not any(action in g._group_actions for g in parser._mutually_exclusive_groups) and not action.required:
            argv += [action.option_strings[0], _good(action)]
    cli.build_parser().parse_args(argv)


@pytest.mark.parametrize(("path", "option"), CASES)
def test_a_malformed_value_of_any_option_is_one_line_and_exit_2(
    path: tuple[str, ...], option: str, no_stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given any command and a malformed value of one of its options, when it runs, then it stops before touching
    anything: exit 2 and one line on stderr, in the API's envelope, naming the option and the rule."""
    parser = dict(COMMANDS)[path]
    [action] = [a for a in _value_options(parser) if a.option_strings[0] == option]
    with pytest.raises(SystemExit) as stopped:
        cli.main(_argv(path, parser, action))
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    [message] = json.loads(err)["errors"]
    assert f"argument {option}" in message and f"backinstock {' '.join(path)}" in message, message


def test_the_global_options_and_a_missing_command_are_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--local-info", "", "outbox"], [], ["shops"], ["nothing"]):
        with pytest.raises(SystemExit) as stopped:
            cli.main(argv)
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and err.count("\n") == 1 and json.loads(err)["errors"], (argv, err)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["preorders", "counters", "--shop-id", "s1", "--from", "2026/11/01"], "must be an ISO 8601 date"),
        (["simulate", "order", "--variant-id", "40001", "--email", "a@example.com", "--price", "abc"], "decimal"),
        (["simulate", "order", "--variant-id", "40001", "--email", "jane"], "must be an email address"),
        (["offers", "list", "--shop-id", "s1", "--per-page", "1000"], "must be at most 200"),
    ],
)
def test_the_messages_are_the_apis(argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert said in capsys.readouterr().err


def test_the_info_file_is_found_from_a_sub_folder_or_the_message_says_to_pass_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a repository whose `make run` wrote .local/server.json at its root, and a shell in a sub-folder
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "server.json").write_text("{}")
    deep = tmp_path / "docs" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert cli.find_info_file(cli.DEFAULT_INFO_FILE) == tmp_path / ".local" / "server.json"
    # An info file named on the command line is that file, nowhere else
    assert cli.find_info_file("other/server.json") is None
    # Outside any repository with a local run: one line saying to start one or to pass --local-info
    monkeypatch.chdir(tmp_path.parent)
    assert cli.main(["outbox"]) == 2
    [message] = json.loads(capsys.readouterr().err)["errors"]
    assert "in this folder or its parents" in message and "make run" in message and "--local-info PATH" in message


@pytest.mark.parametrize("argument", ["not-a-uuid", "123", "01900000-0000-7000-8000-00000000000Z"])
def test_restocks_watch_refuses_a_malformed_id_in_one_line(argument: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["restocks", "watch", argument, "--shop-id", "s"])
    captured = capsys.readouterr()
    assert stopped.value.code == 2, captured.err
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    [message] = json.loads(captured.err)["errors"]
    assert "must be a UUID" in message and argument in message
