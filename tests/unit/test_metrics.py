"""ltv.evaluation.metrics: hand-computed examples for every metric, edge cases and input errors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ltv.evaluation import metrics as m

# The running 4-customer example.
ACTUAL = np.array([10.0, 0.0, 5.0, 1.0])  # total 16
SCORES = np.array([0.9, 0.1, 0.4, 0.6])  # ranks customers 0, 3, 2, 1
PREDICTED = np.array([8.0, 1.0, 5.0, 3.0])  # errors -2, +1, 0, +2; total 17


def kaggle_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """The Kaggle (Porto Seguro) reference implementation, verbatim in substance."""
    data = np.c_[actual, predicted, np.arange(len(actual))].astype(float)
    data = data[np.lexsort((data[:, 2], -1 * data[:, 1]))]
    gini_sum = data[:, 0].cumsum().sum() / data[:, 0].sum()
    gini_sum -= (len(actual) + 1) / 2.0
    return gini_sum / len(actual)


def kaggle_normalized(actual: np.ndarray, predicted: np.ndarray) -> float:
    return kaggle_gini(actual, predicted) / kaggle_gini(actual, actual)


# --------------------------------------------------------------------------- error metrics


def test_mae_rmse_hand_computed():
    # |errors| = 2, 1, 0, 2 -> MAE 5/4; squared = 4, 1, 0, 4 -> RMSE sqrt(9/4) = 1.5
    assert m.mae(ACTUAL, PREDICTED) == pytest.approx(1.25)
    assert m.rmse(ACTUAL, PREDICTED) == pytest.approx(1.5)
    assert m.mae(ACTUAL, ACTUAL) == 0.0 and m.rmse(ACTUAL, ACTUAL) == 0.0


def test_aggregate_bias():
    # 17 / 16 - 1
    assert m.aggregate_bias(ACTUAL, PREDICTED) == pytest.approx(0.0625)
    assert m.aggregate_bias([10, 10], [5, 5]) == pytest.approx(-0.5)
    assert math.isnan(m.aggregate_bias([5, -5], [1, 1]))  # refunds cancel purchases: undefined


# --------------------------------------------------------------------------- gini


def test_normalized_gini_hand_computed():
    # Kaggle: G = (sum_k C_k / T - (n+1)/2) / n, C_k cumulative actual spend in a given order.
    # By prediction: order 10, 1, 5, 0 -> C = 10, 11, 16, 16 -> (53/16 - 2.5) / 4 = 0.203125
    # Ideal:         order 10, 5, 1, 0 -> C = 10, 15, 16, 16 -> (57/16 - 2.5) / 4 = 0.265625
    # Normalised: 0.203125 / 0.265625 = 13/17 (equivalently sum a_j * (2.5 - j): 13 vs 17).
    assert m.normalized_gini(ACTUAL, SCORES) == pytest.approx(13 / 17)


def test_gini_perfect_reversed_and_scale_free():
    rng = np.random.default_rng(1)
    actual = rng.gamma(0.5, 100.0, size=500)
    assert m.normalized_gini(actual, actual) == pytest.approx(1.0)
    assert m.normalized_gini(actual, 3 * actual + 7) == pytest.approx(1.0)  # only the ranking matters
    assert m.normalized_gini(actual, actual.max() - actual) == pytest.approx(-1.0)


def test_gini_random_ranking_is_near_zero():
    rng = np.random.default_rng(7)
    actual = rng.gamma(0.5, 100.0, size=10_000)
    predicted = rng.uniform(0, 100, size=10_000)
    assert abs(m.normalized_gini(actual, predicted)) < 0.05


def test_gini_matches_kaggle_reference_and_lorenz_area():
    rng = np.random.default_rng(3)
    actual = rng.gamma(0.7, 50.0, size=1_000)
    predicted = actual + rng.normal(0, 40, size=1_000).clip(-actual)
    predicted[:100] = 5.0  # plenty of ties
    gini = m.normalized_gini(actual, predicted)
    assert gini == pytest.approx(kaggle_normalized(actual, predicted), abs=1e-12)
    # Same as the area between Lorenz curve and diagonal, relative to the ideal's.
    x, y = m.lorenz_curve(actual, predicted)
    xi, yi = m.ideal_lorenz_curve(actual)
    assert gini == pytest.approx((np.trapezoid(y, x) - 0.5) / (np.trapezoid(yi, xi) - 0.5))


def test_gini_ties_keep_input_order():
    # Constant prediction: stable sort keeps input order 0, 10, 5, 1
    # -> sum a_j * (2.5 - j) = 0*1.5 + 10*0.5 + 5*(-0.5) + 1*(-1.5) = 1; ideal 17.
    assert m.normalized_gini([0, 10, 5, 1], [3, 3, 3, 3]) == pytest.approx(1 / 17)


def test_gini_defined_with_refunds_and_nan_when_actual_constant():
    # Total -2 (refunds): weights (n+1)/2 - j = 1, 0, -1; by prediction -5*1 + 2*(-1) = -7, ideal 2 + 5 = 7.
    assert m.normalized_gini([-5, 1, 2], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(m.normalized_gini([4, 4, 4], [1, 2, 3]))


# --------------------------------------------------------------------------- spearman


def test_spearman():
    # d = 0, -1, +1 -> 1 - 6 * 2 / (3 * (9 - 1)) = 0.5
    assert m.spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert m.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert m.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_constant_or_single_is_zero():
    assert m.spearman([1, 2, 3], [5, 5, 5]) == 0.0
    assert m.spearman([2, 2, 2], [1, 2, 3]) == 0.0
    assert m.spearman([2], [1]) == 0.0


# --------------------------------------------------------------------------- top decile, lorenz


def test_top_decile_capture_known_case():
    # 20 customers -> top decile = 2 customers; the two big spenders made 82 of 100.
    actual = np.array([1.0] * 18 + [41.0, 41.0])
    assert m.top_decile_capture(actual, actual) == pytest.approx(0.82)
    assert m.top_decile_capture(actual, -actual) == pytest.approx(0.02)
    # 15 customers -> ceil(1.5) = 2 in the top decile: 15 + 14 of 120.
    actual15 = np.arange(1.0, 16.0)
    assert m.top_decile_capture(actual15, actual15) == pytest.approx(29 / 120)
    assert math.isnan(m.top_decile_capture([-1, 1], [1, 2]))


def test_lorenz_curve_hand_computed():
    x, y = m.lorenz_curve(ACTUAL, SCORES)
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(y, [0, 10 / 16, 11 / 16, 16 / 16, 1])
    xi, yi = m.ideal_lorenz_curve(ACTUAL)
    np.testing.assert_allclose(xi, x)
    np.testing.assert_allclose(yi, [0, 10 / 16, 15 / 16, 1, 1])


def test_lorenz_curve_rejects_non_positive_total():
    with pytest.raises(ValueError, match="positive total"):
        m.lorenz_curve([-3, 1], [1, 2])


# --------------------------------------------------------------------------- calibration


def test_decile_calibration_sums_and_order():
    rng = np.random.default_rng(11)
    actual = rng.gamma(0.5, 80.0, size=1_003) - 5.0  # some refunds
    predicted = rng.gamma(0.5, 80.0, size=1_003)
    table = m.decile_calibration(actual, predicted)
    assert list(table.index) == list(range(1, 11))
    assert list(table.columns) == ["n", "mean_predicted", "mean_actual", "sum_predicted", "sum_actual"]
    assert table["n"].sum() == 1_003 and table["n"].max() - table["n"].min() <= 1
    assert table["sum_actual"].sum() == pytest.approx(actual.sum())
    assert table["sum_predicted"].sum() == pytest.approx(predicted.sum())
    assert table["mean_predicted"].is_monotonic_decreasing  # decile 1 = highest predictions
    # decile 1 is the top-decile cohort
    assert table.loc[1, "sum_actual"] / actual.sum() == pytest.approx(m.top_decile_capture(actual, predicted))


def test_decile_calibration_hand_computed_and_mape():
    # 20 customers, predicted 0..19, actual = 2 * predicted.
    # Decile 1 = predictions 19, 18: mean_predicted 18.5, mean_actual 37; every decile off by 50%.
    predicted = np.arange(20.0)
    actual = 2 * predicted
    table = m.decile_calibration(actual, predicted)
    assert table.loc[1].to_dict() == pytest.approx(
        {"n": 2, "mean_predicted": 18.5, "mean_actual": 37.0, "sum_predicted": 37.0, "sum_actual": 74.0}
    )
    assert m.calibration_mape(actual, predicted) == pytest.approx(0.5)


def test_calibration_mape_skips_zero_actual_deciles():
    # 10 customers -> one per decile; the lowest-predicted customer spent 0 (skipped), others exact.
    predicted = np.arange(1.0, 11.0)
    actual = predicted.copy()
    actual[0] = 0.0
    assert m.calibration_mape(actual, predicted) == 0.0
    assert math.isnan(m.calibration_mape([0, 0, 0], [1, 2, 3]))


def test_decile_calibration_small_input_leaves_empty_deciles_out():
    table = m.decile_calibration(ACTUAL, SCORES)
    assert table["n"].tolist() == [1, 1, 1, 1]
    assert table["sum_actual"].tolist() == [10.0, 1.0, 5.0, 0.0]


# --------------------------------------------------------------------------- coverage


def test_interval_coverage():
    actual = [1, 5, 10, 20]
    p10 = [0, 6, 5, 20]
    p90 = [2, 8, 10, 25]
    # inside, below, on upper bound (inclusive), on lower bound (inclusive) -> 3 / 4
    assert m.interval_coverage(actual, p10, p90) == pytest.approx(0.75)
    assert m.interval_coverage(actual, None, None) is None
    assert m.interval_coverage(actual, p10, None) is None


# --------------------------------------------------------------------------- evaluate / compare


def test_evaluate_has_all_metrics():
    result = m.evaluate(ACTUAL, PREDICTED, p10=PREDICTED - 2, p90=PREDICTED + 2)
    assert tuple(result) == m.METRIC_NAMES
    assert result["n"] == 4 and isinstance(result["n"], int)
    assert result["mae"] == pytest.approx(1.25)
    assert result["bias"] == pytest.approx(0.0625)
    assert result["actual_total"] == 16.0 and result["predicted_total"] == 17.0
    # |errors| 2, 1, 0, 2 all within +-2
    assert result["coverage_80"] == 1.0
    assert all(isinstance(value, (int, float)) for value in result.values())
    assert math.isnan(m.evaluate(ACTUAL, PREDICTED)["coverage_80"])


def test_compare_table_and_best_models():
    results = {
        "btyd": m.evaluate(ACTUAL, PREDICTED),
        "perfect": m.evaluate(ACTUAL, ACTUAL, p10=ACTUAL, p90=ACTUAL),
    }
    table = m.compare(results)
    assert list(table.index) == ["btyd", "perfect"]
    assert list(table.columns) == list(m.METRIC_NAMES)
    assert table.loc["perfect", "gini"] == pytest.approx(1.0)
    assert np.isnan(table.loc["btyd", "coverage_80"])
    best = m.best_models(table)
    assert best["mae"] == ["perfect"] and best["bias"] == ["perfect"]
    # PREDICTED (8 > 5 > 3 > 1) ranks like ACTUAL (10 > 5 > 1 > 0): ties list both models
    assert best["gini"] == ["btyd", "perfect"] and best["top_decile_capture"] == ["btyd", "perfect"]
    assert best["coverage_80"] == ["perfect"]  # NaN never wins
    # missing metrics become NaN, extra ones are appended
    partial = m.compare({"a": {"mae": 1.0, "custom": 2.0}})
    assert list(partial.columns)[-1] == "custom" and np.isnan(partial.loc["a", "gini"])


def test_accepts_pandas_series():
    assert m.mae(pd.Series(ACTUAL), pd.Series(PREDICTED)) == pytest.approx(1.25)


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    "function",
    [m.mae, m.rmse, m.normalized_gini, m.spearman, m.top_decile_capture, m.decile_calibration,
     m.calibration_mape, m.aggregate_bias, m.lorenz_curve, m.evaluate],
)
def test_errors_are_clear(function):
    with pytest.raises(ValueError, match="empty"):
        function([], [])
    with pytest.raises(ValueError, match="length mismatch: `actual` has 3 customers, `predicted` has 2"):
        function([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="`predicted` has 2 NaN/inf value"):
        function([1, 2, 3], [1, np.nan, np.nan])
    with pytest.raises(ValueError, match="`actual` has 1 NaN/inf value"):
        function([1, np.inf, 3], [1, 2, 3])


def test_other_errors():
    with pytest.raises(ValueError, match="one-dimensional"):
        m.mae(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="`p10` has 3"):
        m.interval_coverage([1, 2], [0, 0, 0], [3, 3])
    with pytest.raises(ValueError, match="`p90` has 1 NaN"):
        m.interval_coverage([1, 2], [0, 0], [3, np.nan])
    with pytest.raises(ValueError, match="no models to compare"):
        m.compare({})


def test_metrics_module_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, ltv.evaluation.metrics; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
