"""``ltv demo``: the platform end to end on bundled data, in a fresh folder.

Data: the real CDNOW purchases shipped inside the ``lifetimes`` wheel (business line
``music``), simulated lines from known BTYD processes (``retail``, ``online``) with customer
attributes, and a small deliberately dirty file that shows the quarantine at work.
"""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ltv.errors import ConfigError
from ltv.ui import format_table

if TYPE_CHECKING:
    from ltv.cli import Context

MARKER = ".ltv-demo"
SIM_LINES = ("retail", "online")
DIRTY_ROWS = """customer_id,event_ts,amount,business_line
r-dirty-1,2023-03-01,19.99,retail
,2023-03-02,5.00,retail
r-dirty-2,03/04/2023,7.50,retail
r-dirty-3,2999-01-01,12.00,retail
r-dirty-4,2023-03-05,twelve,retail
r-dirty-5,2023-03-06,NaN,retail
"""


class ModelRegistryCheck:
    @staticmethod
    def has_champion(lake, line: str) -> bool:
        from ltv.training.registry import ModelRegistry

        return ModelRegistry(lake.root).champion(line) is not None


def _comparison(result) -> str:
    keys = ["gini", "rmse", "bias", "coverage_80"]
    rows = [(name + (" *" if name == result.decision.winner else ""), *[m.get(k) for k in keys])
            for name, m in result.metrics.items()]
    head = (f"{result.line}: window ({result.lineage['validation_window'][0]}, {result.lineage['validation_window'][1]}], "
            f"{result.decision.action}: {result.decision.reason}")
    return head + "\n" + format_table(rows, ["model", *keys]) + (f"\nreport: {result.report}" if result.report else "") + "\n"


def prepare_folder(out: Path) -> Path:
    """Empty ``out`` if it is a previous demo folder; refuse to wipe anything else."""
    out = out.expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise ConfigError(f"{out} exists and is not an ltv demo folder; pass --out to an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("created by `ltv demo`; safe to delete\n")
    return out


def run_demo(ctx: Context, out: Path, customers: int = 3000, seed: int = 7) -> str:
    """Run every stage that exists so far; return a printable summary."""
    from pyspark.sql import functions as F

    from ltv.datasets.cdnow import write_cdnow_csv
    from ltv.datasets.simulate import simulate
    from ltv.ingest.pipeline import ingest_customers, ingest_transactions
    from ltv.lake.io import Lake

    progress = ctx.progress
    out = prepare_folder(out)
    data = out / "data"
    lake_root = out / "lake"
    with progress.stage(f"simulating {customers:,} customers for each of {', '.join(SIM_LINES)}"):
        sim = simulate(
            customers=customers,
            business_lines=list(SIM_LINES),
            seed=seed,
            start=date(2022, 1, 1),
            end=date(2024, 12, 31),
            truth_as_of=date(2023, 12, 31),
            truth_horizon_days=365,
        )
        sim_paths = sim.write(data / "simulated")
    with progress.stage("writing the CDNOW data set (music)"):
        cdnow_path = write_cdnow_csv(data / "cdnow_master.csv", which="master")
    dirty_path = data / "dirty_sample.csv"
    dirty_path.write_text(DIRTY_ROWS)

    spark = ctx.spark
    lake = Lake(spark, lake_root)
    results = []
    for label, path in (
        ("simulated transactions", sim_paths["transactions"]),
        ("CDNOW transactions", cdnow_path),
        ("dirty sample", dirty_path),
    ):
        with progress.stage(f"ingesting {label}"):
            results.append(ingest_transactions(spark, lake, path, settings=ctx.config.ingest))
    with progress.stage("ingesting simulated customer attributes"):
        results.append(ingest_customers(spark, lake, sim_paths["customers"], settings=ctx.config.ingest))

    from ltv.features.pipeline import build_features

    from ltv.config import LineSettings
    from ltv.scoring.score import score_line
    from ltv.training.train import train_line

    config = ctx.config.model_copy(deep=True)
    config.business_lines.setdefault("music", LineSettings(horizon_days=91))
    schedule = ((date(1998, 6, 30), ["music"]), (date(2024, 12, 31), list(SIM_LINES)))
    feature_results, train_results, score_results = [], [], []
    for as_of, lines in schedule:
        with progress.stage(f"features as of {as_of} for {', '.join(lines)}"):
            feature_results.append(build_features(spark, lake, config, as_of, lines))
    for as_of, lines in schedule:
        for line in lines:
            with progress.stage(f"training {line} as of {as_of} (back-test, gate, registry)"):
                train_results.append(train_line(spark, lake, config, line, as_of, progress=progress))
    for result in train_results:
        if ModelRegistryCheck.has_champion(lake, result.line):
            with progress.stage(f"scoring {result.line} as of {result.as_of}"):
                score_results.append(score_line(spark, lake, config, result.line, result.as_of))

    from ltv.serving.lookup import lookup
    from ltv.serving.materialize import materialize
    from ltv.serving.store import feature_store

    with progress.stage("materializing the latest features and scores into the Feast online store (SQLite)"):
        pushed = materialize(spark, lake, config)
    sample_customer = "00004"
    with progress.stage(f"online lookup of music customer {sample_customer}"):
        looked_up = lookup(feature_store(lake_root, apply=False), sample_customer, "music")

    tx = lake.read("transactions")
    per_line = (
        tx.groupBy("business_line")
        .agg(
            F.count("*").alias("rows"),
            F.countDistinct("customer_id").alias("customers"),
            F.min("event_date").alias("first"),
            F.max("event_date").alias("last"),
        )
        .orderBy("business_line")
        .collect()
    )
    quarantine = (
        lake.read("transactions_quarantine").groupBy("target_table", "reason").count().orderBy("target_table", "reason").collect()
    )
    from ltv.evaluation.overview import write_overview

    overview, _ = write_overview(lake_root)
    lines = [
        f"ltv demo: everything is under {out}",
        "",
        "transactions per business line",
        format_table(
            [(r["business_line"], r["rows"], r["customers"], str(r["first"]), str(r["last"])) for r in per_line],
            ["business_line", "rows", "customers", "first", "last"],
        ),
        "",
        "quarantined rows by reason",
        format_table([(r["target_table"], r["reason"], r["count"]) for r in quarantine], ["table", "reason", "rows"]),
        "",
        "ingest runs",
        format_table(
            [(Path(r.source).name, r.table, r.rows_read, r.accepted, r.quarantined_total, f"{r.seconds:.1f}s") for r in results],
            ["source", "table", "read", "accepted", "quarantined", "time"],
        ),
        "",
        "feature snapshots (customer_features)",
        format_table(
            [(str(r.as_of), line, n, r.time_unit) for r in feature_results for line, n in sorted(r.rows.items())],
            ["as_of", "business_line", "customers", "time_unit"],
        ),
        "",
        "model comparison (back-test; * = winner)",
        *[_comparison(r) for r in train_results],
        "scores (customer_ltv)",
        format_table(
            [(r.line, str(r.as_of), r.rows, r.model_name, r.model_version) for r in score_results],
            ["business_line", "as_of", "customers", "model", "version"],
        ) if score_results else "no line has a promoted model, so nothing was scored",
        "",
        "Feast online store",
        format_table(sorted(pushed.rows.items()), ["feature view", "customers pushed"]),
        f"online store: {pushed.online_store}",
        f"lookup music:{sample_customer} -> "
        + ", ".join(f"{k}={looked_up.get(k)!r}" for k in
                    ("frequency", "recency", "monetary_value", "predicted_ltv", "p_alive", "model_version")),
        f"  (same from the shell: ltv --lake {lake_root} lookup {sample_customer} --business-line music)",
        "",
        "tables (Delta)",
        format_table(
            [
                (name, lake.path(name), lake.version(name))
                for name in ("transactions", "transactions_quarantine", "customers", "customer_features", "customer_ltv")
                if lake.exists(name)
            ],
            ["table", "path", "version"],
        ),
        "",
        f"model report (every line, open in a browser): {overview}",
        f"  per run: {lake_root / 'reports'}/<line>/<as_of>/index.html; again: ltv --lake {lake_root} report --open",
        f"MLflow UI: mlflow ui --backend-store-uri sqlite:///{lake_root / 'mlflow' / 'mlflow.db'} --host 127.0.0.1",
        f"input files: {data}",
        f"ground truth for the simulated lines: {sim_paths['ground_truth']}",
    ]
    return "\n".join(lines)
