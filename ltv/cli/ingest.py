"""``ltv ingest``: validate a transactions (or customers) file into the lake."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ltv.cli.options import command
from ltv.cli.render import format_table, show, show_json

if TYPE_CHECKING:
    from ltv.cli.context import Context
    from ltv.ingest.pipeline import IngestResult


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "ingest", cmd_ingest,
        "Validate a transactions (or customers) file and add it to the lake; bad rows are quarantined.",
        """
        ltv ingest data/transactions.csv
        ltv ingest exports/2024-06/ --format parquet --lake /data/lake
        ltv ingest data/customers.csv --table customers
        """,
    )
    p.add_argument("source", help="CSV file, Parquet file/folder or Delta folder")
    p.add_argument("--table", choices=("transactions", "customers"), default="transactions")
    p.add_argument("--format", choices=("csv", "parquet", "delta"), default=None,
                   help="input format (default: from the extension / folder)")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")


def cmd_ingest(ctx: Context) -> int:
    from ltv.ingest.pipeline import ingest_customers, ingest_transactions

    args = ctx.args
    runner = ingest_customers if args.table == "customers" else ingest_transactions
    with ctx.progress.stage(f"ingest {args.source} -> {args.table}"):
        result = runner(ctx.spark, ctx.lake, args.source, fmt=args.format, settings=ctx.config.ingest)
    if args.json:
        show_json(result.as_dict())
    else:
        show(render_ingest(result, ctx.lake.path(result.table), ctx.lake.path("transactions_quarantine")))
    return 0


def render_ingest(result: IngestResult, table_path: str, quarantine_path: str) -> str:
    rows = [
        ("rows read", result.rows_read),
        ("accepted", result.accepted),
        ("  new", result.accepted_new),
        ("  already in table (skipped)", result.already_present),
        ("quarantined", result.quarantined_total),
    ]
    rows += [(f"  {reason}", count) for reason, count in sorted(result.quarantined.items())]
    text = [f"ingested {result.source} into {table_path}", format_table(rows, ["", "rows"])]
    if result.quarantined_total:
        text.append(f"quarantined rows and reasons: {quarantine_path}")
    return "\n".join(text)
