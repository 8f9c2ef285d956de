"""Models saved by ltv 0.1 still load and predict exactly as they did when saved.

``tests/fixtures/models_v0_1/<name>/`` were written by the code before the ``ltv.models``
re-layout (see ``generate.py`` there): ``model.json`` + XGBoost JSON boosters, and the
predictions the fitted model made for ``features.csv`` before it was saved. The saved-model
format (model names, JSON state, booster files) is a promise to users: changing how a model is
fitted is fine, changing what an already saved model predicts is not.
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
    assert list(predictions.columns) == list(PREDICTION_COLUMNS) == list(expected.columns)
    for column in PREDICTION_COLUMNS:
        got = pd.to_numeric(predictions[column]).to_numpy(dtype=float)
        want = expected[column].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=0.0, equal_nan=True, err_msg=f"{directory}: {column}")


def test_load_on_a_class() -> None:
    """``Class.load`` loads its own kind; ``LTVModel.load`` (public in 0.1) still loads any, deprecated."""
    assert get_model_class("pareto_gg").load(FIXTURES / "pareto_gg").name == "pareto_gg"
    with pytest.raises(TypeError, match="not a"):
        get_model_class("bgnbd_gg").load(FIXTURES / "pareto_gg")
    with pytest.warns(DeprecationWarning, match="registry.load_model"):
        model = LTVModel.load(FIXTURES / "hybrid")
    assert model.name == "hybrid"
