"""``ltv score`` (champion x feature snapshot -> ``customer_ltv``) and ``ltv export scores`` (a snapshot
as a file)."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ltv.cli.options import command, parse_date, parse_line
from ltv.cli.render import format_table, show, show_json

if TYPE_CHECKING:
    from ltv.cli.context import Context
    from ltv.scoring.score import ScoreResult


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "score", cmd_score,
        "Score every customer of the DATE feature snapshot with the line's champion into customer_ltv.",
        """
        ltv score --as-of 1997-09-30 --horizon-days 91
        ltv score --as-of 2024-06-30 --business-line retail
        """,
    )
    p.add_argument("--as-of", type=parse_date, required=True, metavar="DATE")
    p.add_argument("--horizon-days", type=int, default=None, help="default: config, 365")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X",
                   help="repeatable; default every line with a champion")
    p.add_argument("--json", action="store_true")


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "export", cmd_export,
        "Write one customer_ltv snapshot as a .csv or .parquet file for consumers without Spark.",
        """
        ltv export scores --as-of 1997-09-30 --out scores.csv
        ltv export scores --as-of 2024-06-30 --out retail.parquet --business-line retail
        """,
    )
    p.add_argument("what", choices=("scores",))
    p.add_argument("--as-of", type=parse_date, required=True, metavar="DATE")
    p.add_argument("--out", required=True, metavar="FILE", help="*.csv or *.parquet")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X")
    p.add_argument("--json", action="store_true", help="print the row count and file as JSON")


def cmd_score(ctx: Context) -> int:
    from ltv.scoring.score import score

    args = ctx.args
    with ctx.progress.stage(f"scoring as of {args.as_of}"):
        results = score(ctx.spark, ctx.lake, ctx.config, args.as_of, args.horizon_days, args.business_line or None)
    if args.json:
        show_json([r.__dict__ for r in results])
    else:
        show(render_score(results, ctx.lake.path("customer_ltv")))
    return 0


def render_score(results: Sequence[ScoreResult], table_path: str) -> str:
    rows = [(r.line, str(r.as_of), r.rows, r.model_name, r.model_version, r.features_version, r.table_version)
            for r in results]
    return "\n".join([
        format_table(rows, ["business_line", "as_of", "customers", "model", "model_version", "features_version",
                            "table_version"]),
        f"table: {table_path}",
    ])


def cmd_export(ctx: Context) -> int:
    from ltv.scoring.export import export_scores

    args = ctx.args
    with ctx.progress.stage(f"exporting scores as of {args.as_of}"):
        rows = export_scores(ctx.lake, args.as_of, args.out, args.business_line or None)
    out = Path(args.out).resolve()
    if args.json:
        show_json({"as_of": str(args.as_of), "rows": rows, "out": str(out)})
    else:
        show(f"wrote {rows:,} rows to {out}")
    return 0
