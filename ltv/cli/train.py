"""``ltv train`` (back-test, gate, registry) and ``ltv report`` (the HTML page of the latest back-tests)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ltv.cli.options import command, parse_date, parse_line
from ltv.cli.render import format_table, show, show_json, warn

if TYPE_CHECKING:
    from pathlib import Path

    from ltv.cli.context import Context
    from ltv.evaluation.overview import FoundReport
    from ltv.training.train import LineResult

METRIC_COLUMNS = ["gini", "rmse", "mae", "spearman", "top_decile_capture", "calibration_mape", "bias", "coverage_80"]
#: the second table: how the spend quantiles and the purchase probability did (ltv.evaluation.quantiles)
QUANTILE_COLUMNS = ["pinball", "quantile_gap", "at_or_below_p10", "below_p50", "at_or_below_p50", "below_p90",
                    "width_80", "buyer_coverage_80", "buyer_coverage_80_implied", "variance_ratio"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "train", cmd_train,
        "Back-test candidate models per business line on (DATE - horizon, DATE]; promote a champion only through the gate.",
        """
        ltv train --as-of 1997-09-30 --horizon-days 91 --business-line music
        ltv train --as-of 2024-06-30 --model bgnbd_gg --model xgboost
        ltv train --as-of 2024-06-30 --json > run.json
        ltv train --as-of 2024-06-30 --dry-run     # back-test and decide; register nothing
        """,
    )
    p.add_argument("--as-of", type=parse_date, required=True, metavar="DATE",
                   help="training date: nothing after the end of DATE is read")
    p.add_argument("--horizon-days", type=int, default=None, help="prediction horizon (default: config, 365)")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X", help="repeatable; default all")
    p.add_argument("--model", action="append", metavar="NAME", help="candidate (repeatable; default: config or all)")
    p.add_argument("--backtest-windows", type=int, default=None, metavar="N",
                   help="rolling back-test windows per line (default: config, 3); 1 is quickest, more is surer")
    p.add_argument("--dry-run", action="store_true",
                   help="run the whole back-test and gate and write the report under <lake>/dry-runs/, "
                        "but log nothing to MLflow and register nothing")
    p.add_argument("--json", action="store_true", help="print results as JSON")


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "report", cmd_report,
        "Write one HTML page with each line's latest back-test: gate decision, every candidate's metrics, charts.",
        """
        ltv report                                  # every line, latest training run -> <lake>/reports/index.html
        ltv report --business-line music --as-of 1997-09-30
        ltv report --out /tmp/ltv-report.html --open
        """,
    )
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X", help="repeatable; default all")
    p.add_argument("--as-of", type=parse_date, default=None, metavar="DATE",
                   help="the training date to show (default: each line's latest)")
    p.add_argument("--out", default=None, metavar="FILE", help="where to write the page (default <lake>/reports/index.html)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.add_argument("--json", action="store_true", help="print the page path and the reports shown as JSON")


def cmd_train(ctx: Context) -> int:
    from ltv.errors import ConfigError
    from ltv.training.train import train

    args = ctx.args
    config = ctx.config
    if args.backtest_windows is not None:
        if not 1 <= args.backtest_windows <= 24:
            raise ConfigError(f"--backtest-windows must be between 1 and 24, got {args.backtest_windows}")
        config = config.with_backtest_windows(args.backtest_windows)
    with ctx.progress.stage(f"training as of {args.as_of}"):
        results = train(
            ctx.spark, ctx.lake, config, args.as_of, args.horizon_days,
            args.business_line or None, args.model or None, progress=ctx.progress, dry_run=args.dry_run,
        )
    if args.json:
        show_json([train_result_dict(r) for r in results])
    elif results:
        show(render_train(results))
    return 0


def train_result_dict(r: LineResult) -> dict[str, Any]:
    """One line's training outcome as the ``ltv train --json`` document."""
    return {
        "business_line": r.line, "as_of": str(r.as_of), "horizon_days": r.horizon_days, "metrics": r.metrics,
        "decision": r.decision.as_dict(), "run_id": r.run_id, "champion_version": r.champion_version,
        "report": str(r.report) if r.report else None, "errors": r.errors, "lineage": r.lineage,
    }


def render_train(results: Sequence[LineResult]) -> str:
    """Per line: the back-test window, every candidate's metrics (``*`` = winner), why others were not
    eligible, and the gate's decision."""
    text: list[str] = []
    for r in results:
        start, end = r.lineage["validation_window"][0], r.lineage["validation_window"][1]
        text += ["", f"== {r.line}: back-test ({start}, {end}], horizon {r.horizon_days} days =="]
        rows = [(name + (" *" if name == r.decision.winner else ""), *[m.get(k) for k in METRIC_COLUMNS])
                for name, m in r.metrics.items()]
        text.append(format_table(rows, ["model", *METRIC_COLUMNS]))
        rows = [(name, *[m.get(k) for k in QUANTILE_COLUMNS]) for name, m in r.metrics.items()]
        text += ["quantiles (see docs/models.md, 'Judging quantiles'):", format_table(rows, ["model", *QUANTILE_COLUMNS])]
        text += [f"  {name}: not eligible: {why}" for name, why in sorted(r.decision.rejected.items())]
        state = f"{r.decision.action.upper()}: {r.decision.reason}"
        if r.champion_version:
            state += f" -> champion version {r.champion_version}"
        text.append(state)
        if r.report:
            text.append(f"report: {r.report}")
    return "\n".join(text)


def cmd_report(ctx: Context) -> int:
    from ltv.evaluation.overview import write_overview

    args = ctx.args
    path, found = write_overview(ctx.lake_root, args.business_line or None, args.as_of, args.out)
    if args.json:
        show_json({"page": str(path), "reports": [f.as_dict() for f in found]})
    else:
        show(render_report(path, found))
    if args.open:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            warn(f"could not start a browser here; open {path} yourself")
    return 0


def render_report(path: Path, found: Sequence[FoundReport]) -> str:
    rows = [(f.line, str(f.as_of), f.report.champion or "-", "yes" if f.report.promoted else "no",
             len(f.report.candidates)) for f in found]
    return "\n".join([
        format_table(rows, ["business_line", "as_of", "winner", "promoted", "candidates"]),
        f"report: {path}",
    ])
