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
        ltv models promote retail 3 --reason "roll back: v4 over-forecasts December"
        """,
    )
    p.add_argument("action", choices=("list", "show", "promote"))
    p.add_argument("line", nargs="?", help="business line (for show, promote)")
    p.add_argument("version", nargs="?", help="registered version to make champion (for promote)")
    p.add_argument("--reason", default=None, help="why (for promote; recorded with the decision)")
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
        raise ConfigError(f"`ltv models {args.action}` needs a business line: ltv models {args.action} LINE")
    if args.action == "promote":
        return _promote(ctx)
    found = describe_line(ctx.lake_root, args.line, max_runs=args.runs)
    if args.json:
        show_json(found.as_dict())
    else:
        show(render_show(found))
    return 0


def _promote(ctx: Context) -> int:
    from ltv.training.registry import ModelRegistry

    args = ctx.args
    if not args.version or not args.version.isdigit():
        raise ConfigError("`ltv models promote` needs a version number: ltv models promote LINE VERSION")
    if not args.reason:
        raise ConfigError("`ltv models promote` needs --reason TEXT: a hand decision is recorded with why")
    info, run_id = ModelRegistry(ctx.lake_root).promote_version(args.line, args.version, args.reason)
    if args.json:
        show_json({"business_line": args.line, "champion_version": info.version, "model": info.model_name,
                   "run_id": run_id, "action": "manual"})
    else:
        show(f"{args.line}: champion is now {info.model_name} version {info.version} (by hand: {args.reason}); "
             f"recorded in run {run_id}")
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
