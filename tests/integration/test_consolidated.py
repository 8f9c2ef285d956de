"""The consolidated model (one model across business lines) on real Spark + Delta + MLflow, two tiny lines."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from ltv.config import LTVConfig
from ltv.errors import ConfigError
from ltv.ingest.pipeline import ingest_transactions
from ltv.lake.io import Lake
from ltv.models.boosted import HybridLTV
from ltv.scoring.score import score_line
from ltv.training.registry import ModelRegistry
from ltv.training.train import train

from tests.integration.conftest import AS_OF, HORIZON

LINES = ["north", "south"]
NAME = "all_lines:hybrid"
FAST = {"n_estimators": 30, "interval_n_estimators": 30, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def two_lines_csv(tmp_path_factory) -> Path:
    from ltv.datasets.simulate import simulate

    result = simulate(
        customers=150, business_lines=LINES, seed=5,
        start=dt.date(2022, 1, 1), end=dt.date(2024, 6, 30), truth_as_of=AS_OF, truth_horizon_days=HORIZON,
    )
    return result.write(tmp_path_factory.mktemp("sim2"))["transactions"]


def _config(**consolidated) -> LTVConfig:
    return LTVConfig.model_validate({
        "consolidated": {"enabled": True, "candidates": ["hybrid"], "hyperparameters": {"hybrid": FAST}, **consolidated},
        # generous guard rails and the Gini as primary metric: this test is about the plumbing (on 150
        # customers a 30-tree model does not beat the baseline's RMSE); the gate's paths have their own tests
        "defaults": {"training_cutoffs": 1, "backtest_windows": 1,
                     "gate": {"max_abs_bias": 1.0, "max_rmse_ratio": 3.0, "primary_metric": "gini"}},
    })


def test_consolidated_model_is_fitted_once_backtested_per_line_promoted_and_scored(spark, tmp_path, two_lines_csv, monkeypatch):
    lake = Lake(spark, tmp_path / "lake")
    ingest_transactions(spark, lake, two_lines_csv, ingested_at=dt.datetime(2025, 1, 1))
    fits: list[tuple[str, tuple[str, ...]]] = []
    original_fit = HybridLTV.fit

    def counting_fit(self, data):  # a spy: records the call and runs the real fit
        if self.group_column:
            fits.append((data.extra["fit_cutoff"], tuple(sorted(data.examples["business_line"].unique()))))
        return original_fit(self, data)

    monkeypatch.setattr(HybridLTV, "fit", counting_fit)
    results = train(spark, lake, _config(), AS_OF, HORIZON, models=["baseline", NAME])

    backtest_cutoff = (AS_OF - dt.timedelta(days=HORIZON)).isoformat()
    assert [f for f in fits if f[0] == backtest_cutoff] == [(backtest_cutoff, tuple(LINES))]  # once, on both lines
    assert all(cutoff <= AS_OF.isoformat() for cutoff, _ in fits)
    assert {r.line for r in results} == set(LINES)
    for result in results:
        assert NAME in result.metrics and "baseline" in result.metrics, result.errors
        assert NAME in result.lineage["candidates"]
    # one model, two windows: each line's metrics are its own
    assert results[0].metrics[NAME]["n"] != results[1].metrics[NAME]["n"] or \
        results[0].metrics[NAME]["rmse"] != results[1].metrics[NAME]["rmse"]

    won = [r for r in results if r.decision.promote and r.decision.winner == NAME]
    assert won, {r.line: (r.decision.reason, r.metrics) for r in results}
    assert len([f for f in fits if f[0] == AS_OF.isoformat()]) == 1  # refit once for every line it won
    registry = ModelRegistry(lake.root)
    for result in won:
        model, info = registry.load_champion(result.line)
        assert info.model_name == NAME
        assert isinstance(model, HybridLTV) and model.group_column == "business_line"
        assert model.categories_["business_line"] == LINES and sorted(model.btyd_by_group_) == LINES
        assert result.lineage["consolidated"]["trained_on_lines"] == LINES
        assert result.lineage["consolidated"]["fit_cutoff"] == AS_OF.isoformat()
        # no predictive variance of its own: a Tweedie dispersion fitted on this line's back-test
        assert result.lineage["spend_dispersion"]["n"] == result.metrics[NAME]["n"]
        assert model.spend_dispersion_.phi == result.lineage["spend_dispersion"]["phi"] > 0
        assert math.isnan(result.metrics[NAME]["variance_ratio"])  # one window: not judged on its own fit

    result = won[0]  # scoring one line is enough (and keeps the test short)
    scored = score_line(spark, lake, _config(), result.line, AS_OF, HORIZON)
    assert scored.model_name == NAME and scored.rows > 0
    rows = lake.read("customer_ltv").where(F.col("business_line") == result.line).toPandas()
    assert len(rows) == scored.rows and set(rows["model_name"]) == {NAME}
    values = rows[["predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p90", "predicted_purchases", "p_alive",
                   "predicted_ltv_variance"]]
    assert np.isfinite(values.to_numpy(float)).all() and (rows["predicted_purchases"] >= 0).all()
    assert (rows["predicted_ltv_p10"] <= rows["predicted_ltv_p90"]).all()  # net spend: a p10 may be below 0
    assert rows["predicted_ltv"].sum() > 0 and rows["p_alive"].between(0, 1).all()


def test_consolidated_config_is_checked():
    assert not LTVConfig().consolidated.enabled  # off by default
    with pytest.raises(Exception, match="extra"):
        LTVConfig.model_validate({"consolidated": {"enabled": True, "candidate": ["hybrid"]}})
    from ltv.training.consolidated import check_candidates

    with pytest.raises(ConfigError, match="cannot be trained across lines"):
        check_candidates(["bgnbd_gg"])
    assert math.isfinite(LTVConfig().defaults.distributed_min_rows)
