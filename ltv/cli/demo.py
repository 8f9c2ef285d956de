"""``ltv demo``: the platform end to end on bundled data (:mod:`ltv.pipeline.demo` does the work);
this module renders its :class:`~ltv.pipeline.demo.DemoResult`: where everything went."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ltv.cli.options import command
from ltv.cli.render import format_table, show

if TYPE_CHECKING:
    from ltv.cli.context import Context
    from ltv.pipeline.demo import DemoResult
    from ltv.training.train import LineResult

COMPARISON_METRICS = ["gini", "rmse", "bias", "coverage_80"]
LOOKUP_FIELDS = ("frequency", "recency", "monetary_value", "predicted_ltv", "p_alive", "model_version")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "demo", cmd_demo,
        "Run the platform end to end on bundled data (CDNOW + simulated lines) in a fresh demo folder.",
        """
        ltv demo
        ltv demo --out /tmp/ltv-demo --customers 5000
        """,
    )
    p.add_argument("--out", default="ltv-demo", help="demo folder (recreated each run; default ./ltv-demo)")
    p.add_argument("--customers", type=int, default=2000, help="simulated customers per line")
    p.add_argument("--seed", type=int, default=7)


def cmd_demo(ctx: Context) -> int:
    from ltv.pipeline.demo import prepare_inputs, run_demo

    args = ctx.args
    inputs = prepare_inputs(Path(args.out), customers=args.customers, seed=args.seed, progress=ctx.progress)
    result = run_demo(ctx.spark, inputs, ctx.config, progress=ctx.progress)  # Spark starts after the inputs
    show(render_demo(result))
    return 0


def render_demo(result: DemoResult) -> str:
    """Every stage's outcome as tables, then where to look next (paths and commands)."""
    lake_root, sample = result.lake_root, result.sample_customer
    scores = format_table(
        [(r.line, str(r.as_of), r.rows, r.model_name, r.model_version) for r in result.scored],
        ["business_line", "as_of", "customers", "model", "version"],
    ) if result.scored else "no line has a promoted model, so nothing was scored"
    lines = [
        f"ltv demo: everything is under {result.out}",
        "",
        "transactions per business line",
        format_table(
            [(r.business_line, r.rows, r.customers, str(r.first), str(r.last)) for r in result.transactions],
            ["business_line", "rows", "customers", "first", "last"],
        ),
        "",
        "quarantined rows by reason",
        format_table([(r.table, r.reason, r.rows) for r in result.quarantine], ["table", "reason", "rows"]),
        "",
        "ingest runs",
        format_table(
            [(Path(r.source).name, r.table, r.rows_read, r.accepted, r.quarantined_total, f"{r.seconds:.1f}s")
             for r in result.ingested],
            ["source", "table", "read", "accepted", "quarantined", "time"],
        ),
        "",
        "feature snapshots (customer_features)",
        format_table(
            [(str(r.as_of), line, n, r.time_units.get(line, r.time_unit)) for r in result.features
             for line, n in sorted(r.rows.items())],
            ["as_of", "business_line", "customers", "time_unit"],
        ),
        "",
        "model comparison (back-test; * = winner)",
        *[render_comparison(r) for r in result.trained],
        "scores (customer_ltv)",
        scores,
        "",
        "Feast online store",
        format_table(sorted(result.online.rows.items()), ["feature view", "customers pushed"]),
        f"online store: {result.online.online_store}",
        f"lookup {result.sample_line}:{sample} -> "
        + ", ".join(f"{k}={result.lookup.get(k)!r}" for k in LOOKUP_FIELDS),
        f"  (same from the shell: ltv --lake {lake_root} lookup {sample} --business-line {result.sample_line})",
        "",
        "tables (Delta)",
        format_table([(t.name, t.path, t.version) for t in result.tables], ["table", "path", "version"]),
        "",
        f"model report (every line, open in a browser): {result.report}",
        f"  per run: {lake_root / 'reports'}/<line>/<as_of>/index.html; again: ltv --lake {lake_root} report --open",
        f"MLflow UI: mlflow ui --backend-store-uri sqlite:///{result.mlflow_db} --host 127.0.0.1",
        f"input files: {result.inputs.data}",
        f"ground truth for the simulated lines: {result.inputs.simulated['ground_truth']}",
    ]
    return "\n".join(lines)


def render_comparison(result: LineResult) -> str:
    """One line's back-test windows and gate decision, its candidates' key metrics (``*`` = winner)."""
    rows = [(name + (" *" if name == result.decision.winner else ""), *[m.get(k) for k in COMPARISON_METRICS])
            for name, m in result.metrics.items()]
    windows = result.lineage.get("backtest_windows") or [
        {"fit_cutoff": result.lineage["validation_window"][0], "end": result.lineage["validation_window"][1]}]
    spans = ", ".join(f"({w['fit_cutoff']}, {w['end']}]" for w in windows)
    head = (f"{result.line}: {len(windows)} back-test window(s) {spans} (metrics pooled), "
            f"{result.decision.action}: {result.decision.reason}")
    report = f"\nreport: {result.report}" if result.report else ""
    return head + "\n" + format_table(rows, ["model", *COMPARISON_METRICS]) + report + "\n"
