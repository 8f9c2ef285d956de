"""``ltv run``: the daily pipeline for one date or a backfill range."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ltv.cli.options import add_date_range, command, dates, parse_line
from ltv.cli.render import format_table, show, show_json, warn

if TYPE_CHECKING:
    from ltv.cli.context import Context
    from ltv.pipeline.run import PipelineRun


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "run", cmd_run,
        "The daily pipeline for DATE: features, train when due (gate), score, materialize; "
        "each step skipped when its output for DATE exists.",
        """
        ltv run --as-of 2024-06-30
        ltv run --as-of 2024-06-30 --force                       # redo every step
        ltv run --from 2024-01-07 --to 2024-06-30 --step-days 7  # weekly backfill, materialize at the end
        ltv run --as-of 1997-09-30 --business-line music --horizon-days 91 --json

        training is due on a line's first run, when its champion is retrain_every_days old, or when
        a key feature drifted (PSI > drift_threshold): the `pipeline:` block of ltv.yaml.
        every step's outcome (ran / skipped / failed, why, seconds, Delta versions) goes to the
        pipeline_runs table of the lake.
        """,
    )
    add_date_range(p, as_of_help="run date (repeatable)")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X",
                   help="only this line (repeatable; default every line in transactions)")
    p.add_argument("--horizon-days", type=int, default=None, help="training/scoring horizon (default: config, 365)")
    p.add_argument("--force", action="store_true", help="run every step even when its output exists")
    p.add_argument("--json", action="store_true", help="print the step records as JSON")


def cmd_run(ctx: Context) -> int:
    """Exit 1 when any step failed (the other steps and lines still ran; all are recorded)."""
    from ltv.pipeline.run import run_range

    args = ctx.args
    runs = run_range(ctx.spark, ctx.lake, ctx.config, dates(args), args.horizon_days,
                     args.business_line or None, force=args.force, progress=ctx.progress)
    if args.json:
        show_json([r.as_dict() for r in runs])
    else:
        show(render_run(runs, ctx.lake.path("pipeline_runs")))
    failed = [s for r in runs for s in r.failed]
    if failed:
        warn(f"ltv run: {len(failed)} step(s) failed: "
             + "; ".join(f"{s.as_of} {s.step} {s.business_line}" for s in failed))
        return 1
    return 0


def render_run(runs: Sequence[PipelineRun], table_path: str) -> str:
    rows = [(str(s.as_of), s.step, s.business_line, s.status, round(s.seconds, 1), s.reason)
            for r in runs for s in r.steps]
    return "\n".join([
        format_table(rows, ["as_of", "step", "business_line", "status", "seconds", "why"]),
        f"recorded in {table_path} (run {', '.join(r.run_id for r in runs)})",
    ])
