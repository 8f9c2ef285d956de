"""``xgboost`` and ``hybrid`` models on hand-built pandas data (no Spark)."""
from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltv.evaluation.metrics import normalized_gini
from ltv.models.base import TrainingData
from ltv.models.boosted import BOOSTER_FILES, BTYD_FEATURES, HybridLTV, XGBoostLTV
from ltv.models.registry import load_model

HORIZON_DAYS = 90
FAST = {"n_estimators": 60, "interval_n_estimators": 40, "learning_rate": 0.1}


def customers(n: int = 1500, seed: int = 3, cutoff: str = "2024-01-01") -> pd.DataFrame:
    """Customers whose horizon spend rises with ``spend_365d`` (Tweedie-like: many zeros) and a channel effect."""
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 400, n).astype(float)
    frequency = rng.poisson(age / 60.0).astype(float)
    recency = np.where(frequency > 0, rng.uniform(0.3, 1.0, n) * age, 0.0)
    monetary = np.where(frequency > 0, rng.gamma(3.0, 15.0, n), 0.0)
    spend_365d = frequency * monetary * np.minimum(365.0, age) / age
    channel = rng.choice(["web", "store", "phone"], n)
    rate = (0.05 + frequency / age * 40.0) * np.where(channel == "web", 1.5, 1.0)
    purchases = rng.poisson(rate * (recency / age + 0.2))
    spend = np.array([rng.gamma(3.0, m / 3.0 if m > 0 else 10.0, k).sum() for k, m in zip(purchases, monetary)])
    return pd.DataFrame(
        {
            "as_of": cutoff,
            "frequency": frequency,
            "recency": recency,
            "T": age,
            "monetary_value": monetary,
            "tenure_days": age,
            "spend_365d": spend_365d,
            "attr_channel": pd.array(channel, dtype="string"),
            "label_spend": spend - (rng.random(n) < 0.02) * 5.0,  # a few net refunds
            "label_purchases": purchases,
        }
    )


FEATURES = ["frequency", "recency", "T", "monetary_value", "tenure_days", "spend_365d", "attr_channel"]


def training_data(examples: pd.DataFrame, snapshot: pd.DataFrame | None = None) -> TrainingData:
    snapshot = examples if snapshot is None else snapshot
    patterns = snapshot.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    buyers = snapshot[(snapshot["frequency"] > 0) & (snapshot["monetary_value"] > 0)]
    spend_patterns = buyers.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    return TrainingData(
        time_unit="days", horizon_days=HORIZON_DAYS, patterns=patterns, spend_patterns=spend_patterns,
        examples=examples, feature_columns=list(FEATURES),
    )


@pytest.fixture(scope="module")
def data() -> TrainingData:
    examples = pd.concat([customers(seed=3, cutoff="2024-01-01"), customers(seed=4, cutoff="2024-04-01")], ignore_index=True)
    return training_data(examples, snapshot=customers(seed=5))


@pytest.fixture(scope="module")
def fresh() -> pd.DataFrame:
    return customers(seed=11)


@pytest.fixture(scope="module")
def xgb_model(data: TrainingData) -> XGBoostLTV:
    return XGBoostLTV(**FAST).fit(data)


@pytest.fixture(scope="module")
def hybrid_model(data: TrainingData) -> HybridLTV:
    return HybridLTV(**FAST).fit(data)


def test_tweedie_learns_monotone_signal(xgb_model: XGBoostLTV, fresh: pd.DataFrame) -> None:
    predictions = xgb_model.predict(fresh[FEATURES], HORIZON_DAYS)
    assert normalized_gini(fresh["label_spend"].clip(lower=0), predictions["predicted_ltv"]) > 0.5
    assert xgb_model.boosters_["spend"].save_config().count("reg:tweedie") > 0
    assert predictions["p_alive"].isna().all()
    level = predictions["predicted_ltv"].sum() / fresh["label_spend"].clip(lower=0).sum()
    assert 0.7 < level < 1.3


def test_squared_error_objective_is_available(data: TrainingData, fresh: pd.DataFrame) -> None:
    model = XGBoostLTV(objective="squared_error", **FAST).fit(data)
    assert "reg:squarederror" in model.boosters_["spend"].save_config()
    predicted = model.predict(fresh[FEATURES], HORIZON_DAYS)["predicted_ltv"]
    # a net-spend regression may forecast below 0: published as is, never clipped to 0
    assert np.isfinite(predicted).all() and (predicted < 0).any()
    with pytest.raises(ValueError, match="objective"):
        XGBoostLTV(objective="mse").fit(data)


def test_unseen_and_null_categories_follow_the_missing_branch(xgb_model: XGBoostLTV, fresh: pd.DataFrame) -> None:
    assert xgb_model.categories_ == {"attr_channel": ["phone", "store", "web"]}
    rows = fresh[FEATURES].head(3).copy()
    unseen, null = rows.copy(), rows.copy()
    unseen["attr_channel"] = pd.array(["kiosk"] * 3, dtype="string")
    null["attr_channel"] = pd.array([None] * 3, dtype="string")
    as_object = rows.assign(attr_channel=rows["attr_channel"].astype(object))  # dtype may differ at predict
    pd.testing.assert_frame_equal(xgb_model.predict(unseen, HORIZON_DAYS), xgb_model.predict(null, HORIZON_DAYS))
    pd.testing.assert_frame_equal(xgb_model.predict(as_object, HORIZON_DAYS), xgb_model.predict(rows, HORIZON_DAYS))
    assert np.isfinite(xgb_model.predict(unseen, HORIZON_DAYS).drop(columns=["p_alive", "predicted_ltv_variance"]).to_numpy(float)).all()


@pytest.mark.parametrize("fixture", ["xgb_model", "hybrid_model"])
def test_save_load_round_trip(fixture: str, request: pytest.FixtureRequest, fresh: pd.DataFrame, tmp_path: Path) -> None:
    model = request.getfixturevalue(fixture)
    model.save(tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(["model.json", *BOOSTER_FILES.values()])
    for name in files:
        json.loads((tmp_path / name).read_text())  # XGBoost's own JSON parses as JSON
    state = json.loads((tmp_path / "model.json").read_text())["state"]
    assert state["categories"] == {"attr_channel": ["phone", "store", "web"]}
    assert state["horizon_days"] == HORIZON_DAYS
    loaded = load_model(tmp_path)
    pd.testing.assert_frame_equal(loaded.predict(fresh[FEATURES], HORIZON_DAYS), model.predict(fresh[FEATURES], HORIZON_DAYS))


def test_training_is_deterministic(data: TrainingData, xgb_model: XGBoostLTV, fresh: pd.DataFrame) -> None:
    again = XGBoostLTV(**FAST).fit(data)
    pd.testing.assert_frame_equal(again.predict(fresh[FEATURES], HORIZON_DAYS), xgb_model.predict(fresh[FEATURES], HORIZON_DAYS))


@pytest.mark.parametrize("fixture", ["xgb_model", "hybrid_model"])
def test_intervals_are_ordered(fixture: str, request: pytest.FixtureRequest, fresh: pd.DataFrame) -> None:
    predictions = request.getfixturevalue(fixture).predict(fresh[FEATURES], HORIZON_DAYS)
    assert (predictions["predicted_ltv_p10"] <= predictions["predicted_ltv_p90"]).all()
    assert (predictions["predicted_ltv_p90"] > 0).any()
    assert (predictions["predicted_purchases"] > 0).all()


def test_other_horizon_scales_linearly_with_a_warning(
    xgb_model: XGBoostLTV, fresh: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    base = xgb_model.predict(fresh[FEATURES], HORIZON_DAYS)
    with caplog.at_level(logging.WARNING, logger="ltv.models.boosted.boosters"):
        doubled = xgb_model.predict(fresh[FEATURES], 2 * HORIZON_DAYS)
    assert any("linear scaling" in r.getMessage() for r in caplog.records)
    numeric = ["predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p90", "predicted_purchases"]
    np.testing.assert_allclose(doubled[numeric].to_numpy(float), 2 * base[numeric].to_numpy(float), rtol=1e-6)


def test_hybrid_uses_btyd_features(hybrid_model: HybridLTV, data: TrainingData, fresh: pd.DataFrame) -> None:
    importance = hybrid_model.feature_importance()
    assert set(BTYD_FEATURES) <= set(importance.index)
    assert importance[list(BTYD_FEATURES)].sum() > 0
    assert hybrid_model.predict(fresh[FEATURES], HORIZON_DAYS)["p_alive"].between(0, 1).all()
    # other BTYD parameters for the scored snapshot -> other predictions
    shifted = HybridLTV(**hybrid_model.get_params())
    shifted.__dict__.update({k: v for k, v in vars(hybrid_model).items() if k.endswith("_")})
    shifted.btyd_ = HybridLTV(**FAST)._new_btyd()
    shifted.btyd_._set_state(
        {**hybrid_model.btyd_._get_state(Path(".")),
         "purchase_fit": {**hybrid_model.btyd_.purchase_fit_,
                          "params": {**hybrid_model.btyd_.purchase_params_, "alpha": hybrid_model.btyd_.purchase_params_["alpha"] * 3}}},
        Path("."),
    )
    before = hybrid_model.predict(fresh[FEATURES], HORIZON_DAYS)["predicted_ltv"]
    after = shifted.predict(fresh[FEATURES], HORIZON_DAYS)["predicted_ltv"]
    assert after.sum() < before.sum()  # slower purchase rate (alpha x3) -> lower forecast


def test_hybrid_fits_one_btyd_per_example_cutoff(data: TrainingData) -> None:
    model = HybridLTV(**FAST)
    model.time_unit_, model.horizon_days_ = "days", HORIZON_DAYS
    extra = model._fit_extra(data, data.examples)
    assert list(extra.columns) == list(BTYD_FEATURES) and extra.index.equals(data.examples.index)
    # the same rows alone at their cutoff give the same features: each cutoff has its own BTYD
    first = data.examples[data.examples["as_of"] == "2024-01-01"]
    alone = model._fit_extra(training_data(first, snapshot=customers(seed=5)), first)
    pd.testing.assert_frame_equal(alone, extra.loc[first.index])


def test_hybrid_anchor_needs_the_log_link(data: TrainingData) -> None:
    with pytest.raises(ValueError, match="anchor"):
        HybridLTV(objective="squared_error").fit(data)
    with pytest.raises(ValueError, match="needs TrainingData.patterns"):
        HybridLTV(**FAST).fit(TrainingData(horizon_days=HORIZON_DAYS, examples=data.examples, feature_columns=FEATURES))


def test_old_module_name_still_imports_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ltv.models.xgb`` moved to ``ltv.models.boosted``; the old name works for one release."""
    monkeypatch.delitem(sys.modules, "ltv.models.xgb", raising=False)
    with pytest.warns(DeprecationWarning, match="ltv.models.boosted"):
        old = importlib.import_module("ltv.models.xgb")
    assert old.XGBoostLTV is XGBoostLTV and old.HybridLTV is HybridLTV
    assert old.BOOSTER_FILES == BOOSTER_FILES and old.BTYD_FEATURES == BTYD_FEATURES


# -- net spend -------------------------------------------------------------------------------------


def test_xgboost_learns_net_labels_its_forecast_is_made_net_by_the_refund_share(data: TrainingData) -> None:
    """Tweedie learns spend floored at 0; the net factor (net / floored label totals) makes the forecast net."""
    examples = data.examples.copy()
    refunders = np.flatnonzero(examples["label_spend"].to_numpy() > 0)[::4]  # a quarter of the spenders
    examples.loc[refunders, "label_spend"] -= 1.5 * examples.loc[refunders, "label_spend"]  # refunds outweigh
    net = examples["label_spend"].to_numpy(float)
    floored = np.maximum(net, 0.0)
    assert net.min() < 0 < net.sum() < floored.sum()
    gross = XGBoostLTV(**FAST).fit(TrainingData(horizon_days=HORIZON_DAYS, examples=examples.assign(label_spend=floored),
                                                feature_columns=FEATURES))
    model = XGBoostLTV(**FAST).fit(TrainingData(horizon_days=HORIZON_DAYS, examples=examples, feature_columns=FEATURES))
    assert gross.level_factors_["spend"] == 1.0
    assert model.net_factor_ == model.level_factors_["spend"] == pytest.approx(net.sum() / floored.sum())
    assert model.interval_floor_ == pytest.approx(net.min())
    predicted = model.predict(examples[FEATURES], HORIZON_DAYS)
    np.testing.assert_allclose(predicted["predicted_ltv"], gross.predict(examples[FEATURES], HORIZON_DAYS)["predicted_ltv"]
                               * net.sum() / floored.sum(), rtol=1e-6)  # same trees (same floored labels), net level
    assert (predicted["predicted_ltv_p10"] >= net.min()).all()

    squared = XGBoostLTV(**FAST, objective="squared_error").fit(
        TrainingData(horizon_days=HORIZON_DAYS, examples=examples, feature_columns=FEATURES))
    assert squared.level_factors_["spend"] == 1.0  # it learns the raw net label already

    examples["label_spend"] = -examples["label_spend"].abs()  # nothing but refunds: no level to learn
    with pytest.raises(ValueError, match="not positive"):
        XGBoostLTV(**FAST).fit(TrainingData(horizon_days=HORIZON_DAYS, examples=examples, feature_columns=FEATURES))


def test_hybrid_btyds_carry_the_refund_share_of_their_snapshot_and_of_each_example_cutoff(data: TrainingData) -> None:
    examples = data.examples.assign(gross_spend_total=100.0, refund_total=np.where(data.examples["as_of"] == "2024-01-01", 10.0, 30.0))
    with_refunds = training_data(examples, snapshot=customers(seed=5))
    with_refunds.refunds = pd.DataFrame({"gross_spend_total": [1000.0], "refund_total": [250.0]})
    model = HybridLTV(**FAST).fit(with_refunds)
    assert model.btyd_.net_share_ == pytest.approx(0.75)
    from ltv.models.boosted.condense import condense_examples_local

    by_cutoff = condense_examples_local(examples, ["as_of"], "days", HORIZON_DAYS)
    assert {k: HybridLTV()._new_btyd().fit(v).net_share_ for k, v in by_cutoff.items()} == pytest.approx(
        {"2024-01-01": 0.9, "2024-04-01": 0.7})


def test_hybrid_sets_its_level_on_the_customers_it_is_fitted_to_score(data: TrainingData) -> None:
    """With a population, the hybrid's total over it is its scoring BTYD's total there (not the examples')."""
    population = customers(seed=5).drop(columns=["label_spend", "label_purchases"])
    on_examples = HybridLTV(**FAST).fit(data)
    anchored_data = training_data(data.examples, snapshot=customers(seed=5))
    anchored_data.population = population
    anchored = HybridLTV(**FAST).fit(anchored_data)
    btyd_total = anchored.btyd_.predict(population, HORIZON_DAYS)["predicted_ltv"].sum()
    assert anchored.predict(population, HORIZON_DAYS)["predicted_ltv"].sum() == pytest.approx(btyd_total, rel=1e-6)
    assert anchored.level_factors_["spend"] != pytest.approx(on_examples.level_factors_["spend"], rel=1e-3)
    # the boosters are the same: only the level moved
    ratio = anchored.predict(population, HORIZON_DAYS)["predicted_ltv"] / on_examples.predict(population, HORIZON_DAYS)["predicted_ltv"]
    assert np.allclose(ratio, ratio.iloc[0])


def test_missing_or_negative_labels_fail_the_fit_instead_of_becoming_zero(data: TrainingData) -> None:
    for column, value, message in (("label_spend", np.nan, "label_spend is missing or not finite in 1 of"),
                                   ("label_purchases", -1.0, "label_purchases < 0 in 1 of")):
        examples = data.examples.copy()
        examples.loc[7, column] = value
        with pytest.raises(ValueError, match=message):
            XGBoostLTV(**FAST).fit(TrainingData(horizon_days=HORIZON_DAYS, examples=examples, feature_columns=FEATURES))


def test_spend_shares_xgboost_uniform_hybrid_its_btyds_path(xgb_model: XGBoostLTV, hybrid_model: HybridLTV,
                                                            fresh: pd.DataFrame) -> None:
    """xgboost has no notion of timing (spend uniform over the horizon); hybrid spreads its forecast
    along the expected purchase path of the BTYD it is anchored to."""
    from ltv.models.timing import period_edges

    edges = period_edges(HORIZON_DAYS)
    features = fresh[FEATURES]
    np.testing.assert_allclose(xgb_model.spend_shares(features, HORIZON_DAYS, edges), 1 / 3, rtol=1e-12)
    shares = hybrid_model.spend_shares(features, HORIZON_DAYS, edges)
    np.testing.assert_array_equal(shares, hybrid_model.btyd_.spend_shares(features, HORIZON_DAYS, edges))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    assert np.ptp(shares[:, 0]) > 1e-3  # customer by customer, not one shape for all
