"""Models saved by ltv 0.1 still load and predict exactly as they did when saved.

``tests/fixtures/models_v0_1/<name>/`` were written by the code before the ``ltv.models``
re-layout (see ``generate.py`` there): ``model.json`` + XGBoost JSON boosters, and the
predictions the fitted model made for ``features.csv`` before it was saved. The saved-model
format (model names, JSON state, booster files) is a promise to users: changing how a model is
fitted is fine, changing what an already saved model predicts is not.

One deliberate exception, in 0.4: BTYD intervals (p10/p90) were 200 Monte Carlo draws per
customer and are now the exact quantiles of the same predictive distribution; a saved BTYD model
keeps its point forecasts to the last digit and its intervals move by the old simulation noise
only. Columns added in 0.4 (``predicted_ltv_p50``, ``prob_purchase``) are given by models that
can compute them from what they saved, and null for boosters saved without those boosters.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltv.models.base import PREDICTION_COLUMNS, LTVModel
from ltv.models.registry import get_model_class, load_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models_v0_1"
HORIZON_DAYS = 180
FEATURE_COLUMNS = [
    "frequency", "recency", "T", "monetary_value", "spend_90d", "spend_365d",
    "purchases_365d", "tenure_days", "days_since_last_purchase", "purchase_days_365d",
]
#: fixture directory -> registered model name it holds
SAVED = {
    "baseline": "baseline",
    "bgnbd_gg": "bgnbd_gg",
    "pareto_gg": "pareto_gg",
    "xgboost": "xgboost",
    "hybrid": "hybrid",
    "hybrid_by_line": "hybrid",
    "shuffled": "shuffled",
}
#: models whose p10/p90 were Monte Carlo draws in 0.1-0.3 (exact quantiles since 0.4)
SIMULATED_INTERVALS = {"bgnbd_gg", "pareto_gg", "shuffled"}
#: boosters saved before 0.4: no p50 quantile, no purchase-probability booster
WITHOUT_NEW_COLUMNS = {"xgboost", "hybrid", "hybrid_by_line"}
SAVED_COLUMNS = ["predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p90", "predicted_purchases", "p_alive"]


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    """0.1's fixture frame. It named the feature store's ``purchase_days_365d`` "purchases_365d", a
    column the store never writes, which the 0.1 baseline read; the supervised models were trained
    on that name. Both names are given the same values, so every model reads what it did in 0.1."""
    frame = read_csv(FIXTURES / "features.csv")
    return frame.assign(purchase_days_365d=frame["purchases_365d"])


@pytest.mark.parametrize("directory", sorted(SAVED))
def test_saved_v0_1_model_loads_and_predicts_as_before(directory: str, features: pd.DataFrame) -> None:
    saved = FIXTURES / directory
    model = load_model(saved)
    assert model.name == SAVED[directory] and type(model) is get_model_class(SAVED[directory])
    columns = [*FEATURE_COLUMNS, "business_line"] if getattr(model, "group_column", None) else FEATURE_COLUMNS
    predictions = model.predict(features[columns], HORIZON_DAYS)
    expected = read_csv(saved / "predictions.csv")
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert list(expected.columns) == SAVED_COLUMNS
    exact = [c for c in SAVED_COLUMNS if not (directory in SIMULATED_INTERVALS and c in ("predicted_ltv_p10", "predicted_ltv_p90"))]
    for column in exact:
        got = pd.to_numeric(predictions[column]).to_numpy(dtype=float)
        want = expected[column].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=0.0, equal_nan=True, err_msg=f"{directory}: {column}")
    if directory in SIMULATED_INTERVALS:
        # now the exact quantiles of the saved model's predictive distribution
        btyd = model.inner_model_ if directory == "shuffled" else model
        quantiles = _exact_quantiles(btyd, features[FEATURE_COLUMNS])
        if directory == "shuffled":  # its rows are permuted: compare as sets
            quantiles = np.sort(quantiles, axis=0)
            got = np.sort(predictions[["predicted_ltv_p10", "predicted_ltv_p90"]].to_numpy(float), axis=0)
        else:
            got = predictions[["predicted_ltv_p10", "predicted_ltv_p90"]].to_numpy(float)
        np.testing.assert_allclose(got, quantiles, rtol=1e-9, atol=1e-12, err_msg=directory)
    new_columns = predictions[["predicted_ltv_p50", "prob_purchase"]].astype(float)
    if directory in WITHOUT_NEW_COLUMNS:
        assert new_columns.isna().all().all(), directory
    else:
        assert np.isfinite(new_columns.to_numpy()).all(), directory
        assert (predictions["predicted_ltv_p10"] <= predictions["predicted_ltv_p50"]).all()
        assert (predictions["predicted_ltv_p50"] <= predictions["predicted_ltv_p90"]).all()


def _exact_quantiles(model, features: pd.DataFrame) -> np.ndarray:
    """p10/p90 of a BTYD model from :func:`ltv.models.btyd.predictive.horizon_forecast` on its saved parameters."""
    from ltv.models.base import horizon_in_units
    from ltv.models.btyd import predictive
    from ltv.models.btyd.model import customer_history

    x, t_x, T, m = customer_history(features)
    t = horizon_in_units(HORIZON_DAYS, model.time_unit_)
    p_alive = model._p_alive(model.purchase_params_, x, t_x, T)
    forecast = predictive.horizon_forecast(model.process, model.purchase_params_, model.spend_params_, t, x, t_x, T,
                                           m, p_alive, (0.1, 0.9))
    return forecast.quantiles * model.net_share_


def test_load_on_a_class() -> None:
    """``Class.load`` loads its own kind; ``LTVModel.load`` (public in 0.1) still loads any, deprecated."""
    assert get_model_class("pareto_gg").load(FIXTURES / "pareto_gg").name == "pareto_gg"
    with pytest.raises(TypeError, match="not a"):
        get_model_class("bgnbd_gg").load(FIXTURES / "pareto_gg")
    with pytest.warns(DeprecationWarning, match="registry.load_model"):
        model = LTVModel.load(FIXTURES / "hybrid")
    assert model.name == "hybrid"
