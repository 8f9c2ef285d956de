"""The ``ltv`` command's surface: every command has help with examples, usage errors exit 2,
machine-readable output is valid JSON on stdout (progress stays on stderr)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from ltv.cli import build_parser, main
from ltv.cli import demo as cli_demo
from ltv.cli import models as cli_models
from ltv.cli import train as cli_train
from ltv.pipeline import demo
from ltv.training import inventory

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
    ["features", "--from", "2024-01-01", "--to", "2024-01-31", "--step-days", "0"],  # would never end
    ["models", "show"],                            # needs a business line
    ["models", "show", "x'; DROP"],
    ["simulate", "--customers", "5", "--business-lines", "a,b c", "--out", "never-written"],
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


def test_python_m_ltv_cli_is_the_ltv_command():
    done = subprocess.run([sys.executable, "-m", "ltv.cli", "models", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ltv models") and "ltv models show retail --json" in done.stdout


def test_the_demo_library_leaves_presentation_to_the_cli():
    """``ltv.pipeline.demo`` returns a DemoResult; it neither imports the CLI nor prints."""
    source = Path(demo.__file__).read_text()
    assert "ltv.cli" not in source and "print(" not in source
    assert {f.name for f in dataclasses.fields(demo.DemoResult)} >= {
        "transactions", "quarantine", "ingested", "features", "trained", "scored", "online", "lookup", "tables",
        "report"}


def _line_result(line, metrics, winner, action, reason, report=None, rejected=None):
    decision = SimpleNamespace(winner=winner, action=action, reason=reason, rejected=rejected or {})
    return SimpleNamespace(line=line, as_of=date(2024, 12, 31), horizon_days=365, metrics=metrics, decision=decision,
                           lineage={"validation_window": ["2024-01-01", "2024-12-31"],
                                    "backtest_windows": [{"fit_cutoff": "2024-01-01", "end": "2024-12-31"},
                                                         {"fit_cutoff": "2023-10-02", "end": "2024-10-01"}]},
                           report=report,
                           champion_version="3" if action == "promote" else None)


def test_demo_summary_renders_every_stage(tmp_path):
    out, data = tmp_path / "demo", tmp_path / "demo" / "data"
    inputs = demo.DemoInputs(out=out, data=data, simulated={"ground_truth": data / "truth.csv"},
                             cdnow=data / "cdnow.csv", dirty=data / "dirty.csv")
    ingest = SimpleNamespace(source=str(data / "dirty.csv"), table="transactions", rows_read=6, accepted=1,
                             quarantined_total=5, seconds=0.25)
    features = SimpleNamespace(as_of=date(2024, 12, 31), time_unit="days", rows={"retail": 2000}, time_units={"retail": "days"})
    trained = _line_result("retail", {"baseline": {"gini": 0.2}, "bgnbd_gg": {"gini": 0.5, "bias": 0.01}},
                           "bgnbd_gg", "promote", "beats the baseline")
    scored = SimpleNamespace(line="retail", as_of=date(2024, 12, 31), rows=2000, model_name="bgnbd_gg",
                             model_version="3")
    result = demo.DemoResult(
        out=out, lake_root=out / "lake", inputs=inputs,
        transactions=[demo.LineCounts("retail", 12345, 2000, date(2022, 1, 1), date(2024, 12, 31))],
        quarantine=[demo.QuarantineCount("transactions", "amount is not a number", 2)],
        ingested=[ingest], features=[features], trained=[trained], scored=[scored],
        online=SimpleNamespace(rows={"customer_scores": 2000}, online_store=str(out / "lake/feast/online.db")),
        sample_line="music", sample_customer="00004", lookup={"frequency": 3, "p_alive": 0.5},
        tables=[demo.TableVersion("transactions", str(out / "lake/transactions"), 4)], report=out / "lake/index.html",
    )
    text = cli_demo.render_demo(result)
    assert text.startswith(f"ltv demo: everything is under {out}\n")
    words = " ".join(text.split())  # the facts, whatever the column widths
    for fact in ("retail 12,345 2,000 2022-01-01 2024-12-31", "transactions amount is not a number 2",
                 "dirty.csv transactions 6 1 5 0.2s", "2024-12-31 retail 2,000 days",
                 "retail: 2 back-test window(s) (2024-01-01, 2024-12-31], (2023-10-02, 2024-10-01] (metrics pooled), "
                 "promote: beats the baseline", "bgnbd_gg * 0.5000",
                 "retail 2024-12-31 2,000 bgnbd_gg 3", "customer_scores 2,000",
                 "lookup music:00004 -> frequency=3, recency=None", "lookup 00004 --business-line music",
                 f"transactions {out}/lake/transactions 4", f"sqlite:///{out}/lake/mlflow/mlflow.db",
                 f"ground truth for the simulated lines: {data}/truth.csv"):
        assert fact in words, fact
    nothing_scored = cli_demo.render_demo(dataclasses.replace(result, scored=[]))
    assert "no line has a promoted model, so nothing was scored" in nothing_scored


def test_train_and_models_show_render_the_gate_decision():
    trained = _line_result("shop", {"baseline": {"gini": 0.1}, "bgnbd_gg": {"gini": 0.4}}, "bgnbd_gg", "promote",
                           "beats the baseline", rejected={"xgboost": "too few customers"})
    text = cli_train.render_train([trained])
    assert text.startswith("\n== shop: back-test (2024-01-01, 2024-12-31], horizon 365 days ==\n")
    assert "  xgboost: not eligible: too few customers" in text
    assert text.endswith("PROMOTE: beats the baseline -> champion version 3")

    champion = inventory.ChampionDetails(model="bgnbd_gg", version="3", run_id="r1", source="file:/m", tags={},
                                       params={"penalizer": 0.0},
                                       lineage={"as_of": "2024-12-31", "horizon_days": 365,
                                                "delta_versions": {"transactions": 2}, "config_hash": "abc"},
                                       backtest={"gini": 0.41234, "note": "x"})
    run = inventory.RunSummary(run_id="r1", as_of="2024-12-31", action="promote", winner="bgnbd_gg", reason="ok")
    shown = inventory.LineModels(business_line="shop", champion=champion, runs=[run], tracking_uri="sqlite:///x")
    text = cli_models.render_show(shown)
    assert text.splitlines()[:4] == [
        "shop: champion bgnbd_gg version 3 (run r1)",
        '  hyperparameters: {"penalizer": 0.0}',
        "  trained as of 2024-12-31, horizon 365 days, Delta versions {'transactions': 2}, config abc",
        "  back-test: gini=0.4123",
    ]
    assert "recent runs:" in text and shown.as_dict()["champion"]["lineage"]["config_hash"] == "abc"
    empty = inventory.LineModels(business_line="shop", champion=None, runs=[], tracking_uri="sqlite:///x")
    assert cli_models.render_show(empty) == "shop: no champion yet (no model has passed the gate)"
    assert cli_models.render_list([], Path("/lake")).startswith("no trained models under /lake")


def test_backtest_windows_override_reaches_every_line():
    from ltv.config import LTVConfig

    config = LTVConfig.model_validate({"business_lines": {"music": {"backtest_windows": 5}, "shop": {"horizon_days": 30}}})
    quick = config.with_backtest_windows(1)
    assert [quick.line(x).backtest_windows for x in ("music", "shop", "other")] == [1, 1, 1]
    assert config.line("music").backtest_windows == 5  # the loaded config is not changed
    assert quick.line("shop").horizon_days == 30 and quick.fingerprint() != config.fingerprint()
    from ltv.cli import build_parser

    args = build_parser().parse_args(["train", "--as-of", "2024-06-30", "--backtest-windows", "2"])
    assert args.backtest_windows == 2


def test_margin_rate_is_a_share_of_net_spend_per_line():
    from pydantic import ValidationError

    from ltv.config import LTVConfig

    config = LTVConfig.model_validate({"business_lines": {"music": {"margin_rate": 0.35}}})
    assert config.line("music").margin_rate == 0.35 and config.line("shop").margin_rate is None  # revenue only
    for bad in (0.0, 1.5, -0.2, float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="margin_rate"):
            LTVConfig.model_validate({"business_lines": {"music": {"margin_rate": bad}}})
