"""``ltv simulate``: synthetic transactions, customer attributes and ground truth from known processes."""
from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ltv.cli.options import command, parse_date
from ltv.cli.render import format_table, show, show_json
from ltv.config import validate_name
from ltv.errors import ConfigError

if TYPE_CHECKING:
    from ltv.cli.context import Context


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "simulate", cmd_simulate,
        "Write synthetic transactions, customer attributes and ground truth from known BTYD processes.",
        """
        ltv simulate --customers 2000 --business-lines retail,online --out sim/
        ltv simulate --customers 100000 --business-lines a,b,c --seed 7 --out big/
        """,
    )
    p.add_argument("--customers", type=int, required=True, help="customers per business line")
    p.add_argument("--business-lines", required=True, help="comma separated names")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--start", type=parse_date, default=date(2022, 1, 1), help="first acquisition date")
    p.add_argument("--end", type=parse_date, default=date(2024, 12, 31), help="last simulated day")
    p.add_argument("--truth-as-of", type=parse_date, default=date(2023, 12, 31),
                   help="cutoff of the ground-truth window")
    p.add_argument("--horizon-days", type=int, default=365, help="ground-truth window length")
    p.add_argument("--json", action="store_true", help="print the written files and counts as JSON")


def cmd_simulate(ctx: Context) -> int:
    from ltv.datasets.simulate import simulate

    args = ctx.args
    lines = [validate_name(x.strip(), "business line") for x in args.business_lines.split(",") if x.strip()]
    if not lines:
        raise ConfigError("--business-lines needs at least one name, e.g. --business-lines retail,online")
    with ctx.progress.stage(f"simulating {args.customers:,} customers per line for {', '.join(lines)}"):
        result = simulate(
            customers=args.customers,
            business_lines=lines,
            seed=args.seed,
            start=args.start,
            end=args.end,
            truth_as_of=args.truth_as_of,
            truth_horizon_days=args.horizon_days,
        )
        paths = result.write(args.out)
    if args.json:
        show_json({"files": {k: str(v) for k, v in paths.items()}, "transactions": len(result.transactions),
                   "customers": len(result.customers)})
    else:
        show(render_simulate(paths, len(result.transactions), len(result.customers)))
    return 0


def render_simulate(paths: dict[str, Path], transactions: int, customers: int) -> str:
    return "\n".join([
        format_table([(name, str(path)) for name, path in paths.items()], ["file", "path"]),
        f"{transactions:,} transactions, {customers:,} customers",
    ])
