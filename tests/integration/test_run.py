"""``ltv run`` on real Spark + Delta + MLflow + Feast: the second run of a date does no work, and the
pipeline on ``local-cluster[2,1,2048]`` (separate executor JVMs and Python workers) gives the same
features, champion and scores as on ``local[2]``.

One pipeline run per module (the sim_csv line ``shop``, bgnbd_gg only, 120-day horizon) feeds the
tests; the local-cluster run is a child process (a background job, see ``tests/background.py``)
that ingests the same CSV into its own lake and runs the whole pipeline there.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from ltv.config import LTVConfig
from ltv.ingest.pipeline import ingest_transactions
from ltv.lake.io import Lake
from ltv.lake.tables import CUSTOMER_LTV
from ltv.pipeline.records import PIPELINE_RUNS
from ltv.pipeline.drift import feature_psi
from ltv.pipeline.run import run_pipeline, training_due
from ltv.training.registry import ModelRegistry
from tests import background
from tests.conftest import ROOT
from tests.integration.conftest import AS_OF, HORIZON, INGESTED_AT

LINE = "shop"
CONFIG = {
    "spark": {"shuffle_partitions": 2},
    # one back-test window: these tests are about the pipeline's steps (skip, force, local-cluster),
    # the rolling windows have their own tests (test_training, test_gate)
    "defaults": {"candidates": ["bgnbd_gg"], "horizon_days": HORIZON, "gate": {"max_abs_bias": 0.5},
                 "backtest_windows": 1},
}
TABLES = ("transactions", "customer_features", "customer_ltv")
SCORE_COLUMNS = ["predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p90", "predicted_purchases", "p_alive",
                 "predicted_ltv_p50", "prob_purchase"]


def _versions(lake: Lake) -> dict[str, int | None]:
    return {name: lake.version(name) for name in TABLES}


def _mlflow_runs(lake: Lake) -> int:
    registry = ModelRegistry(lake.root)
    return sum(len(registry.runs(line, max_results=100)) for line in registry.lines())


@pytest.fixture(scope="module")
def first_run(spark, sim_csv, tmp_path_factory):
    """A lake after one `ltv run` of AS_OF (the run's record and the table versions right after it)."""
    root = tmp_path_factory.mktemp("pipeline")
    lake = Lake(spark, root / "lake")
    ingest_transactions(spark, lake, sim_csv, ingested_at=INGESTED_AT)
    config = LTVConfig.model_validate(CONFIG)
    run = run_pipeline(spark, lake, config, AS_OF, lines=[LINE])
    return lake, config, run, _versions(lake), _mlflow_runs(lake)


def test_run_twice_second_run_does_no_work(spark, first_run, capsys):
    lake, config, run, versions, mlflow_runs = first_run
    statuses = {(s.step, s.business_line): s.status for s in run.steps}
    assert statuses == {("features", LINE): "ran", ("train", LINE): "ran", ("score", LINE): "ran",
                        ("materialize", "*"): "ran"}, [s.as_dict() for s in run.steps]
    assert "first run" in next(s.reason for s in run.steps if s.step == "train")
    champion = ModelRegistry(lake.root).champion(LINE)
    assert champion is not None
    assert lake.read(CUSTOMER_LTV.name).where(f"business_line = '{LINE}'").count() > 0
    online_db = lake.root / "feast" / "online.db"
    online_mtime = online_db.stat().st_mtime_ns

    again = run_pipeline(spark, lake, config, AS_OF, lines=[LINE])
    assert [s.status for s in again.steps] == ["skipped"] * 4, [s.as_dict() for s in again.steps]
    reasons = {s.step: s.reason for s in again.steps}
    assert "exists" in reasons["features"] and "already recorded" in reasons["train"]
    assert f"champion v{champion.version}" in reasons["score"] and "already holds" in reasons["materialize"]
    assert _versions(lake) == versions  # no Delta commit to any data table
    assert _mlflow_runs(lake) == mlflow_runs and ModelRegistry(lake.root).champion(LINE).version == champion.version
    assert online_db.stat().st_mtime_ns == online_mtime

    # when is training due next? a week later: no (young champion, small PSI); 28 days later: yes (age);
    # a population whose frequency and spend tripled: yes (drift)
    week = training_due(lake, config, LINE, AS_OF + dt.timedelta(days=7), champion)
    assert not week[0] and "not due" in week[1] and max(week[2]["psi"].values()) < config.pipeline.drift_threshold, week
    month = training_due(lake, config, LINE, AS_OF + dt.timedelta(days=28), champion)
    assert month[0] and "28 days old" in month[1], month
    snapshot = lake.read("customer_features").where(f"business_line = '{LINE}'")
    shifted = snapshot.withColumn("frequency", F.col("frequency") * 3 + 1).withColumn(
        "monetary_value", F.col("monetary_value") * 3)
    psi = feature_psi(snapshot, shifted, config.pipeline.drift_features)
    threshold = config.pipeline.drift_threshold
    assert psi["frequency"] > threshold and psi["monetary_value"] > threshold, psi
    assert psi["days_since_last_purchase"] == 0.0, psi  # unchanged column: identical histogram

    # both runs are recorded, one row per step, statuses as returned
    recorded = lake.read(PIPELINE_RUNS.name).toPandas()
    assert len(recorded) == 8 and set(recorded["run_id"]) == {run.run_id, again.run_id}
    second = recorded[recorded["run_id"] == again.run_id]
    assert set(second["status"]) == {"skipped"} and (second["as_of"] == AS_OF).all()

    # the CLI says the same (third run), with the summary table and --json
    from ltv.cli import main

    args = ["--lake", str(lake.root), "-q", "--config", str(_config_file(lake.root.parent)), "run",
            "--as-of", str(AS_OF), "--business-line", LINE]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["status"] for s in out[0]["steps"]] == ["skipped"] * 4
    assert _versions(lake) == versions


def _config_file(folder: Path) -> Path:
    import yaml

    path = folder / "ltv.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


LOCAL_CLUSTER_CHILD = textwrap.dedent(
    """
    import contextlib, datetime as dt, io, json, os, sys, time
    from pathlib import Path

    root, lake, config, as_of, line, ingested_at = sys.argv[1:7]
    sys.path.insert(0, root)
    from ltv.config import SparkSettings
    from ltv.runtime.session import get_spark
    from tests.integration.conftest import write_sim_csv

    spark = get_spark(SparkSettings(master="local-cluster[2,1,2048]", shuffle_partitions=2, driver_memory="1g"))
    sc = spark.sparkContext
    deadline = time.time() + 180
    while sc._jsc.sc().getExecutorMemoryStatus().size() < 3 and time.time() < deadline:  # driver + 2 executors
        time.sleep(0.5)
    executors = sc._jsc.sc().getExecutorMemoryStatus().size() - 1
    workers = sorted(set(sc.parallelize(range(8), 8).map(lambda _: os.getpid()).collect()))

    from ltv.ingest.pipeline import ingest_transactions
    from ltv.lake.io import Lake
    from ltv.cli import main  # the CLI reuses this active session

    csv = write_sim_csv(Path(lake).parent / "sim")
    ingest_transactions(spark, Lake(spark, lake), csv, ingested_at=dt.datetime.fromisoformat(ingested_at))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--lake", lake, "--config", config, "-q", "run", "--as-of", as_of, "--business-line", line, "--json"])
    print(json.dumps({"master": sc.master, "executors": executors, "worker_pids": workers,
                      "driver_pid": os.getpid(), "code": code, "runs": json.loads(out.getvalue() or "null")}))
    spark.stop()
    """
)


@background.job("local_cluster_run")
def _local_cluster_job(workdir: Path) -> background.Job:
    """The whole pipeline on local-cluster, from ingesting the module's CSV, in its own lake."""
    config = _config_file(workdir)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    argv = [sys.executable, "-c", LOCAL_CLUSTER_CHILD, str(ROOT), str(workdir / "lake"), str(config), str(AS_OF), LINE,
            INGESTED_AT.isoformat()]
    return background.Job(argv, cwd=workdir, env=env, timeout=900)


def _frame(lake: Lake, table: str, columns: list[str]) -> pd.DataFrame:
    return (lake.read(table).select("business_line", "customer_id", *columns).toPandas()
            .sort_values(["business_line", "customer_id"]).reset_index(drop=True))


@pytest.mark.background("local_cluster_run")
def test_local_cluster_gives_the_same_scores_as_local(first_run):
    """The pipeline on local-cluster (features, training and drift on executors, scoring on them) writes
    the same snapshot, registers the same champion and writes the same scores as the local[2] run."""
    lake, _, _, _, _ = first_run
    outcome = background.result("local_cluster_run")
    proc = outcome.completed
    assert proc.returncode == 0, proc.stderr[-4000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["master"] == "local-cluster[2,1,2048]" and facts["executors"] == 2, facts
    assert facts["code"] == 0, proc.stderr[-4000:]
    # Python workers ran in the executors' own processes, not the driver's
    assert facts["driver_pid"] not in facts["worker_pids"] and len(facts["worker_pids"]) >= 2, facts
    steps = {s["step"]: s for s in facts["runs"][0]["steps"]}
    assert [steps[k]["status"] for k in ("features", "train", "score", "materialize")] == ["ran"] * 4, steps

    other = outcome.cwd / "lake"
    remote = Lake(lake.spark, other)
    numeric = ["frequency", "recency", "T", "monetary_value", "net_spend_total", "spend_trend_90d"]
    pd.testing.assert_frame_equal(_frame(remote, "customer_features", numeric),
                                  _frame(lake, "customer_features", numeric), check_exact=False, rtol=1e-12)
    # trained on the executors: the same champion, close but not bit-equal. The features agree to 1e-12,
    # but a mean spend that lands on a half cent in one layout and a hair off it in the other rounds to
    # another cent in Gamma-Gamma's condensed patterns (measured: spend parameters 2e-4 apart)
    here, _ = ModelRegistry(lake.root).load_champion(LINE)
    there, info = ModelRegistry(other).load_champion(LINE)
    assert (there.name, info.version) == (here.name, ModelRegistry(lake.root).champion(LINE).version)
    assert there.purchase_params_ == pytest.approx(here.purchase_params_, rel=1e-6)
    assert there.spend_params_ == pytest.approx(here.spend_params_, rel=2e-3)
    # scored on the executors = that champion's predictions made here, on the same features
    scores = _frame(remote, CUSTOMER_LTV.name, ["as_of", "model_name", "model_version", *SCORE_COLUMNS])
    features = (remote.read("customer_features").where(F.col("business_line") == LINE).toPandas()
                .sort_values(["business_line", "customer_id"]).reset_index(drop=True))
    assert len(scores) == len(features) == len(_frame(lake, CUSTOMER_LTV.name, ["as_of"])) > 0
    assert (scores["customer_id"] == features["customer_id"]).all()
    expected = there.predict(features, HORIZON).reset_index(drop=True)
    pd.testing.assert_frame_equal(scores[SCORE_COLUMNS].astype(float), expected[SCORE_COLUMNS].astype(float),
                                  check_exact=False, rtol=1e-9, atol=1e-12)


def test_force_reruns_every_step_without_duplicating(first_run, capsys):
    """`ltv run --force` on a date that is already done redoes features, training, scoring and the
    online push: every step runs (reason "forced"), the tables get new commits, and the date still
    has one feature row and one score per customer. Runs last: it adds commits to the module's lake."""
    from ltv.cli import main

    lake, _, _, _, _ = first_run
    date_and_line = (F.col("as_of") == F.lit(AS_OF)) & (F.col("business_line") == LINE)

    def counts(table: str) -> tuple[int, int]:
        row = lake.read(table).where(date_and_line).agg(
            F.count(F.lit(1)).alias("rows"), F.countDistinct("customer_id").alias("customers")).first()
        return row["rows"], row["customers"]

    before = {table: counts(table) for table in ("customer_features", CUSTOMER_LTV.name)}
    versions, mlflow_runs = _versions(lake), _mlflow_runs(lake)
    online_db = lake.root / "feast" / "online.db"
    online_mtime = online_db.stat().st_mtime_ns

    args = ["--lake", str(lake.root), "-q", "--config", str(_config_file(lake.root.parent)), "run",
            "--as-of", str(AS_OF), "--business-line", LINE, "--force", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    steps = {s["step"]: s for s in out[0]["steps"]}
    assert out[0]["forced"] is True
    assert {k: s["status"] for k, s in steps.items()} == dict.fromkeys(
        ("features", "train", "score", "materialize"), "ran"), steps
    assert all(s["reason"].startswith("forced") for s in steps.values()), steps

    after = _versions(lake)
    assert after["transactions"] == versions["transactions"]  # the input is not touched
    assert after["customer_features"] > versions["customer_features"], (versions, after)
    assert after[CUSTOMER_LTV.name] > versions[CUSTOMER_LTV.name], (versions, after)
    assert _mlflow_runs(lake) == mlflow_runs + 1
    # the online push ran again (same rows: the store's content may be byte-identical, so its counts are the proof)
    n = before[CUSTOMER_LTV.name][1]
    assert steps["materialize"]["reason"] == f"forced; customer_features {n:,}, customer_ltv {n:,}", steps["materialize"]
    assert online_db.stat().st_mtime_ns >= online_mtime
    for table, (rows, customers) in before.items():
        assert rows == customers > 0, (table, rows, customers)
        assert counts(table) == (rows, customers), table  # replaced, not appended

    recorded = lake.read(PIPELINE_RUNS.name).where(F.col("run_id") == out[0]["run_id"]).toPandas()
    assert len(recorded) == 4 and recorded["forced"].all() and set(recorded["status"]) == {"ran"}
