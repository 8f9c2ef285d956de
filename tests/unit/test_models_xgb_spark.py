"""The distributed (``xgboost.spark``) training path of ``xgboost`` / ``hybrid`` on tiny data, local[2].

Forced with ``TrainingData.example_frame`` (what :func:`ltv.training.data.training_data` sets
above ``distributed_min_rows``); compared with the local path on the same examples.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltv.evaluation.metrics import normalized_gini
from ltv.models.boosted import BOOSTER_FILES
from ltv.models.registry import create_model, load_model
from tests.unit.test_models_xgb import FEATURES, HORIZON_DAYS, customers, training_data

FAST = {"n_estimators": 40, "interval_n_estimators": 30, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def examples() -> pd.DataFrame:
    return pd.concat([customers(n=500, seed=3, cutoff="2024-01-01"), customers(n=500, seed=4, cutoff="2024-04-01")],
                     ignore_index=True)


@pytest.fixture(scope="module")
def snapshot() -> pd.DataFrame:
    return customers(n=500, seed=5)


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return customers(n=1000, seed=11)


def _spark_frame(spark, frame: pd.DataFrame):
    plain = frame.astype({"attr_channel": object})
    return spark.createDataFrame(plain).repartition(2)


@pytest.mark.parametrize("name", ["hybrid"])  # xgboost's path is a subset (no BTYD, margins or level factors)
def test_distributed_training_matches_the_local_path(spark, name, examples, snapshot, fresh, tmp_path: Path) -> None:
    local = create_model(name, **FAST).fit(training_data(examples, snapshot))
    data = training_data(examples, snapshot)
    data.examples = None  # the distributed path must not need the driver-side examples
    data.example_frame = _spark_frame(spark, examples)
    data.spark_workers = 2
    distributed = create_model(name, **FAST).fit(data)
    assert distributed.trained_distributed_ and not getattr(local, "trained_distributed_", False)
    assert distributed.categories_ == local.categories_ == {"attr_channel": ["phone", "store", "web"]}
    assert distributed.boosters_["spend"].feature_names == local.boosters_["spend"].feature_names

    actual = fresh["label_spend"].to_numpy()  # net spend: what every model forecasts
    p_local = local.predict(fresh[FEATURES], HORIZON_DAYS)
    p_dist = distributed.predict(fresh[FEATURES], HORIZON_DAYS)
    numeric = p_dist.drop(columns=["p_alive", "predicted_ltv_variance"]).to_numpy(float)
    assert np.isfinite(numeric).all() and (p_dist["predicted_purchases"] >= 0).all()
    assert distributed.interval_floor_ == local.interval_floor_ == min(0.0, examples["label_spend"].min())
    assert (p_dist["predicted_ltv_p10"] >= distributed.interval_floor_).all()  # net spend: refunds may outweigh
    assert (p_dist["predicted_ltv_p10"] <= p_dist["predicted_ltv_p90"]).all()
    assert (p_dist["predicted_ltv_p90"] > p_dist["predicted_ltv_p10"]).mean() > 0.5  # the quantile booster learned a spread
    gini_local = normalized_gini(actual, p_local["predicted_ltv"].to_numpy())
    gini_dist = normalized_gini(actual, p_dist["predicted_ltv"].to_numpy())
    assert gini_dist > 0.5 and abs(gini_dist - gini_local) < 0.05, (gini_local, gini_dist)
    rmse_local = float(np.sqrt(np.mean((p_local["predicted_ltv"].to_numpy() - actual) ** 2)))
    rmse_dist = float(np.sqrt(np.mean((p_dist["predicted_ltv"].to_numpy() - actual) ** 2)))
    assert rmse_dist < rmse_local * 1.1, (rmse_local, rmse_dist)
    level = p_dist["predicted_ltv"].sum() / p_local["predicted_ltv"].sum()
    assert 0.85 < level < 1.15, level
    if name == "hybrid":  # level anchored to the same BTYD totals (per-cutoff BTYDs condensed by Spark)
        assert distributed.level_factors_["spend"] == pytest.approx(local.level_factors_["spend"], rel=0.15)

    distributed.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.json", *BOOSTER_FILES.values()])
    for path in tmp_path.iterdir():
        json.loads(path.read_text())
    loaded = load_model(tmp_path)
    assert loaded.trained_distributed_
    pd.testing.assert_frame_equal(loaded.predict(fresh[FEATURES], HORIZON_DAYS), p_dist)


def test_examples_above_the_threshold_stay_in_spark(spark, examples) -> None:
    from ltv.models.base import TrainingData
    from ltv.training.data import attach_examples

    frame = _spark_frame(spark, examples)
    small = TrainingData()
    attach_examples(small, frame, FEATURES, distributed_min_rows=len(examples), spark_workers=None, seed=0, what="t")
    assert small.example_frame is None and len(small.examples) == len(examples)
    assert small.examples["as_of"].is_monotonic_increasing  # a fixed order, whatever Spark's partitioning
    large = TrainingData()
    attach_examples(large, frame, FEATURES, distributed_min_rows=len(examples) - 1, spark_workers=2, seed=0, what="t")
    assert large.example_frame is frame and large.spark_workers == 2
    assert large.extra["n_examples"] == len(examples) and len(large.examples) == len(examples)  # sample: all of a tiny set
