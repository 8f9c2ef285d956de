"""Training on real Spark + Delta + MLflow (SQLite under the lake): gate, registry, leakage, golden path."""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from ltv.cli import main
from ltv.features.pipeline import build_features
from ltv.ingest.pipeline import ingest_transactions
from ltv.lake.io import Lake
from ltv.training.registry import ModelRegistry
from ltv.training.train import train_line

from tests.integration.conftest import AS_OF, HORIZON, INGESTED_AT


def _lake_with(spark, root: Path, csv: Path) -> Lake:
    lake = Lake(spark, root)
    ingest_transactions(spark, lake, csv, ingested_at=INGESTED_AT)
    return lake


def test_gate_promotes_then_refuses_a_worse_candidate(spark, trained_shop):
    lake, config, first = trained_shop.lake, trained_shop.config, trained_shop.trained
    assert set(first.metrics) == {"baseline", "bgnbd_gg"}
    assert first.decision.promote and first.decision.winner == "bgnbd_gg", first.decision.reason
    registry = ModelRegistry(lake.root)
    champion = registry.champion("shop")
    assert champion is not None and champion.model_name == "bgnbd_gg" and champion.version == first.champion_version

    # lineage travels with the registered model
    model, info = registry.load_champion("shop")
    assert info.version == champion.version
    run = registry.client.get_run(first.run_id)
    assert run.data.params["transactions_version"] == str(lake.version("transactions"))
    # 400 customers: bgnbd_gg is ahead of the baseline but not significantly -> a provisional first champion
    assert run.data.tags["ltv.action"] == "provisional" and first.decision.status == "provisional"
    assert registry.champion("shop").tags["ltv.status"] == "provisional"
    assert first.report is not None and first.report.exists()
    assert all(not p.name.endswith((".pkl", ".pickle", ".dill")) for p in first.report.parent.rglob("*"))

    # a null model (real level, random ranking) must lose and never become champion
    second = train_line(spark, lake, config, "shop", AS_OF, HORIZON, models=["shuffled"])
    assert "shuffled" in second.metrics and "bgnbd_gg" in second.metrics  # champion re-evaluated on the same window
    assert second.metrics["shuffled"]["gini"] < second.metrics["bgnbd_gg"]["gini"] - 0.1
    assert second.decision.winner != "shuffled"
    assert registry.champion("shop").model_name == "bgnbd_gg"
    runs = registry.runs("shop")
    assert runs[0].data.tags["ltv.winner"] != "shuffled"


#: every model family the gate can pick, small and fast
LEAK_CONFIG = {
    "defaults": {
        "backtest_windows": 1, "training_cutoffs": 2,
        "hyperparameters": {m: {"n_estimators": 25, "interval_n_estimators": 15} for m in ("xgboost", "hybrid")},
    },
}
LEAK_MODELS = ["baseline", "bgnbd_gg", "xgboost", "hybrid"]


def _customers_csv(sim_csv: Path, out: Path, leak: bool) -> Path:
    """The simulated customers with a third of them carrying attribute values that only hold AFTER
    ``AS_OF`` (``valid_from`` 10 days later). ``leak``: those values encode the future (the
    customer's spend after ``AS_OF``); otherwise they are the real ones. Point-in-time features
    never see either, so both lakes must give the same snapshots, back-tests and models."""
    customers = pd.read_csv(sim_csv.parent / "customers.csv", dtype=str)
    later = customers.index % 3 == 0
    customers["valid_from"] = ""
    customers.loc[later, "valid_from"] = (AS_OF + dt.timedelta(days=10)).isoformat() + "T00:00:00Z"
    if leak:
        tx = pd.read_csv(sim_csv, dtype={"customer_id": str})
        after = tx[pd.to_datetime(tx["event_ts"], utc=True) >= pd.Timestamp(AS_OF + dt.timedelta(days=1), tz="UTC")]
        future = after.groupby("customer_id")["amount"].sum()
        spent = customers["customer_id"].map(future).fillna(0.0)
        customers.loc[later, "channel"] = ["future-high" if v > 50 else "future-low" for v in spent[later]]
        customers.loc[later, "country"] = "ZZ"
        customers.loc[later, "signup_date"] = "2030-01-01"
    path = out / ("customers-leaky.csv" if leak else "customers.csv")
    customers.to_csv(path, index=False)
    return path


def test_no_leakage_and_no_dependence_on_partitions_or_batches(spark, tmp_path, sim_csv):
    """Two lakes that agree on everything known at ``AS_OF`` train identically, with every model family.

    The second lake's future is corrupted: transactions after ``AS_OF`` are x100 (+ ghost customers)
    and a third of the customers' attribute rows, valid only after ``AS_OF``, encode their future
    spend. It is also trained under other shuffle partitions and Arrow batch sizes: the same data
    and config must give the same snapshots, metrics, decision and champion either way.
    """
    from ltv.config import LTVConfig
    from ltv.ingest.pipeline import ingest_customers

    frame = pd.read_csv(sim_csv)
    future = pd.to_datetime(frame["event_ts"], utc=True) >= pd.Timestamp(AS_OF + dt.timedelta(days=1), tz="UTC")
    assert future.sum() > 0
    corrupted = frame.copy()
    corrupted.loc[future, "amount"] = corrupted.loc[future, "amount"] * 100 + 1
    extra = corrupted[future].head(50).copy()
    extra["transaction_id"] = extra["transaction_id"].astype(str) + "-x"
    extra["customer_id"] = "ghost-" + extra["customer_id"].astype(str)
    corrupted_csv = tmp_path / "corrupted.csv"
    pd.concat([corrupted, extra], ignore_index=True).to_csv(corrupted_csv, index=False)

    config = LTVConfig.model_validate(LEAK_CONFIG)
    results, lakes = {}, {}
    for name, tx_csv, leak, conf in (
        ("clean", sim_csv, False, {}),
        ("dirty", corrupted_csv, True, {"spark.sql.shuffle.partitions": "5",
                                        "spark.sql.execution.arrow.maxRecordsPerBatch": "37"}),
    ):
        lake = _lake_with(spark, tmp_path / name, tx_csv)
        ingest_customers(spark, lake, _customers_csv(sim_csv, tmp_path, leak), ingested_at=INGESTED_AT)
        before = {key: spark.conf.get(key) for key in conf}
        try:
            for key, value in conf.items():
                spark.conf.set(key, value)
            build_features(spark, lake, config, AS_OF, ["shop"])
            results[name] = train_line(spark, lake, config, "shop", AS_OF, HORIZON, models=LEAK_MODELS)
        finally:
            for key, value in before.items():
                spark.conf.set(key, value)
        lakes[name] = lake

    a, b = results["clean"], results["dirty"]
    columns = [c for c in lakes["clean"].read("customer_features").columns if c != "computed_at"]
    snapshots = [lakes[n].read("customer_features").select(*columns).toPandas()
                 .sort_values("customer_id").reset_index(drop=True) for n in ("clean", "dirty")]
    assert snapshots[0]["attr_channel"].isna().sum() > 50  # the later-valid attribute rows are not known at AS_OF
    pd.testing.assert_frame_equal(*snapshots)
    assert set(a.metrics) == set(LEAK_MODELS) and a.metrics.keys() == b.metrics.keys(), (a.errors, b.errors)
    for model in a.metrics:
        for metric, value in a.metrics[model].items():
            other = b.metrics[model][metric]
            assert (math.isnan(value) and math.isnan(other)) or other == pytest.approx(value, rel=1e-9, abs=1e-9), (model, metric)
    assert (a.decision.winner, a.decision.action) == (b.decision.winner, b.decision.action)
    assert a.decision.evidence["comparisons"] == b.decision.evidence["comparisons"]
    assert a.lineage["feature_snapshots"][AS_OF.isoformat()].startswith("customer_features v")  # read from the store
    if a.champion_version is not None:  # the refit champions predict the same numbers
        ma, _ = ModelRegistry(lakes["clean"].root).load_champion("shop")
        mb, _ = ModelRegistry(lakes["dirty"].root).load_champion("shop")
        rows = snapshots[0]
        pd.testing.assert_frame_equal(ma.predict(rows, HORIZON), mb.predict(rows, HORIZON))


def test_models_cli_list_and_show(trained_shop, capsys):
    lake = trained_shop.lake
    assert main(["--lake", str(lake.root), "models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["business_line"] == "shop" and listed[0]["champion_model"] == "bgnbd_gg"
    assert main(["--lake", str(lake.root), "models", "show", "shop", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["champion"]["lineage"]["delta_versions"]["transactions"] == lake.version("transactions")
    assert shown["champion"]["lineage"]["as_of"] == str(AS_OF)
    assert shown["champion"]["backtest"]["gini"] > 0


def test_golden_bgnbd_gg_and_pareto_through_the_spark_feature_path(spark):
    """CDNOW sample, weeks, 39-week calibration: published parameters via Spark RFM + condensed fit."""
    from ltv.datasets.cdnow import cdnow_sample_path, load_cdnow
    from ltv.features.pipeline import condense_patterns, condense_spend
    from ltv.features.rfm import rfm_summary
    from ltv.models.base import TrainingData
    from ltv.models.btyd import BGNBDGammaGamma, ParetoNBDGammaGamma

    frame = load_cdnow("sample")
    frame["event_ts"] = pd.to_datetime(frame["event_ts"]).dt.tz_localize(None)
    tx = spark.createDataFrame(frame[["business_line", "customer_id", "event_ts", "amount"]])
    # The papers' weekly summary is day-level RFM (same-day purchases merged) expressed in
    # weeks = days / 7 (t_x = 30.43, T = 38.86 ...), not pandas W-period counts.
    from pyspark.sql import functions as F

    rfm = rfm_summary(tx, dt.date(1997, 9, 30), "days")
    rfm = rfm.withColumn("recency", F.col("recency") / 7).withColumn("T", F.col("T") / 7)
    assert rfm.count() == 2357
    reference = pd.read_csv(Path(__import__("lifetimes").__file__).parent / "datasets" / "cdnow_customers_summary.csv")
    mine = rfm.select("customer_id", "frequency", "recency", "T").toPandas()
    ids = pd.read_csv(cdnow_sample_path(), sep=r"\s+", header=None, usecols=[0, 1], dtype=str).drop_duplicates()
    mine = mine.merge(ids.set_axis(["customer_id", "ID"], axis=1).astype({"ID": int}), on="customer_id")
    merged = reference.merge(mine, on="ID", suffixes=("_ref", ""))
    assert len(merged) == 2357
    assert (merged["frequency"] == merged["frequency_ref"]).all()
    assert (merged["recency"] - merged["recency_ref"]).abs().max() < 0.006  # reference rounded to 2 decimals
    assert (merged["T"] - merged["T_ref"]).abs().max() < 0.006
    data = TrainingData(time_unit="weeks", horizon_days=91, patterns=condense_patterns(rfm), spend_patterns=condense_spend(rfm))
    assert len(data.patterns) < 2357  # condensed
    bg = BGNBDGammaGamma().fit(data)
    published_bg = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for key, value in published_bg.items():
        assert bg.purchase_params_[key] == pytest.approx(value, rel=0.01), key
    published_gg = {"p": 6.25, "q": 3.74}
    for key, value in published_gg.items():
        assert bg.spend_params_[key] == pytest.approx(value, rel=0.01), key
    gamma = bg.spend_params_.get("v", bg.spend_params_.get("gamma"))
    assert gamma == pytest.approx(15.44, rel=0.01)
    pareto = ParetoNBDGammaGamma().fit(data)
    for key, value in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert pareto.purchase_params_[key] == pytest.approx(value, rel=0.01), key


def test_dry_run_defends_the_deployed_champion_spec_and_touches_no_registry(spark, trained_shop, capsys):
    """Today's config gives bgnbd_gg other hyperparameters than the registered champion's: the
    champion is back-tested with its own (as ``bgnbd_gg-v<version>``) beside today's bgnbd_gg; a dry
    run writes the report under dry-runs/ and logs and registers nothing."""
    from ltv.config import LTVConfig

    lake = trained_shop.lake
    registry = ModelRegistry(lake.root)
    champion = registry.champion("shop")
    runs_before = len(registry.runs("shop", max_results=100))
    # a penalizer ladder reaching further than the default 0.1: used only if an unpenalised fit fails (it does not)
    config = LTVConfig.model_validate({"defaults": {"hyperparameters": {"bgnbd_gg": {"max_penalizer": 0.5}}}})
    result = train_line(spark, lake, config, "shop", AS_OF, HORIZON, models=["bgnbd_gg"], dry_run=True)
    entry = f"bgnbd_gg-v{champion.version}"
    assert set(result.metrics) == {"baseline", "bgnbd_gg", entry}, result.metrics.keys()
    assert result.run_id is None and result.champion_version is None
    assert result.report is not None and "dry-runs" in result.report.parts
    assert len(registry.runs("shop", max_results=100)) == runs_before
    assert registry.champion("shop").version == champion.version
    # same data, same fits: the two specs differ only in a penalizer ladder neither needs
    assert result.metrics[entry]["rmse"] == pytest.approx(result.metrics["bgnbd_gg"]["rmse"], rel=1e-9)

    code = main(["--lake", str(lake.root), "-q", "train", "--as-of", str(AS_OF), "--horizon-days", str(HORIZON),
                 "--business-line", "shop", "--model", "bgnbd_gg", "--dry-run", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["run_id"] is None and out[0]["decision"]["evidence"]["comparisons"], out[0]["decision"]
    assert len(registry.runs("shop", max_results=100)) == runs_before


def test_models_promote_pins_a_version_by_hand_and_records_it(spark, tmp_path, trained_shop, capsys):
    import tempfile

    lake_root = tmp_path / "lake"
    registry = ModelRegistry(lake_root)
    model, _ = ModelRegistry(trained_shop.lake.root).load_champion("shop")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model")
        for day in ("2023-06-30", "2023-12-31"):
            run_id = registry.log_training("shop", {"as_of": day}, {}, {"action": "promote"}, {}, None, Path(tmp) / "model")
            registry.register_champion("shop", run_id, model.name, {"ltv.as_of": day})
    assert registry.champion("shop").version == "2"

    args = ["--lake", str(lake_root), "-q", "models", "promote", "shop"]
    assert main([*args, "1", "--reason", "roll back to the June model"]) == 0
    assert "champion is now bgnbd_gg version 1 (by hand: roll back to the June model)" in capsys.readouterr().out
    assert registry.champion("shop").version == "1"
    run = registry.runs("shop")[0]
    assert run.data.tags["ltv.action"] == "manual" and "roll back to the June model" in run.data.tags["ltv.reason"]
    assert main([*args, "7", "--reason", "x"]) == 1
    assert "no registered version 7; registered: ['1', '2']" in capsys.readouterr().err
    assert main([*args, "2"]) == 2 and "--reason" in capsys.readouterr().err
    assert registry.champion("shop").version == "1"
