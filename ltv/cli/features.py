"""``ltv features``: point-in-time feature snapshots, one date or a backfill range."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ltv.cli.options import add_date_range, command, dates, parse_line
from ltv.cli.render import format_table, show, show_json

if TYPE_CHECKING:
    from ltv.cli.context import Context
    from ltv.features.pipeline import FeatureBuildResult


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "features", cmd_features,
        "Build point-in-time customer feature snapshots (rows with event_ts <= end of DATE only).",
        """
        ltv features --as-of 1997-09-30
        ltv features --as-of 2024-06-30 --business-line retail --business-line online
        ltv features --from 2024-01-07 --to 2024-06-30 --step-days 7     # weekly backfill
        """,
    )
    add_date_range(p, as_of_help="snapshot date (repeatable)")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X",
                   help="only this line (repeatable; default all)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def cmd_features(ctx: Context) -> int:
    from ltv.features.pipeline import build_features

    args = ctx.args
    lines = args.business_line or None
    results = []
    for as_of in dates(args):
        with ctx.progress.stage(f"features as of {as_of}"):
            results.append(build_features(ctx.spark, ctx.lake, ctx.config, as_of, lines))
    if args.json:
        show_json([{"as_of": str(r.as_of), "time_unit": r.time_unit, "time_units": r.time_units, "rows": r.rows,
                    "version": r.version}
                   for r in results])
    else:
        show(render_features(results, ctx.lake.path("customer_features")))
    return 0


def render_features(results: Sequence[FeatureBuildResult], table_path: str) -> str:
    rows = [(str(r.as_of), line, n, r.time_units.get(line, r.time_unit), r.version)
            for r in results for line, n in sorted(r.rows.items())]
    return "\n".join([
        format_table(rows, ["as_of", "business_line", "customers", "time_unit", "delta_version"]),
        f"table: {table_path}",
    ])
