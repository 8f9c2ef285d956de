"""``ltv models list`` / ``ltv models show LINE``: what the registry holds (read by
:mod:`ltv.training.inventory`), as tables or JSON."""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ltv.cli.options import command
from ltv.cli.render import format_table, show, show_json
from ltv.errors import ConfigError

if TYPE_CHECKING:
    from ltv.cli.context import Context
    from ltv.training.inventory import LineModels, LineSummary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "models", cmd_models,
        "Registered models: champion per line, back-test metrics, parameters, lineage, recent gate decisions.",
        """
        ltv models list
        ltv models show music
        ltv models show retail --json
        """,
    )
    p.add_argument("action", choices=("list", "show"))
    p.add_argument("line", nargs="?", help="business line (for show)")
    p.add_argument("--runs", type=int, default=5, help="recent runs to show")
    p.add_argument("--json", action="store_true")


def cmd_models(ctx: Context) -> int:
    from ltv.training.inventory import describe_line, list_models

    args = ctx.args
    if args.action == "list":
        summaries = list_models(ctx.lake_root)
        if args.json:
            show_json([s.as_dict() for s in summaries])
        else:
            show(render_list(summaries, ctx.lake_root))
        return 0
    if not args.line:
        raise ConfigError("`ltv models show` needs a business line: ltv models show LINE")
    found = describe_line(ctx.lake_root, args.line, max_runs=args.runs)
    if args.json:
        show_json(found.as_dict())
    else:
        show(render_show(found))
    return 0


def render_list(summaries: Sequence[LineSummary], lake_root: Path) -> str:
    if not summaries:
        return f"no trained models under {lake_root}; run `ltv train --as-of DATE`"
    rows = [tuple(s.as_dict().values()) for s in summaries]
    return format_table(rows, list(summaries[0].as_dict().keys()))


def render_show(found: LineModels) -> str:
    c = found.champion
    if c is None:
        text = [f"{found.business_line}: no champion yet (no model has passed the gate)"]
    else:
        lineage = c.lineage or {}
        text = [
            f"{found.business_line}: champion {c.model} version {c.version} (run {c.run_id})",
            f"  hyperparameters: {json.dumps(c.params)}",
            f"  trained as of {lineage.get('as_of')}, horizon {lineage.get('horizon_days')} days, "
            f"Delta versions {lineage.get('delta_versions')}, config {lineage.get('config_hash')}",
        ]
        if c.backtest:
            text.append("  back-test: " + ", ".join(f"{k}={v:.4g}" for k, v in c.backtest.items()
                                                   if isinstance(v, (int, float)) and v == v))
    if found.runs:
        text.append("recent runs:")
        text.append(format_table([(r.as_of, r.action, r.winner, r.reason) for r in found.runs],
                                 ["as_of", "action", "winner", "reason"]))
    return "\n".join(text)
