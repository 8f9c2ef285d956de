"""One contract test for every registered model (scikit-learn's ``check_estimator`` idea).

Models added later are covered automatically: the test is parametrised over
``available_models()``.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltv.models.base import PREDICTION_COLUMNS, TrainingData
from ltv.models.dispersion import SpendDispersion
from ltv.models.registry import available_models, get_model_class, load_model

HORIZON_DAYS = 180
FEATURE_COLUMNS = [
    "frequency", "recency", "T", "monetary_value", "spend_90d", "spend_365d",
    "purchase_days_365d", "tenure_days", "days_since_last_purchase",
]


def test_fixture_columns_are_the_feature_stores():
    """The synthetic customers below use the real snapshot schema's names and types (default windows)."""
    from pyspark.sql.types import DoubleType, IntegerType, LongType

    from ltv.config import FeatureSettings
    from ltv.features.schema import model_feature_columns, snapshot_schema

    schema = snapshot_schema(FeatureSettings().windows_days)
    numeric = {f.name for f in schema.fields if isinstance(f.dataType, (DoubleType, IntegerType, LongType))}
    assert set(FEATURE_COLUMNS) <= numeric & set(model_feature_columns(schema.names)), \
        set(FEATURE_COLUMNS) - numeric


def synthetic_customers(n_customers: int = 300, seed: int = 7) -> pd.DataFrame:
    """Customers with RFM (days), behaviour columns and horizon labels, from a BG/NBD-like process."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_customers):
        age = float(rng.integers(20, 500))
        rate = rng.gamma(0.8, 1 / 40)  # purchases per day
        lifetime = rng.exponential(1 / rng.gamma(0.7, 1 / 250))  # heterogeneous dropout
        ticket = rng.gamma(4.0, 10.0)
        end = age + HORIZON_DAYS
        times = np.cumsum(rng.exponential(1 / rate, size=200))
        times = times[times < min(lifetime, end)]
        spends = rng.gamma(4.0, ticket / 4.0, size=len(times) + 1)
        past = times[times <= age]
        future = times[times > age]
        repeat_days = np.unique(np.floor(past))
        frequency = len(repeat_days)
        last_day = repeat_days.max() if frequency else 0.0
        past_spend = spends[1 : len(past) + 1]
        day_of = np.concatenate([[0.0], past])
        spend_of = np.concatenate([[spends[0]], past_spend])
        in_365 = day_of > age - 365
        rows.append(
            {
                "frequency": float(frequency),
                "recency": float(last_day),
                "T": age,
                "monetary_value": float(past_spend.mean()) if frequency else 0.0,
                "spend_90d": float(spend_of[day_of > age - 90].sum()),
                "spend_365d": float(spend_of[in_365].sum()),
                "purchase_days_365d": float(in_365.sum()),
                "tenure_days": age,
                "days_since_last_purchase": age - float(day_of.max()),
                "label_spend": float(spends[len(past) + 1 :].sum()),
                "label_purchases": float(len(future)),
            }
        )
    frame = pd.DataFrame(rows)
    frame.loc[3, "monetary_value"] = -5.0  # an odd customer (refund larger than purchase)
    return frame


def training_data(customers: pd.DataFrame) -> TrainingData:
    patterns = customers.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    buyers = customers[(customers["frequency"] > 0) & (customers["monetary_value"] > 0)]
    spend_patterns = buyers.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    return TrainingData(
        time_unit="days",
        horizon_days=HORIZON_DAYS,
        patterns=patterns,
        spend_patterns=spend_patterns,
        examples=customers,
        feature_columns=list(FEATURE_COLUMNS),
    )


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return synthetic_customers()


@pytest.mark.parametrize("name", available_models())
def test_model_contract(name: str, customers: pd.DataFrame, tmp_path: Path) -> None:
    model_cls = get_model_class(name)

    # constructor: explicit keywords only, every hyperparameter has a default
    for pname, param in inspect.signature(model_cls.__init__).parameters.items():
        if pname == "self":
            continue
        assert param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD), f"{name}: *args/**kwargs in __init__"
        assert param.default is not param.empty, f"{name}: hyperparameter {pname} has no default"
    model = model_cls()
    assert model.family, f"{name} has no family"
    assert type(model)(**model.get_params()) == model
    with pytest.raises(RuntimeError):
        model.predict(customers[FEATURE_COLUMNS], HORIZON_DAYS)

    assert model.fit(training_data(customers)) is model
    assert type(model)(**model.get_params()) == model

    features = customers[FEATURE_COLUMNS].set_axis(np.arange(len(customers)) * 10 + 5)  # non-default index
    predictions = model.predict(features, HORIZON_DAYS)
    assert list(predictions.columns) == list(PREDICTION_COLUMNS)
    assert predictions.index.equals(features.index)
    numeric = predictions.drop(columns=["p_alive", "predicted_ltv_variance"]).astype(float)
    assert np.isfinite(numeric.to_numpy()).all()
    assert (numeric.to_numpy() >= 0).all()
    variance = predictions["predicted_ltv_variance"].astype(float)
    own_variance = bool(variance.notna().any())
    assert own_variance or model.family != "btyd"  # BTYD: the exact predictive distribution's
    if own_variance:
        assert variance.notna().all() and (variance >= 0).all() and variance.sum() > 0
    # else: from the back-test dispersion that training sets (below), absent until then
    assert (predictions["predicted_ltv_p10"] <= predictions["predicted_ltv_p90"]).all()
    p_alive = predictions["p_alive"]
    if not p_alive.isna().all():
        values = p_alive.astype(float)
        assert values.notna().all() and values.between(0, 1).all()
    assert predictions["predicted_ltv"].sum() > 0

    saved = tmp_path / name
    model.save(saved, metadata={"test": True})
    for path in sorted(p for p in saved.rglob("*") if p.is_file()):
        assert path.suffix not in {".pkl", ".pickle", ".dill", ".joblib"}, f"{name} saved {path.name}"
        content = path.read_bytes()
        assert not content.startswith(b"\x80"), f"{name}: {path.name} looks like a pickle"
        json.loads(content)  # every file is JSON

    loaded = load_model(saved)
    assert type(loaded) is model_cls and loaded == model
    assert type(model_cls.load(saved)) is model_cls  # a concrete class loads its own kind
    pd.testing.assert_frame_equal(loaded.predict(features, HORIZON_DAYS), predictions)

    if not own_variance:  # with training's dispersion: Var = phi |mu|^power, saved with the model
        model.set_spend_dispersion(SpendDispersion(phi=2.5, power=model.dispersion_power(), n=100))
        dispersed = model.predict(features, HORIZON_DAYS)
        np.testing.assert_allclose(dispersed["predicted_ltv_variance"],
                                   2.5 * dispersed["predicted_ltv"].abs() ** model.dispersion_power(), rtol=1e-12)
        model.save(tmp_path / "dispersed")
        pd.testing.assert_frame_equal(load_model(tmp_path / "dispersed").predict(features, HORIZON_DAYS), dispersed)


GROUPED_MODELS = [n for n in available_models() if "group_column" in get_model_class(n)._param_names()]


@pytest.mark.parametrize("name", GROUPED_MODELS)
def test_line_feature_model_round_trip(name: str, customers: pd.DataFrame, tmp_path: Path) -> None:
    """A model trained across business lines (``group_column``): line as a feature, JSON round trip."""
    assert {"xgboost", "hybrid"} <= set(GROUPED_MODELS)
    lines = np.where(np.arange(len(customers)) % 2 == 0, "retail", "online")
    two = customers.assign(business_line=lines)
    two.loc[two["business_line"] == "online", "label_spend"] *= 3.0  # the line matters
    data = training_data(two)
    key = ["business_line", "frequency", "recency", "T"]
    data.patterns = two.groupby(key).size().rename("weight").reset_index()
    buyers = two[(two["frequency"] > 0) & (two["monetary_value"] > 0)]
    data.spend_patterns = buyers.groupby(["business_line", "frequency", "monetary_value"]).size().rename("weight").reset_index()
    model = get_model_class(name)(group_column="business_line")
    assert model.fit(data) is model
    assert "business_line" in model.feature_columns_
    assert model.categories_["business_line"] == ["online", "retail"]

    features = two[[*FEATURE_COLUMNS, "business_line"]]
    predictions = model.predict(features, HORIZON_DAYS)
    numeric = predictions.drop(columns=["p_alive", "predicted_ltv_variance"]).astype(float).to_numpy()
    assert np.isfinite(numeric).all() and (numeric >= 0).all()
    online = predictions["predicted_ltv"][two["business_line"] == "online"].mean()
    retail = predictions["predicted_ltv"][two["business_line"] == "retail"].mean()
    if name == "hybrid":  # level anchored per line to that line's own BTYD (blind to the labels' 3x)
        assert sorted(model.group_level_factors_) == ["online", "retail"] and sorted(model.btyd_by_group_) == ["online", "retail"]
        assert online > 1.1 * retail
    else:
        assert online > 1.5 * retail  # the line feature carries the 3x level
    swapped = features.assign(business_line=np.where(lines == "online", "retail", "online"))
    assert not np.allclose(model.predict(swapped, HORIZON_DAYS)["predicted_ltv"], predictions["predicted_ltv"])

    saved = tmp_path / name
    model.save(saved)
    for path in saved.iterdir():
        json.loads(path.read_bytes())
    state = json.loads((saved / "model.json").read_text())
    assert state["params"]["group_column"] == "business_line"
    loaded = load_model(saved)
    assert loaded == model
    pd.testing.assert_frame_equal(loaded.predict(features, HORIZON_DAYS), predictions)
    with pytest.raises(ValueError, match="business_line"):
        loaded.predict(two[FEATURE_COLUMNS], HORIZON_DAYS)  # the line column is needed at scoring
    with pytest.raises(ValueError, match="wholesale"):
        loaded.predict(features.assign(business_line="wholesale"), HORIZON_DAYS)


# -- broken outputs fail loudly, nothing is repaired -----------------------------------------------
class _Scripted:
    """An LTVModel whose raw output is given: the contract's checks run on it unchanged."""

    @staticmethod
    def make(raw: dict[str, list[float | None]]):
        from ltv.models.base import LTVModel

        class Scripted(LTVModel):
            name = "scripted"

            def __init__(self) -> None:
                pass

            def fit(self, data):
                self.fitted_ = True
                return self

            def _predict(self, features, horizon_days):
                return pd.DataFrame(raw)

            def _get_state(self, directory):
                return {}

            def _set_state(self, state, directory):
                self.fitted_ = True

        return Scripted().fit(None)


GOOD = {"predicted_ltv": [10.0, -4.0, 0.0], "predicted_ltv_p10": [0.0, -9.0, 0.0],
        "predicted_ltv_p90": [30.0, 1.0, 0.0], "predicted_purchases": [1.5, 0.2, 0.0], "p_alive": [0.9, 0.1, 1.0]}


def test_valid_output_passes_unchanged_and_net_spend_may_be_negative():
    out = _Scripted.make(GOOD).predict(pd.DataFrame({"x": [1, 2, 3]}), 90)
    assert out["predicted_ltv"].tolist() == [10.0, -4.0, 0.0] and out["predicted_ltv_p10"].tolist() == [0.0, -9.0, 0.0]
    no_alive = _Scripted.make({**GOOD, "p_alive": [None, None, None]}).predict(pd.DataFrame({"x": [1, 2, 3]}), 90)
    assert no_alive["p_alive"].isna().all()
    # a predictive distribution without a second moment: its variance is +inf, said as such
    infinite = _Scripted.make({**GOOD, "predicted_ltv_variance": [4.0, np.inf, 0.0]}).predict(pd.DataFrame({"x": [1, 2, 3]}), 90)
    assert infinite["predicted_ltv_variance"].tolist() == [4.0, np.inf, 0.0]


@pytest.mark.parametrize(("column", "values", "message"), [
    ("predicted_ltv", [np.nan, 1.0, np.nan], r"predicted_ltv is NaN or inf in 2 of 3 rows \(first at \[0, 2\]\)"),
    ("predicted_ltv_p90", [np.inf, 1.0, 0.0], "predicted_ltv_p90 is NaN or inf in 1 of 3 rows"),
    ("predicted_purchases", [1.0, -0.5, 0.0], r"predicted_purchases < 0 in 1 of 3 rows \(first at \[1\]\)"),
    ("p_alive", [0.5, 1.2, -0.1], "p_alive outside \\[0, 1\\] in 2 of 3 rows"),
    ("p_alive", [0.5, np.nan, 0.1], "p_alive is NaN or inf in 1 of 3 rows"),
    ("predicted_ltv_p10", [40.0, -9.0, 0.0], "predicted_ltv_p10 > predicted_ltv_p90 in 1 of 3 rows"),
    ("predicted_ltv_variance", [1.0, -0.5, np.nan], "predicted_ltv_variance is NaN or negative in 2 of 3 rows"),
])
def test_broken_output_raises_naming_model_column_and_count(column, values, message):
    from ltv.models.base import ModelOutputError

    model = _Scripted.make({**GOOD, column: values})
    with pytest.raises(ModelOutputError, match=f"model scripted broke the prediction contract: {message}"):
        model.predict(pd.DataFrame({"x": [1, 2, 3]}), 90)
