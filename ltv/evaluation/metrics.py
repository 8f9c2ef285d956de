"""Model evaluation metrics for customer lifetime value: pure numpy / pandas / scipy.

Every function takes per-customer arrays aligned by position:

* ``actual``: realised net spend in the horizon (currency units); may be 0, or negative when
  refunds exceed purchases;
* ``predicted``: predicted spend in the same horizon and currency (models promise ``>= 0``, but
  nothing here relies on it);
* ``p10`` / ``p90``: optional lower / upper bounds of an 80% prediction interval.

Ordering conventions (used by the Gini, Lorenz curve, top-decile capture and deciles):
customers are sorted by ``predicted`` **descending** with a **stable** sort, so customers with
tied predictions keep their input order. This makes every metric deterministic for a given input,
but it also means a model that predicts many identical values is scored on the arbitrary input
order within each tie; callers who care should break ties upstream (e.g. by a secondary score).

Input errors (empty arrays, length mismatch, NaN/inf) raise :class:`ValueError` naming the
problem. A metric that is mathematically undefined for valid input (e.g. the Gini when every
customer spent the same) returns ``nan`` and says so in its docstring.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

ArrayLike = Any  # numpy array, pandas Series, or a sequence of numbers

#: Scalar metrics returned by :func:`evaluate`, in display order.
METRIC_NAMES: tuple[str, ...] = (
    "mae",
    "rmse",
    "gini",
    "spearman",
    "top_decile_capture",
    "calibration_mape",
    "bias",
    "coverage_80",
    "n",
    "actual_total",
    "predicted_total",
)

#: How models are ranked on each metric: ``"max"``, ``"min"``, or a float target approached in
#: absolute distance (``bias`` -> 0, ``coverage_80`` -> 0.8). Metrics absent here (``n``, totals)
#: are descriptive and have no "best".
METRIC_GOALS: Mapping[str, str | float] = {
    "mae": "min",
    "rmse": "min",
    "gini": "max",
    "spearman": "max",
    "top_decile_capture": "max",
    "calibration_mape": "min",
    "bias": 0.0,
    "coverage_80": 0.8,
    # the quantiles' (ltv.evaluation.quantiles): a proper score and the largest miss of a level
    "pinball": "min",
    "quantile_gap": "min",
}

N_DECILES = 10


# --------------------------------------------------------------------------- validation


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional (got shape {array.shape}); pass one value per customer")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty: need at least one customer to evaluate")
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(
            f"`{name}` has {bad} NaN/inf value(s) out of {array.size}; fill or drop those customers before evaluating"
        )
    return array


def _validate(
    actual: ArrayLike, predicted: ArrayLike, predicted_name: str = "predicted"
) -> tuple[np.ndarray, np.ndarray]:
    actual_arr = _as_1d(actual, "actual")
    predicted_arr = _as_1d(predicted, predicted_name)
    if actual_arr.size != predicted_arr.size:
        raise ValueError(
            f"length mismatch: `actual` has {actual_arr.size} customers, `{predicted_name}` has "
            f"{predicted_arr.size}; align both arrays on the same customers"
        )
    return actual_arr, predicted_arr


def _order_by_prediction(predicted: np.ndarray) -> np.ndarray:
    """Indices sorting customers by prediction, highest first; ties keep input order (stable)."""
    return np.argsort(-predicted, kind="stable")


# --------------------------------------------------------------------------- error metrics


def mae(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute error, in currency units per customer."""
    actual_arr, predicted_arr = _validate(actual, predicted)
    return float(np.mean(np.abs(predicted_arr - actual_arr)))


def rmse(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Root mean squared error, in currency units per customer."""
    actual_arr, predicted_arr = _validate(actual, predicted)
    return float(np.sqrt(np.mean((predicted_arr - actual_arr) ** 2)))


def aggregate_bias(actual: ArrayLike, predicted: ArrayLike) -> float:
    """``sum(predicted) / sum(actual) - 1``: +0.1 means the book is over-forecast by 10%.

    Returns ``nan`` when ``sum(actual) == 0`` (relative bias undefined).
    """
    actual_arr, predicted_arr = _validate(actual, predicted)
    actual_total = float(actual_arr.sum())
    if actual_total == 0.0:
        return math.nan
    return float(predicted_arr.sum()) / actual_total - 1.0


# --------------------------------------------------------------------------- ranking metrics


def _gini_sum(actual_in_order: np.ndarray) -> float:
    """Unnormalised Gini of ``actual`` taken in a given order, times ``n * total``.

    The Kaggle definition is ``G = (sum_k C_k / T - (n + 1) / 2) / n`` with ``C_k`` the cumulative
    actual spend of the first ``k`` customers and ``T`` the total. Since
    ``sum_k C_k = sum_j a_j (n + 1 - j)``, ``n * T * G = sum_j a_j ((n + 1) / 2 - j)`` (``j`` = 1..n),
    which needs no division by ``T`` and so stays defined when refunds make ``T <= 0``.
    """
    n = actual_in_order.size
    weights = (n + 1) / 2.0 - np.arange(1, n + 1, dtype=float)
    return float(np.dot(actual_in_order, weights))


def normalized_gini(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Normalised Gini: the Gini of actual spend ordered by prediction / the Gini of the ideal order.

    Same as the Kaggle (Allstate / Porto Seguro) ``gini_normalized``: customers are sorted by
    ``predicted`` descending (stable: ties keep input order, as Kaggle's ``lexsort`` on the row
    index), the Lorenz curve of ``actual`` along that order is compared with the diagonal, and the
    result is divided by the same quantity for the ordering by ``actual`` itself.

    Returns 1.0 for a perfect ranking, about 0 for a random one, and -1.0 for the exactly reversed
    ranking (when ``actual`` has no ties). The common factor ``1 / (n * total)`` cancels, so the
    value is defined even when refunds make total spend zero or negative. Returns ``nan`` when
    every ``actual`` is equal (no ordering is better than another).
    """
    actual_arr, predicted_arr = _validate(actual, predicted)
    ideal = _gini_sum(np.sort(actual_arr)[::-1])
    if ideal <= 0.0:  # zero iff actual is constant (rearrangement inequality)
        return math.nan
    return _gini_sum(actual_arr[_order_by_prediction(predicted_arr)]) / ideal


def spearman(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Spearman rank correlation (``scipy.stats.spearmanr``, average ranks for ties).

    Returns 0.0 when either input is constant or has a single customer (correlation undefined).
    """
    from scipy.stats import spearmanr

    actual_arr, predicted_arr = _validate(actual, predicted)
    if actual_arr.size < 2 or np.ptp(actual_arr) == 0 or np.ptp(predicted_arr) == 0:
        return 0.0
    rho = float(spearmanr(actual_arr, predicted_arr).statistic)
    return 0.0 if math.isnan(rho) else rho


def _decile_of_rank(n: int) -> np.ndarray:
    """Decile (1 = highest prediction) of each rank position 0..n-1; sizes differ by at most one.

    Decile 1 holds ``ceil(n / 10)`` customers, so it equals the top-decile cohort.
    """
    return (np.arange(n) * N_DECILES) // n + 1


def top_decile_capture(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Share of total actual spend made by the top 10% of customers by prediction.

    The top 10% is the first ``ceil(n / 10)`` customers in prediction order (at least one). 0.1
    is what a random ranking achieves on average. Returns ``nan`` when total actual spend is
    ``<= 0`` (a share of a non-positive total is meaningless).
    """
    actual_arr, predicted_arr = _validate(actual, predicted)
    total = float(actual_arr.sum())
    if total <= 0.0:
        return math.nan
    top_n = math.ceil(actual_arr.size / N_DECILES)
    top = _order_by_prediction(predicted_arr)[:top_n]
    return float(actual_arr[top].sum()) / total


def lorenz_curve(actual: ArrayLike, predicted: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gain (Lorenz) curve of actual spend, customers ordered by prediction descending.

    Returns ``(x, y)``, both of length ``n + 1`` and starting at 0: ``x[k] = k / n`` is the share
    of customers targeted, ``y[k]`` the share of total actual spend they made (ends at 1.0; may
    exceed 1 or dip below 0 along the way when refunds are present). Raises :class:`ValueError`
    when total actual spend is ``<= 0``. See :func:`ideal_lorenz_curve` for the best possible
    curve; the random model is the diagonal ``y = x``.
    """
    actual_arr, predicted_arr = _validate(actual, predicted)
    total = float(actual_arr.sum())
    if total <= 0.0:
        raise ValueError(
            f"total actual spend is {total:g}; a Lorenz curve needs a positive total (check the label horizon)"
        )
    cumulative = np.cumsum(actual_arr[_order_by_prediction(predicted_arr)]) / total
    x = np.arange(actual_arr.size + 1, dtype=float) / actual_arr.size
    return x, np.concatenate(([0.0], cumulative))


def ideal_lorenz_curve(actual: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The Lorenz curve of a perfect model: customers ordered by their own actual spend."""
    return lorenz_curve(actual, actual)


# --------------------------------------------------------------------------- calibration


def decile_calibration(actual: ArrayLike, predicted: ArrayLike) -> pd.DataFrame:
    """Calibration table by prediction decile.

    Customers are ordered by prediction (descending, stable) and cut into 10 groups whose sizes
    differ by at most one; decile 1 holds the highest predictions. With fewer than 10 customers
    some deciles are empty and left out.

    Returns a DataFrame indexed by ``decile`` (int, 1..10) with columns ``n``,
    ``mean_predicted``, ``mean_actual``, ``sum_predicted``, ``sum_actual``; the sums add up to the
    totals of the inputs.
    """
    actual_arr, predicted_arr = _validate(actual, predicted)
    order = _order_by_prediction(predicted_arr)
    frame = pd.DataFrame(
        {
            "decile": _decile_of_rank(actual_arr.size),
            "predicted": predicted_arr[order],
            "actual": actual_arr[order],
        }
    )
    grouped = frame.groupby("decile", sort=True)
    table = pd.DataFrame(
        {
            "n": grouped.size().astype("int64"),
            "mean_predicted": grouped["predicted"].mean(),
            "mean_actual": grouped["actual"].mean(),
            "sum_predicted": grouped["predicted"].sum(),
            "sum_actual": grouped["actual"].sum(),
        }
    )
    table.index.name = "decile"
    return table


def calibration_mape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean over prediction deciles of ``|mean_predicted - mean_actual| / |mean_actual|``.

    Deciles whose mean actual spend is exactly 0 are skipped (relative error undefined); returns
    ``nan`` when every decile is skipped. A ratio, not a percentage: 0.25 means 25%.
    """
    table = decile_calibration(actual, predicted)
    usable = table[table["mean_actual"] != 0.0]
    if usable.empty:
        return math.nan
    errors = (usable["mean_predicted"] - usable["mean_actual"]).abs() / usable["mean_actual"].abs()
    return float(errors.mean())


# --------------------------------------------------------------------------- intervals


def interval_coverage(
    actual: ArrayLike, p10: ArrayLike | None, p90: ArrayLike | None
) -> float | None:
    """Share of customers with ``p10 <= actual <= p90`` (target 0.8); None when no interval is given."""
    if p10 is None or p90 is None:
        return None
    actual_arr, lower = _validate(actual, p10, "p10")
    _, upper = _validate(actual_arr, p90, "p90")
    inside = (lower <= actual_arr) & (actual_arr <= upper)
    return float(np.mean(inside))


# --------------------------------------------------------------------------- summaries


def evaluate(
    actual: ArrayLike,
    predicted: ArrayLike,
    p10: ArrayLike | None = None,
    p90: ArrayLike | None = None,
) -> dict[str, float]:
    """All scalar metrics of one model, keyed by :data:`METRIC_NAMES`.

    ``n`` is an int; ``coverage_80`` is ``nan`` when no interval is given; other undefined values
    are ``nan`` as documented on each metric.
    """
    actual_arr, predicted_arr = _validate(actual, predicted)
    coverage = interval_coverage(actual_arr, p10, p90)
    return {
        "mae": mae(actual_arr, predicted_arr),
        "rmse": rmse(actual_arr, predicted_arr),
        "gini": normalized_gini(actual_arr, predicted_arr),
        "spearman": spearman(actual_arr, predicted_arr),
        "top_decile_capture": top_decile_capture(actual_arr, predicted_arr),
        "calibration_mape": calibration_mape(actual_arr, predicted_arr),
        "bias": aggregate_bias(actual_arr, predicted_arr),
        "coverage_80": math.nan if coverage is None else coverage,
        "n": int(actual_arr.size),
        "actual_total": float(actual_arr.sum()),
        "predicted_total": float(predicted_arr.sum()),
    }


def compare(results: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Model-by-metric table: one row per model (input order), columns :data:`METRIC_NAMES` first.

    Metrics a model lacks are ``NaN``; extra metric names are appended after the standard ones.
    """
    if not results:
        raise ValueError("no models to compare: pass {model_name: evaluate(...)} with at least one model")
    extra = [name for row in results.values() for name in row if name not in METRIC_NAMES]
    columns = [*METRIC_NAMES, *dict.fromkeys(extra)]
    table = pd.DataFrame.from_dict(
        {model: dict(row) for model, row in results.items()}, orient="index", dtype=float
    ).reindex(columns=columns)
    table.index.name = "model"
    return table


def best_models(table: pd.DataFrame) -> dict[str, list[str]]:
    """For each metric in :data:`METRIC_GOALS` present in ``table`` (from :func:`compare`), the
    model(s) with the best value; ties give several models, all-NaN columns give none."""
    best: dict[str, list[str]] = {}
    for metric, goal in METRIC_GOALS.items():
        if metric not in table.columns:
            continue
        column = table[metric].astype(float)
        if goal == "max":
            score = -column
        elif goal == "min":
            score = column
        else:
            score = (column - float(goal)).abs()
        if score.isna().all():
            best[metric] = []
            continue
        best[metric] = [str(model) for model in score.index[np.isclose(score, score.min(), rtol=0, atol=1e-12)]]
    return best
