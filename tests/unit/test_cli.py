"""The ``ltv`` command's surface: every command has help with examples, usage errors exit 2,
machine-readable output is valid JSON on stdout (progress stays on stderr)."""
from __future__ import annotations

import argparse
import json

import pytest

from ltv.cli import build_parser, main

CONTRACT_COMMANDS = {"ingest", "features", "train", "score", "export", "models", "materialize", "lookup", "run",
                     "simulate", "demo", "report"}


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_contract_command_exists_with_examples_and_global_options():
    commands = _subcommands()
    assert CONTRACT_COMMANDS <= set(commands)
    for name, sub in commands.items():
        text = sub.format_help()
        assert "examples:" in text and f"ltv {name}" in text.split("examples:")[1], name
        for option in ("--lake", "--config", "--master", "--verbose", "--quiet"):
            assert option in text, (name, option)


@pytest.mark.parametrize("argv", [
    ["features"],                                  # needs --as-of or --from/--to
    ["train", "--as-of", "2024-13-01"],            # not a date
    ["score", "--as-of", "2024-06-30", "--business-line", "x'; DROP"],
    ["nonsense"],
])
def test_usage_errors_exit_2(argv, tmp_path, capsys):
    try:
        code = main([*argv, "--lake", str(tmp_path / "lake")] if argv[0] != "nonsense" else argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    assert code == 2
    assert capsys.readouterr().err.strip()


def test_simulate_json_is_clean_stdout(tmp_path, capsys):
    assert main(["simulate", "--customers", "15", "--business-lines", "a,b", "--out", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # nothing else on stdout
    assert doc["customers"] == 30 and set(doc["files"]) == {"transactions", "customers", "ground_truth"}
    assert "simulating" in captured.err  # progress went to stderr
