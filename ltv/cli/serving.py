"""``ltv materialize`` (latest features and scores -> Feast online store) and ``ltv lookup`` (read one
customer back)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ltv.cli.options import command, parse_line
from ltv.cli.render import format_table, show, show_json
from ltv.errors import LTVError

if TYPE_CHECKING:
    from ltv.cli.context import Context
    from ltv.serving.materialize import MaterializeResult


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "materialize", cmd_materialize,
        "Push the latest feature snapshot and latest scores of every customer to the Feast online store.",
        """
        ltv materialize
        ltv materialize --lake /data/lake --json
        """,
    )
    p.add_argument("--json", action="store_true", help="print the counts and locations as JSON")


def add_lookup_parser(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "lookup", cmd_lookup,
        "Read a customer's latest features and scores from the Feast online store (after `ltv materialize`).",
        """
        ltv lookup c000042
        ltv lookup c000042 --business-line retail --json
        """,
    )
    p.add_argument("customer_id", help="the customer within the business line")
    p.add_argument("--business-line", type=parse_line, default="default", help="business line (default: default)")
    p.add_argument("--json", action="store_true", help="print the fields as JSON")


def cmd_materialize(ctx: Context) -> int:
    from ltv.serving.materialize import materialize

    with ctx.progress.stage("materializing the latest features and scores into the online store"):
        result = materialize(ctx.spark, ctx.lake, ctx.config)
    if ctx.args.json:
        show_json(result.as_dict())
    else:
        show(render_materialize(result))
    return 0


def render_materialize(result: MaterializeResult) -> str:
    return "\n".join([
        format_table(sorted(result.rows.items()), ["feature view", "customers pushed"]),
        f"online store: {result.online_store}",
        f"registry: {result.registry}",
    ])


def cmd_lookup(ctx: Context) -> int:
    from ltv.serving.lookup import lookup
    from ltv.serving.store import feast_dir, feature_store

    args = ctx.args
    if not (feast_dir(ctx.lake_root) / "registry.db").exists():
        raise LTVError(f"no Feast registry under {feast_dir(ctx.lake_root)}; run `ltv materialize` first")
    row = lookup(feature_store(ctx.lake_root, apply=False), args.customer_id, args.business_line)
    if args.json:
        show_json(row)
    else:
        show(render_lookup(row, args.customer_id, args.business_line))
    return 0


def render_lookup(row: dict[str, Any], customer_id: str, business_line: str) -> str:
    """The customer's features, then its scores (or how to get them)."""
    from ltv.serving.definitions import SCORE_FIELDS, SCORES_AS_OF

    score_names = {name for name, _ in SCORE_FIELDS} | {SCORES_AS_OF}
    features = [(k, v) for k, v in row.items() if k not in score_names and k not in ("entity_key", "features_as_of")]
    scores = [(k, row[k]) for k in sorted(score_names)]
    text = [
        f"customer {customer_id} in business line {business_line} (features as of {row['features_as_of']})",
        format_table(sorted(features), ["feature", "value"]),
    ]
    if all(v is None for _, v in scores):
        text.append("scores: none yet (run `ltv score`, then `ltv materialize`)")
    else:
        text.append(format_table(scores, ["score", "value"]))
    return "\n".join(text)
