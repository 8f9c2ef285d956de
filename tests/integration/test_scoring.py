"""Scoring on real Spark + Delta + MLflow: refusal without a champion, schema, idempotency, lineage."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from delta.tables import DeltaTable

from ltv.cli import main
from ltv.errors import LTVError
from ltv.lake.io import Lake
from ltv.lake.tables import CUSTOMER_LTV
from ltv.scoring.score import discount_factor, score_line
from ltv.training.registry import ModelRegistry
from tests.conftest import INTERPRETED
from tests.integration.conftest import AS_OF, HORIZON

CONTRACT_COLUMNS = {
    "business_line", "customer_id", "as_of", "horizon_days", "predicted_ltv", "predicted_ltv_p10",
    "predicted_ltv_p90", "predicted_purchases", "p_alive", "model_name", "model_version", "scored_at",
}


def test_score_refuses_unpromoted_then_scores_idempotently(spark, tmp_path, trained_shop, capsys):
    empty = Lake(spark, tmp_path / "lake")  # nothing trained here
    config = trained_shop.config
    with pytest.raises(LTVError, match="no promoted model.*ltv train"):
        score_line(spark, empty, config, "shop", AS_OF, HORIZON)
    assert main(["--lake", str(empty.root), "-q", "score", "--as-of", str(AS_OF), "--business-line", "shop"]) == 1
    assert "ltv train" in capsys.readouterr().err

    lake, features = trained_shop.lake, trained_shop.features
    champion = ModelRegistry(lake.root).champion("shop")  # other tests may have refitted it since
    assert champion is not None and champion.model_name == "bgnbd_gg"
    assert not lake.exists(CUSTOMER_LTV.name)  # only this test scores the shared lake

    first = score_line(spark, lake, config, "shop", AS_OF, HORIZON)
    second = score_line(spark, lake, config, "shop", AS_OF, HORIZON)
    assert first.rows == second.rows == features.rows["shop"]
    table = lake.read("customer_ltv")
    assert table.count() == features.rows["shop"]  # replaced, not appended
    assert table.select("customer_id").distinct().count() == table.count()
    assert CONTRACT_COLUMNS <= set(table.columns)
    assert table.where("predicted_ltv IS NULL OR predicted_ltv < 0").count() == 0
    assert table.where("predicted_ltv_p10 > predicted_ltv_p90").count() == 0
    row = table.first()
    assert row["model_name"] == "bgnbd_gg" and row["model_version"] == champion.version
    assert row["model_status"] == champion.tags["ltv.status"] == "provisional"  # scores say how their champion stands
    assert row["features_version"] == features.version and row["horizon_days"] == HORIZON
    assert 0.0 <= row["p_alive"] <= 1.0
    props = DeltaTable.forPath(spark, lake.path(CUSTOMER_LTV.name)).detail().first()["properties"]
    assert props.get("delta.enableChangeDataFeed") == "true"
    changes = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(
        lake.path(CUSTOMER_LTV.name)
    )
    assert changes.where("_change_type = 'insert'").count() == 2 * features.rows["shop"]

    # what aggregation needs: BTYD's own predictive variance, and the expected spend per period
    # (ceil(horizon / 30) equal periods along the purchase path: non-increasing, adding up to the forecast)
    scores = table.select("customer_id", "predicted_ltv", "predicted_ltv_variance", "predicted_ltv_by_period").toPandas()
    assert scores["predicted_ltv_variance"].notna().all() and (scores["predicted_ltv_variance"] > 0).all()
    assert 0 < trained_shop.trained.metrics["bgnbd_gg"]["variance_ratio"] < math.inf  # judged in the back-test
    periods = np.stack(scores["predicted_ltv_by_period"].to_numpy())
    assert periods.shape == (len(scores), math.ceil(HORIZON / 30))
    np.testing.assert_allclose(periods.sum(axis=1), scores["predicted_ltv"], rtol=1e-9)
    assert (np.diff(periods, axis=1) <= 1e-9 * periods.max()).all() and (periods[:, -1] < periods[:, 0]).any()

    out = tmp_path / "scores.csv"
    assert main(["--lake", str(lake.root), "-q", "export", "scores", "--as-of", str(AS_OF), "--out", str(out)]) == 0
    exported = pd.read_csv(out, dtype={"customer_id": str})
    assert len(exported) == features.rows["shop"] and "predicted_ltv" in exported.columns
    assert exported["predicted_ltv"].notna().all()
    by_customer = scores.set_index("customer_id")["predicted_ltv_by_period"]
    for row in exported.head(3).itertuples():  # CSV has no arrays: a JSON list
        np.testing.assert_allclose(json.loads(row.predicted_ltv_by_period), by_customer[row.customer_id], rtol=1e-12)


def test_scores_table_of_the_previous_release_is_migrated_on_write(spark, tmp_path):
    """A ``customer_ltv`` written before ``model_status`` (0.3), ``predicted_ltv_p50`` and ``prob_purchase``
    (0.4), ``predicted_ltv_variance``, ``predicted_ltv_by_period`` and ``discounted_profit`` (0.5) existed gains the columns on
    the next write: old rows read them as null, new rows carry them."""
    import datetime as dt

    from delta.tables import DeltaTable
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    lake = Lake(spark, tmp_path / "lake")
    added = ("model_status", "predicted_ltv_p50", "prob_purchase", "predicted_ltv_variance", "predicted_ltv_by_period",
             "discounted_profit")
    old_schema = StructType([f for f in CUSTOMER_LTV.schema.fields if f.name not in added])
    (DeltaTable.createIfNotExists(spark).location(lake.path(CUSTOMER_LTV.name)).addColumns(old_schema)
     .partitionedBy(*CUSTOMER_LTV.partition_by).property("delta.enableChangeDataFeed", "true").execute())

    def rows(day: dt.date, status: str | None):
        values = {"business_line": "shop", "customer_id": "c1", "as_of": day, "horizon_days": 90, "predicted_ltv": 10.0,
                  "model_name": "bgnbd_gg", "model_version": "1", "scored_at": dt.datetime(2025, 1, 1),
                  "entity_key": "shop|c1", "event_timestamp": dt.datetime(2025, 1, 1)}
        frame = spark.createDataFrame([values])
        if status is not None:
            frame = frame.withColumns({"model_status": F.lit(status), "predicted_ltv_p50": F.lit(7.5),
                                       "prob_purchase": F.lit(0.6), "predicted_ltv_variance": F.lit(90.0),
                                       "predicted_ltv_by_period": F.array(F.lit(6.0), F.lit(4.0)),
                                       "discounted_profit": F.lit(2.5)})
        return frame.select(*[F.col(f.name).cast(f.dataType) if f.name in frame.columns else F.lit(None).cast(f.dataType).alias(f.name)
                              for f in (CUSTOMER_LTV.schema.fields if status else old_schema.fields)])

    old_day, new_day = dt.date(2024, 6, 30), dt.date(2024, 12, 31)
    rows(old_day, None).write.format("delta").mode("append").save(lake.path(CUSTOMER_LTV.name))  # the old release's row
    assert not set(added) & set(lake.read(CUSTOMER_LTV.name).columns)
    lake.replace_where(CUSTOMER_LTV.name, rows(new_day, "confirmed"), f"as_of = DATE'{new_day}'")
    got = {r["as_of"]: tuple(r[c] for c in added) for r in lake.read(CUSTOMER_LTV.name).collect()}
    assert got == {old_day: (None,) * 6, new_day: ("confirmed", 7.5, 0.6, 90.0, [6.0, 4.0], 2.5)}


def test_discount_factor():
    assert discount_factor(0.0, 365) == 1.0
    assert discount_factor(0.10, 365) == pytest.approx(0.1 / 1.1 / __import__("math").log(1.1), rel=1e-12)
    assert discount_factor(0.10, 730) < discount_factor(0.10, 365) < 1.0
    with pytest.raises(ValueError, match="discount rate"):  # never silently treated as 0
        discount_factor(-0.05, 365)


CONCURRENT_CHILD = f"""
import datetime as dt, json, sys, time
from pathlib import Path
from ltv.config import LTVConfig, SparkSettings
from ltv.lake.io import Lake
from ltv.scoring.score import score_line
from ltv.runtime.session import get_spark

lake_dir, line, as_of, horizon, barrier, rounds = sys.argv[1:7]
INTERPRETED = {INTERPRETED!r}  # as the session's (tests/conftest.py): this child tests concurrency, not codegen
spark = get_spark(SparkSettings(master="local[1]", shuffle_partitions=1, driver_memory="1g"), extra_conf=INTERPRETED)
lake = Lake(spark, lake_dir)
Path(barrier, line).touch()
deadline = time.time() + 300
while len(list(Path(barrier).iterdir())) < 2 and time.time() < deadline:  # both JVMs up: write together
    time.sleep(0.05)
versions = []
for _ in range(int(rounds)):
    result = score_line(spark, lake, LTVConfig(), line, dt.date.fromisoformat(as_of), int(horizon))
    versions.append([result.table_version, result.rows])
print(json.dumps(versions))
spark.stop()
"""


def test_two_processes_score_two_lines_into_one_table(spark, tmp_path, trained_shop):
    """Two separate processes replace their own (line, as_of) partitions of one customer_ltv at once."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from pyspark.sql import functions as F

    from ltv.features.pipeline import condense_patterns, condense_spend
    from ltv.features.schema import TABLE_NAME as FEATURES_TABLE
    from ltv.models.base import TrainingData
    from ltv.models.registry import create_model
    from ltv.training.registry import ModelRegistry

    lake = Lake(spark, tmp_path / "lake")  # holds only the two lines' features and champions below
    shop = trained_shop.lake.read(FEATURES_TABLE).where(f"business_line = 'shop' AND as_of = DATE'{AS_OF}'")
    n_customers = shop.count()
    model = create_model("bgnbd_gg").fit(TrainingData(
        time_unit="days", horizon_days=HORIZON, patterns=condense_patterns(shop), spend_patterns=condense_spend(shop)
    ))
    registry = ModelRegistry(lake.root)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        model.save(model_dir)
        for line in ("a", "b"):  # same customers and model under two line names; a champion for each
            copy = shop.withColumn("business_line", F.lit(line)).withColumn(
                "entity_key", F.concat_ws(":", F.lit(line), F.col("customer_id")))
            lake.replace_where(FEATURES_TABLE, copy, f"business_line = '{line}' AND as_of = DATE'{AS_OF}'")
            run_id = registry.log_training(line, {"as_of": str(AS_OF)}, {}, {"action": "promote", "promote": True},
                                           {}, None, model_dir)
            registry.register_champion(line, run_id, "bgnbd_gg", {"ltv.as_of": str(AS_OF)})
    assert not lake.exists("customer_ltv")  # both processes race to create it, too

    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_CHILD, str(lake.root), line, str(AS_OF), str(HORIZON),
                          str(barrier), "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for line in ("a", "b")
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-4000:]
    written = {line: json.loads(out.strip().splitlines()[-1]) for line, (out, _) in zip(("a", "b"), outputs)}
    assert all(rows == n_customers for line in written for _, rows in written[line]), written

    table = lake.read("customer_ltv").where(f"as_of = DATE'{AS_OF}'")
    counts = {r["business_line"]: r["count"] for r in table.groupBy("business_line").count().collect()}
    assert counts == {"a": n_customers, "b": n_customers}  # both partitions, each replaced (not appended) 3 times
    assert table.select("business_line", "customer_id").distinct().count() == 2 * n_customers
    history = DeltaTable.forPath(spark, lake.path("customer_ltv")).history().select(
        "version", "operation", "readVersion").collect()
    writes = [h for h in history if h["operation"] == "WRITE"]
    assert len(writes) == 6
    # the writers really overlapped: some commit was made on a snapshot older than the previous commit
    # (Delta checked it against the other line's commit and found the partitions disjoint)
    assert any(h["readVersion"] is not None and h["readVersion"] < h["version"] - 1 for h in writes), history


def _lake_with_champion(spark, root, trained_shop, line, model, trained_as_of):
    """A lake holding the shop's AS_OF snapshot under ``line`` and ``model`` registered as its
    champion, trained as of ``trained_as_of``."""
    import tempfile
    from pathlib import Path

    from pyspark.sql import functions as F

    from ltv.features.schema import TABLE_NAME as FEATURES_TABLE

    lake = Lake(spark, root)
    shop = trained_shop.lake.read(FEATURES_TABLE).where(f"business_line = 'shop' AND as_of = DATE'{AS_OF}'")
    copy = shop.withColumn("business_line", F.lit(line)).withColumn(
        "entity_key", F.concat_ws(":", F.lit(line), F.col("customer_id")))
    lake.replace_where(FEATURES_TABLE, copy, f"business_line = '{line}' AND as_of = DATE'{AS_OF}'")
    registry = ModelRegistry(lake.root)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model")
        run_id = registry.log_training(line, {"as_of": str(trained_as_of)}, {}, {"action": "promote", "promote": True},
                                       {}, None, Path(tmp) / "model")
        registry.register_champion(line, run_id, model.name, {"ltv.as_of": str(trained_as_of)})
    return lake


def test_a_model_with_nan_output_fails_scoring_and_writes_nothing(spark, tmp_path, trained_shop, capsys):
    """A deliberately broken champion (its Gamma-Gamma parameters NaN, so every spend forecast is
    NaN): `ltv score` exits 1 naming the line, model and count, and customer_ltv gets no commit."""
    import copy
    import math

    model, _ = ModelRegistry(trained_shop.lake.root).load_champion("shop")
    broken = copy.deepcopy(model)
    broken.spend_fit_ = {**broken.spend_fit_, "params": dict.fromkeys(broken.spend_fit_["params"], math.nan)}
    lake = _lake_with_champion(spark, tmp_path / "lake", trained_shop, "broken", broken, AS_OF)
    lake.ensure(CUSTOMER_LTV.name)
    before = lake.version(CUSTOMER_LTV.name)

    code = main(["--lake", str(lake.root), "-q", "score", "--as-of", str(AS_OF), "--business-line", "broken"])
    err = capsys.readouterr().err
    assert code == 1, err
    n = trained_shop.features.rows["shop"]
    assert f"broken {AS_OF}: {model.name} v1: model {model.name} broke the prediction contract" in err, err
    assert f"predicted_ltv is NaN or inf in {n} of {n} rows" in err, err  # one Arrow batch: every customer
    assert "nothing was written to customer_ltv" in err and "Downloading" not in err, err
    assert lake.version(CUSTOMER_LTV.name) == before and lake.read(CUSTOMER_LTV.name).count() == 0


def test_score_uses_the_model_trained_as_of_the_date_or_earlier_never_a_later_one(spark, tmp_path, trained_shop, capsys):
    import datetime as dt

    model, _ = ModelRegistry(trained_shop.lake.root).load_champion("shop")
    later = AS_OF + dt.timedelta(days=30)
    lake = _lake_with_champion(spark, tmp_path / "lake", trained_shop, "late", model, later)

    code = main(["--lake", str(lake.root), "-q", "score", "--as-of", str(AS_OF), "--business-line", "late"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert f"no model trained as of {AS_OF} or earlier (the champion was trained as of {later})" in err, err
    assert not lake.exists(CUSTOMER_LTV.name)

    # a second version trained as of AS_OF becomes champion, then a third trained later: scoring AS_OF picks
    # the second (newest not after the date), scoring the later date the champion
    registry = ModelRegistry(lake.root)
    for trained in (AS_OF - dt.timedelta(days=60), AS_OF, later):
        run_id = registry.log_training("late", {"as_of": str(trained)}, {}, {"action": "promote"}, {}, None, None)
        registry.client.create_model_version(
            "ltv-late", source=registry.champion("late").source, run_id=run_id,
            tags={"ltv.model_name": model.name, "ltv.as_of": str(trained)})
    versions = {v.tags["ltv.as_of"]: v.version for v in registry.versions("late")}
    assert registry.champion_for("late", AS_OF).version == versions[str(AS_OF)] == "3"
    assert registry.champion_for("late", AS_OF - dt.timedelta(days=1)).version == "2"
    assert registry.champion_for("late", later).version == registry.champion("late").version == "1"
    assert registry.champion_for("late", AS_OF - dt.timedelta(days=61)) is None
    scored = score_line(spark, lake, trained_shop.config, "late", AS_OF, HORIZON)
    assert scored.model_version == "3" and scored.rows == trained_shop.features.rows["shop"]


def test_rescoring_with_other_batches_and_partitions_gives_identical_distributions(spark, trained_shop):
    """The champion (bgnbd_gg: exact predictive distributions, no random draws) scored in one Arrow
    batch per partition and in batches of 37 rows over 5 partitions: every column, p10/p50/p90 and
    prob_purchase included, equal to 1e-9 for every customer."""
    from pyspark.sql import functions as F

    from ltv.features.schema import TABLE_NAME as FEATURES_TABLE
    from ltv.models.base import PREDICTION_COLUMNS
    from ltv.scoring.predict import predict_spark

    model, _ = ModelRegistry(trained_shop.lake.root).load_champion("shop")
    features = trained_shop.lake.read(FEATURES_TABLE).where(
        (F.col("business_line") == "shop") & (F.col("as_of") == F.lit(AS_OF)))
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"

    def scores(batch: int, partitions: int) -> pd.DataFrame:
        spark.conf.set(key, str(batch))
        try:
            frame = predict_spark(model, features.repartition(partitions), HORIZON, keep=("customer_id",)).toPandas()
        finally:
            spark.conf.unset(key)
        return frame.sort_values("customer_id").reset_index(drop=True)

    whole, pieces = scores(100_000, 1), scores(37, 5)
    assert len(whole) == trained_shop.features.rows["shop"] and whole["predicted_ltv_p50"].notna().all()
    pd.testing.assert_frame_equal(whole[["customer_id", *PREDICTION_COLUMNS]], pieces[["customer_id", *PREDICTION_COLUMNS]],
                                  check_exact=False, rtol=1e-9, atol=1e-12)


def test_discounted_ltv_follows_each_customers_expected_purchase_path(spark, trained_shop):
    """With a discount rate, each customer's discounted_ltv is predicted_ltv times the present value
    of its own expected spend path (the champion's spend_shares), computed on the executors; without
    one, discounted_ltv = predicted_ltv."""
    from pyspark.sql import functions as F

    from ltv.config import LTVConfig
    from ltv.features.schema import TABLE_NAME as FEATURES_TABLE
    from ltv.models.timing import discount_factors, period_edges

    lake = trained_shop.lake
    rate = 0.15
    config = LTVConfig.model_validate({"defaults": {"discount_rate": rate, "margin_rate": 0.3}})
    scored = score_line(spark, lake, config, "shop", AS_OF, HORIZON)
    rows = (lake.read(CUSTOMER_LTV.name).where((F.col("business_line") == "shop") & (F.col("as_of") == F.lit(AS_OF)))
            .toPandas().sort_values("customer_id").reset_index(drop=True))
    assert len(rows) == scored.rows > 0
    model, _ = ModelRegistry(lake.root).load_champion("shop")
    features = (lake.read(FEATURES_TABLE).where((F.col("business_line") == "shop") & (F.col("as_of") == F.lit(AS_OF)))
                .toPandas().sort_values("customer_id").reset_index(drop=True))
    assert (features["customer_id"] == rows["customer_id"]).all()
    edges = period_edges(HORIZON)
    expected = rows["predicted_ltv"].to_numpy() * discount_factors(model.spend_shares(features, HORIZON, edges), edges, rate)
    np.testing.assert_allclose(rows["discounted_ltv"].to_numpy(), expected, rtol=1e-12, atol=1e-12)
    ratio = (rows["discounted_ltv"] / rows["predicted_ltv"])[rows["predicted_ltv"] > 0]
    assert ratio.between(discount_factor(rate, HORIZON) - 1e-12, 1.0).all() and ratio.max() - ratio.min() > 1e-4
    # the line's margin states the discounted LTV as profit; the revenue columns keep their meaning
    np.testing.assert_allclose(rows["discounted_profit"].to_numpy(), 0.3 * expected, rtol=1e-12, atol=1e-12)

    score_line(spark, lake, trained_shop.config, "shop", AS_OF, HORIZON)  # back to the module's scores: no discount
    undiscounted = lake.read(CUSTOMER_LTV.name).where((F.col("business_line") == "shop") & (F.col("as_of") == F.lit(AS_OF)))
    assert undiscounted.where(F.col("discounted_ltv") != F.col("predicted_ltv")).count() == 0
    assert undiscounted.where(F.col("discounted_profit").isNotNull()).count() == 0  # no margin_rate: no profit
