"""The ``ltv`` command. Every subcommand is a thin call into the library; this module owns
presentation (progress on stderr, tables or JSON on stdout) and exit codes:
0 ok, 2 usage/config error, 3 input rejected as a whole (nothing written), 1 anything else.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from ltv.config import LTVConfig, load_config, resolve_lake, validate_name
from ltv.errors import ConfigError, LTVError
from ltv.ui import Progress, format_table

log = logging.getLogger("ltv")


class Context:
    """What every command needs: config, lake folder, a lazily started Spark session."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.config: LTVConfig = load_config(args.config)
        self.lake_root: Path = resolve_lake(args.lake, self.config)
        self.master: str | None = args.master
        self.progress = Progress(enabled=not getattr(args, "quiet", False))
        self._spark = None
        self._lake = None

    @property
    def spark(self):
        if self._spark is None:
            from ltv.spark import DEFAULT_MASTER, get_spark, launched_by_spark_submit

            master = self.master or self.config.spark.master
            master = master or ("as given to spark-submit" if launched_by_spark_submit() else DEFAULT_MASTER)
            with self.progress.stage(f"starting Spark ({master})"):
                self._spark = get_spark(self.config.spark, master=self.master)
        return self._spark

    @property
    def lake(self):
        if self._lake is None:
            from ltv.lake.io import Lake

            self._lake = Lake(self.spark, self.lake_root)
        return self._lake


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def parse_line(text: str) -> str:
    try:
        return validate_name(text, "business line")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- commands -----------------------------------------------------------------------------
def cmd_ingest(ctx: Context) -> int:
    from ltv.ingest.pipeline import ingest_customers, ingest_transactions

    args = ctx.args
    runner = ingest_customers if args.table == "customers" else ingest_transactions
    with ctx.progress.stage(f"ingest {args.source} -> {args.table}"):
        result = runner(ctx.spark, ctx.lake, args.source, fmt=args.format, settings=ctx.config.ingest)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    print(f"ingested {result.source} into {ctx.lake.path(result.table)}")
    rows = [
        ("rows read", result.rows_read),
        ("accepted", result.accepted),
        ("  new", result.accepted_new),
        ("  already in table (skipped)", result.already_present),
        ("quarantined", result.quarantined_total),
    ]
    rows += [(f"  {reason}", count) for reason, count in sorted(result.quarantined.items())]
    print(format_table(rows, ["", "rows"]))
    if result.quarantined_total:
        print(f"quarantined rows and reasons: {ctx.lake.path('transactions_quarantine')}")
    return 0


def _dates(args: argparse.Namespace) -> list[date]:
    """``--as-of`` (repeatable) and/or ``--from/--to [--step-days]`` as a sorted list of dates."""
    from datetime import timedelta

    days = set(args.as_of or [])
    if args.date_from or args.date_to:
        if not (args.date_from and args.date_to):
            raise ConfigError("--from and --to go together (a backfill range)")
        if args.date_to < args.date_from:
            raise ConfigError(f"--to {args.date_to} is before --from {args.date_from}")
        day = args.date_from
        while day <= args.date_to:
            days.add(day)
            day += timedelta(days=args.step_days)
    if not days:
        raise ConfigError("give --as-of DATE (repeatable) or --from DATE --to DATE")
    return sorted(days)


def cmd_features(ctx: Context) -> int:
    from ltv.features.pipeline import build_features

    args = ctx.args
    lines = args.business_line or None
    results = []
    for as_of in _dates(args):
        with ctx.progress.stage(f"features as of {as_of}"):
            results.append(build_features(ctx.spark, ctx.lake, ctx.config, as_of, lines))
    if args.json:
        print(json.dumps([{"as_of": str(r.as_of), "time_unit": r.time_unit, "rows": r.rows, "version": r.version}
                          for r in results], indent=2))
        return 0
    rows = [(str(r.as_of), line, n, r.time_unit, r.version) for r in results for line, n in sorted(r.rows.items())]
    print(format_table(rows, ["as_of", "business_line", "customers", "time_unit", "delta_version"]))
    print(f"table: {ctx.lake.path('customer_features')}")
    return 0


def cmd_train(ctx: Context) -> int:
    from ltv.training.train import train

    args = ctx.args
    with ctx.progress.stage(f"training as of {args.as_of}"):
        results = train(
            ctx.spark, ctx.lake, ctx.config, args.as_of, args.horizon_days,
            args.business_line or None, args.model or None, progress=ctx.progress,
        )
    if args.json:
        print(json.dumps([_result_dict(r) for r in results], indent=2, default=str))
        return 0
    for r in results:
        print(f"\n== {r.line}: back-test ({r.lineage['validation_window'][0]}, {r.lineage['validation_window'][1]}], "
              f"horizon {r.horizon_days} days ==")
        keys = ["gini", "rmse", "mae", "spearman", "top_decile_capture", "calibration_mape", "bias", "coverage_80"]
        rows = [(name + (" *" if name == r.decision.winner else ""), *[m.get(k) for k in keys]) for name, m in r.metrics.items()]
        print(format_table(rows, ["model", *keys]))
        for name, why in sorted(r.decision.rejected.items()):
            print(f"  {name}: not eligible: {why}")
        state = f"{r.decision.action.upper()}: {r.decision.reason}"
        if r.champion_version:
            state += f" -> champion version {r.champion_version}"
        print(state)
        if r.report:
            print(f"report: {r.report}")
    return 0


def _result_dict(r) -> dict:
    return {
        "business_line": r.line, "as_of": str(r.as_of), "horizon_days": r.horizon_days, "metrics": r.metrics,
        "decision": r.decision.as_dict(), "run_id": r.run_id, "champion_version": r.champion_version,
        "report": str(r.report) if r.report else None, "errors": r.errors, "lineage": r.lineage,
    }


def cmd_models(ctx: Context) -> int:
    from ltv.training.registry import ModelRegistry

    args = ctx.args
    registry = ModelRegistry(ctx.lake_root)
    if args.action == "list":
        entries = []
        for line in registry.lines():
            champ = registry.champion(line)
            runs = registry.runs(line, max_results=1)
            last = runs[0] if runs else None
            entries.append({
                "business_line": line,
                "champion_model": champ.model_name if champ else None,
                "champion_version": champ.version if champ else None,
                "champion_as_of": champ.tags.get("ltv.as_of") if champ else None,
                "last_run": last.info.run_id if last else None,
                "last_action": last.data.tags.get("ltv.action") if last else None,
            })
        if args.json:
            print(json.dumps(entries, indent=2))
        elif not entries:
            print(f"no trained models under {ctx.lake_root}; run `ltv train --as-of DATE`")
        else:
            print(format_table([tuple(e.values()) for e in entries], list(entries[0].keys())))
        return 0
    line = parse_line(args.line) if args.line else None
    if line is None:
        raise ConfigError("`ltv models show` needs a business line: ltv models show LINE")
    champ = registry.champion(line)
    runs = registry.runs(line, max_results=args.runs)
    doc = {
        "business_line": line,
        "champion": None if champ is None else {
            "model": champ.model_name, "version": champ.version, "run_id": champ.run_id, "source": champ.source,
            "tags": champ.tags,
        },
        "runs": [
            {
                "run_id": run.info.run_id,
                "as_of": run.data.params.get("as_of"),
                "action": run.data.tags.get("ltv.action"),
                "winner": run.data.tags.get("ltv.winner"),
                "reason": run.data.tags.get("ltv.reason"),
                "params": run.data.params,
                "metrics": run.data.metrics,
            }
            for run in runs
        ],
        "tracking_uri": registry.uri,
    }
    if champ is not None:
        from ltv.models.base import read_metadata
        import mlflow.artifacts

        import tempfile

        with tempfile.TemporaryDirectory(prefix="ltv-champion-") as tmp:
            local = mlflow.artifacts.download_artifacts(artifact_uri=champ.source, tracking_uri=registry.uri,
                                                        dst_path=tmp)
            meta = read_metadata(local)
            model_doc = json.loads((Path(local) / "model.json").read_text())
        doc["champion"]["params"] = model_doc.get("params")
        doc["champion"]["lineage"] = meta.get("lineage")
        doc["champion"]["backtest"] = meta.get("backtest")
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
        return 0
    if champ is None:
        print(f"{line}: no champion yet (no model has passed the gate)")
    else:
        c = doc["champion"]
        print(f"{line}: champion {c['model']} version {c['version']} (run {c['run_id']})")
        print(f"  hyperparameters: {json.dumps(c.get('params'))}")
        lineage = c.get("lineage") or {}
        print(f"  trained as of {lineage.get('as_of')}, horizon {lineage.get('horizon_days')} days, "
              f"Delta versions {lineage.get('delta_versions')}, config {lineage.get('config_hash')}")
        if c.get("backtest"):
            print("  back-test: " + ", ".join(f"{k}={v:.4g}" for k, v in c["backtest"].items()
                                             if isinstance(v, (int, float)) and v == v))
    if doc["runs"]:
        print("recent runs:")
        print(format_table([(r["as_of"], r["action"], r["winner"], r["reason"]) for r in doc["runs"]],
                           ["as_of", "action", "winner", "reason"]))
    return 0


def cmd_score(ctx: Context) -> int:
    from ltv.scoring.score import score

    args = ctx.args
    with ctx.progress.stage(f"scoring as of {args.as_of}"):
        results = score(ctx.spark, ctx.lake, ctx.config, args.as_of, args.horizon_days, args.business_line or None)
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2, default=str))
        return 0
    print(format_table(
        [(r.line, str(r.as_of), r.rows, r.model_name, r.model_version, r.features_version, r.table_version) for r in results],
        ["business_line", "as_of", "customers", "model", "model_version", "features_version", "table_version"],
    ))
    print(f"table: {ctx.lake.path('customer_ltv')}")
    return 0


def cmd_export(ctx: Context) -> int:
    from ltv.scoring.export import export_scores

    args = ctx.args
    with ctx.progress.stage(f"exporting scores as of {args.as_of}"):
        rows = export_scores(ctx.lake, args.as_of, args.out, args.business_line or None)
    if args.json:
        print(json.dumps({"as_of": str(args.as_of), "rows": rows, "out": str(Path(args.out).resolve())}, indent=2))
        return 0
    print(f"wrote {rows:,} rows to {Path(args.out).resolve()}")
    return 0


def cmd_run(ctx: Context) -> int:
    from ltv.pipeline.run import run_range

    args = ctx.args
    runs = run_range(ctx.spark, ctx.lake, ctx.config, _dates(args), args.horizon_days,
                     args.business_line or None, force=args.force, progress=ctx.progress)
    failed = [s for r in runs for s in r.failed]
    if args.json:
        print(json.dumps([r.as_dict() for r in runs], indent=2, default=str))
    else:
        rows = [(str(s.as_of), s.step, s.business_line, s.status, round(s.seconds, 1), s.reason)
                for r in runs for s in r.steps]
        print(format_table(rows, ["as_of", "step", "business_line", "status", "seconds", "why"]))
        print(f"recorded in {ctx.lake.path('pipeline_runs')} (run {', '.join(r.run_id for r in runs)})")
    if failed:
        print(f"ltv run: {len(failed)} step(s) failed: "
              + "; ".join(f"{s.as_of} {s.step} {s.business_line}" for s in failed), file=sys.stderr)
        return 1
    return 0


def cmd_report(ctx: Context) -> int:
    from ltv.evaluation.overview import write_overview

    args = ctx.args
    path, found = write_overview(ctx.lake_root, args.business_line or None, args.as_of, args.out)
    if args.json:
        print(json.dumps({"page": str(path), "reports": [f.as_dict() for f in found]}, indent=2))
    else:
        rows = [(f.line, str(f.as_of), f.report.champion or "-", "yes" if f.report.promoted else "no",
                 len(f.report.candidates)) for f in found]
        print(format_table(rows, ["business_line", "as_of", "winner", "promoted", "candidates"]))
        print(f"report: {path}")
    if args.open:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            print(f"could not start a browser here; open {path} yourself", file=sys.stderr)
    return 0


def cmd_simulate(ctx: Context) -> int:
    from ltv.datasets.simulate import simulate

    args = ctx.args
    lines = [parse_line(x.strip()) for x in args.business_lines.split(",") if x.strip()]
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
        print(json.dumps({"files": {k: str(v) for k, v in paths.items()}, "transactions": len(result.transactions),
                          "customers": len(result.customers)}, indent=2))
        return 0
    print(format_table([(name, str(path)) for name, path in paths.items()], ["file", "path"]))
    print(f"{len(result.transactions):,} transactions, {len(result.customers):,} customers")
    return 0


def cmd_demo(ctx: Context) -> int:
    from ltv.demo import run_demo

    summary = run_demo(ctx, Path(ctx.args.out), customers=ctx.args.customers, seed=ctx.args.seed)
    print(summary)
    return 0


def cmd_materialize(ctx: Context) -> int:
    from ltv.serving.materialize import materialize

    with ctx.progress.stage("materializing the latest features and scores into the online store"):
        result = materialize(ctx.spark, ctx.lake, ctx.config)
    if ctx.args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    print(format_table(sorted(result.rows.items()), ["feature view", "customers pushed"]))
    print(f"online store: {result.online_store}")
    print(f"registry: {result.registry}")
    return 0


def cmd_lookup(ctx: Context) -> int:
    from ltv.serving.definitions import SCORE_FIELDS, SCORES_AS_OF
    from ltv.serving.lookup import lookup
    from ltv.serving.store import feast_dir, feature_store

    args = ctx.args
    if not (feast_dir(ctx.lake_root) / "registry.db").exists():
        raise LTVError(f"no Feast registry under {feast_dir(ctx.lake_root)}; run `ltv materialize` first")
    row = lookup(feature_store(ctx.lake_root, apply=False), args.customer_id, args.business_line)
    if args.json:
        print(json.dumps(row, indent=2, default=str))
        return 0
    score_names = {name for name, _ in SCORE_FIELDS} | {SCORES_AS_OF}
    features = [(k, v) for k, v in row.items() if k not in score_names and k not in ("entity_key", "features_as_of")]
    scores = [(k, row[k]) for k in sorted(score_names)]
    print(f"customer {args.customer_id} in business line {args.business_line} "
          f"(features as of {row['features_as_of']})")
    print(format_table(sorted(features), ["feature", "value"]))
    if all(v is None for _, v in scores):
        print("scores: none yet (run `ltv score`, then `ltv materialize`)")
    else:
        print(format_table(scores, ["score", "value"]))
    return 0


# -- parser -------------------------------------------------------------------------------
def _globals(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = (lambda v: argparse.SUPPRESS) if suppress else (lambda v: v)
    group = parser.add_argument_group("global options")
    group.add_argument("--lake", default=default(None), metavar="DIR",
                       help="lake folder (env LTV_LAKE; default ./lake)")
    group.add_argument("--config", default=default(None), metavar="FILE",
                       help="ltv.yaml (default ./ltv.yaml when present)")
    group.add_argument("--master", default=default(None), metavar="URL",
                       help="Spark master (default local[*], or what spark-submit gave)")
    group.add_argument("-v", "--verbose", action="count", default=default(0), help="more log detail (-vv for Spark's)")
    group.add_argument("-q", "--quiet", action="store_true", default=default(False), help="no progress lines")


def _command(sub, name: str, func: Callable[[Context], int], help_text: str, examples: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog="examples:\n" + textwrap.indent(textwrap.dedent(examples).strip(), "  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _globals(parser, suppress=True)
    parser.set_defaults(func=func)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ltv",
        description="Customer lifetime value on Spark + Delta: ingest, features, models, scores, Feast.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `ltv COMMAND --help` for a command's options and examples.",
    )
    _globals(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = _command(
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

    p = _command(
        sub, "features", cmd_features,
        "Build point-in-time customer feature snapshots (rows with event_ts <= end of DATE only).",
        """
        ltv features --as-of 1997-09-30
        ltv features --as-of 2024-06-30 --business-line retail --business-line online
        ltv features --from 2024-01-07 --to 2024-06-30 --step-days 7     # weekly backfill
        """,
    )
    p.add_argument("--as-of", type=parse_date, action="append", metavar="DATE", help="snapshot date (repeatable)")
    p.add_argument("--from", dest="date_from", type=parse_date, metavar="DATE", help="backfill start")
    p.add_argument("--to", dest="date_to", type=parse_date, metavar="DATE", help="backfill end (inclusive)")
    p.add_argument("--step-days", type=int, default=7, help="backfill step (default 7)")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X",
                   help="only this line (repeatable; default all)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = _command(
        sub, "train", cmd_train,
        "Back-test candidate models per business line on (DATE - horizon, DATE]; promote a champion only through the gate.",
        """
        ltv train --as-of 1997-09-30 --horizon-days 91 --business-line music
        ltv train --as-of 2024-06-30 --model bgnbd_gg --model xgboost
        ltv train --as-of 2024-06-30 --json > run.json
        """,
    )
    p.add_argument("--as-of", type=parse_date, required=True, metavar="DATE",
                   help="training date: nothing after the end of DATE is read")
    p.add_argument("--horizon-days", type=int, default=None, help="prediction horizon (default: config, 365)")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X", help="repeatable; default all")
    p.add_argument("--model", action="append", metavar="NAME", help="candidate (repeatable; default: config or all)")
    p.add_argument("--json", action="store_true", help="print results as JSON")

    p = _command(
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

    p = _command(
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

    p = _command(
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

    p = _command(
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
    p.add_argument("--as-of", type=parse_date, action="append", metavar="DATE", help="run date (repeatable)")
    p.add_argument("--from", dest="date_from", type=parse_date, metavar="DATE", help="backfill start")
    p.add_argument("--to", dest="date_to", type=parse_date, metavar="DATE", help="backfill end (inclusive)")
    p.add_argument("--step-days", type=int, default=7, help="backfill step (default 7)")
    p.add_argument("--business-line", type=parse_line, action="append", metavar="X",
                   help="only this line (repeatable; default every line in transactions)")
    p.add_argument("--horizon-days", type=int, default=None, help="training/scoring horizon (default: config, 365)")
    p.add_argument("--force", action="store_true", help="run every step even when its output exists")
    p.add_argument("--json", action="store_true", help="print the step records as JSON")

    p = _command(
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

    p = _command(
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

    p = _command(
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

    p = _command(
        sub, "materialize", cmd_materialize,
        "Push the latest feature snapshot and latest scores of every customer to the Feast online store.",
        """
        ltv materialize
        ltv materialize --lake /data/lake --json
        """,
    )
    p.add_argument("--json", action="store_true", help="print the counts and locations as JSON")

    p = _command(
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
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("py4j", "feast", "mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING) if verbosity < 2 else level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    # a command prints its own progress; MLflow's tqdm bar for a model download is noise on stderr
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        ctx = Context(args)
        return int(args.func(ctx) or 0)
    except LTVError as exc:
        print(f"ltv {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else: exit 1, traceback only with -v
        if args.verbose:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"ltv {args.command}: error: {first} (run with -v for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
