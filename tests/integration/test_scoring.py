"""Scoring on real Spark + Delta + MLflow: refusal without a champion, schema, idempotency, lineage."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from delta.tables import DeltaTable

from ltv.cli import main
from ltv.config import LTVConfig
from ltv.errors import LTVError
from ltv.features.pipeline import build_features
from ltv.ingest.pipeline import ingest_transactions
from ltv.lake.io import Lake
from ltv.lake.tables import CUSTOMER_LTV
from ltv.scoring.score import discount_factor, score_line
from ltv.training.train import train_line
from tests.integration.conftest import AS_OF, HORIZON

CONTRACT_COLUMNS = {
    "business_line", "customer_id", "as_of", "horizon_days", "predicted_ltv", "predicted_ltv_p10",
    "predicted_ltv_p90", "predicted_purchases", "p_alive", "model_name", "model_version", "scored_at",
}


def test_score_refuses_unpromoted_then_scores_idempotently(spark, tmp_path, sim_csv, capsys):
    lake = Lake(spark, tmp_path / "lake")
    ingest_transactions(spark, lake, sim_csv, ingested_at=dt.datetime(2025, 1, 1))
    config = LTVConfig()
    with pytest.raises(LTVError, match="no promoted model.*ltv train"):
        score_line(spark, lake, config, "shop", AS_OF, HORIZON)
    assert main(["--lake", str(lake.root), "-q", "score", "--as-of", str(AS_OF), "--business-line", "shop"]) == 1
    assert "ltv train" in capsys.readouterr().err

    features = build_features(spark, lake, config, AS_OF, ["shop"])
    trained = train_line(spark, lake, config, "shop", AS_OF, HORIZON, models=["bgnbd_gg"])
    assert trained.champion_version is not None, trained.decision.reason

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
    assert row["model_name"] == "bgnbd_gg" and row["model_version"] == trained.champion_version
    assert row["features_version"] == features.version and row["horizon_days"] == HORIZON
    assert 0.0 <= row["p_alive"] <= 1.0
    props = DeltaTable.forPath(spark, lake.path(CUSTOMER_LTV.name)).detail().first()["properties"]
    assert props.get("delta.enableChangeDataFeed") == "true"
    changes = spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 0).load(
        lake.path(CUSTOMER_LTV.name)
    )
    assert changes.where("_change_type = 'insert'").count() == 2 * features.rows["shop"]

    out = tmp_path / "scores.csv"
    assert main(["--lake", str(lake.root), "-q", "export", "scores", "--as-of", str(AS_OF), "--out", str(out)]) == 0
    exported = pd.read_csv(out)
    assert len(exported) == features.rows["shop"] and "predicted_ltv" in exported.columns
    assert exported["predicted_ltv"].notna().all()


def test_discount_factor():
    assert discount_factor(0.0, 365) == 1.0
    assert discount_factor(0.10, 365) == pytest.approx(0.1 / 1.1 / __import__("math").log(1.1), rel=1e-12)
    assert discount_factor(0.10, 730) < discount_factor(0.10, 365) < 1.0
