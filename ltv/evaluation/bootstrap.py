"""Paired bootstrap over customers: how sure is "model A beats model B"?

The back-test gives, for every customer and back-test window, what the customer really spent
and what each model predicted. One bootstrap replicate draws customers with replacement (all of
a customer's windows together, so a customer seen in three overlapping windows is one draw, not
three independent ones) and recomputes every model's metric on the same draw; the difference
between two models on the same replicates is *paired*, so the noise both share (an unusually
big spender in the window) cancels. The percentile interval of those differences is the
evidence the gate (:mod:`ltv.training.gate`) acts on.

Metrics on a replicate (``w`` = how many times each row was drawn):

* ``rmse`` / ``mae``: pooled over all windows' rows, ``sqrt(sum w e^2 / sum w)``;
* ``bias``: ``sum w predicted / sum w actual - 1`` pooled;
* ``gini``: the normalized Gini of each window (a drawn customer counts ``w`` times, at its rank),
  averaged over windows weighted by their drawn size;
* any other name in :data:`ltv.evaluation.metrics.METRIC_GOALS`: recomputed on the expanded
  sample per window (slower; fine for the line sizes a CI needs).

Above :data:`MAX_CUSTOMERS` customers the intervals are computed on a uniform sample of that
many customers (the point estimates are not): the intervals are then wider than they need to
be, never narrower.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ltv.evaluation import metrics as m

#: customers in a bootstrap (a uniform sample above it)
MAX_CUSTOMERS = 50_000
#: replicates computed at once (memory: CHUNK x customers weights)
CHUNK = 100
HIGHER_IS_BETTER = {"gini": True, "spearman": True, "top_decile_capture": True, "rmse": False, "mae": False}


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap percentile interval at ``level``."""

    estimate: float
    low: float
    high: float
    level: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}

    def excludes_zero_above(self, margin: float = 0.0) -> bool:
        """The whole interval is above ``margin`` (a significant improvement)."""
        return math.isfinite(self.low) and self.low > margin

    def __str__(self) -> str:
        return f"{self.estimate:+.4g} [{self.low:+.4g}, {self.high:+.4g}]"


@dataclass
class BacktestSample:
    """Per-row back-test results, rows = (customer, window) pairs, aligned across models."""

    customer: np.ndarray  # int code of the customer (same code in every window)
    window: np.ndarray  # window index of the row
    actual: np.ndarray
    predicted: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n = len(self.actual)
        for name, values in self.predicted.items():
            if len(values) != n or not np.isfinite(values).all():
                raise ValueError(f"{name}: {len(values)} predictions for {n} rows, or NaN/inf among them")


def _weighted_gini(actual: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Normalized Gini per replicate (rows of ``weights``) of one window.

    A row drawn ``w`` times occupies ``w`` consecutive ranks: with ``C`` the drawn count before it in
    the order, its copies' mean rank is ``C + (w + 1) / 2``, so the Gini sum of the expanded sample
    is ``sum w a ((N + 1) / 2 - C - (w + 1) / 2)`` (see :func:`ltv.evaluation.metrics._gini_sum`).
    """
    def gini_sum(order: np.ndarray) -> np.ndarray:
        w = weights[:, order]
        a = actual[order]
        before = np.cumsum(w, axis=1) - w
        total = w.sum(axis=1, keepdims=True)
        return (w * a * ((total + 1) / 2.0 - before - (w + 1) / 2.0)).sum(axis=1)

    by_prediction = np.argsort(-predicted, kind="stable")
    by_actual = np.argsort(-actual, kind="stable")
    ideal = gini_sum(by_actual)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal > 0, gini_sum(by_prediction) / ideal, np.nan)


def _metric(name: str, sample: BacktestSample, predicted: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``name`` of one model for each replicate (rows of ``weights``, one weight per sample row)."""
    actual = sample.actual
    if name in ("rmse", "mae", "bias"):
        total = weights.sum(axis=1)
        if name == "rmse":
            return np.sqrt(weights @ (predicted - actual) ** 2 / total)
        if name == "mae":
            return weights @ np.abs(predicted - actual) / total
        with np.errstate(invalid="ignore", divide="ignore"):
            return weights @ predicted / (weights @ actual) - 1.0
    values = np.zeros(len(weights))
    sizes = np.zeros(len(weights))
    for window in np.unique(sample.window):
        rows = sample.window == window
        w = weights[:, rows]
        if name == "gini":
            per = _weighted_gini(actual[rows], predicted[rows], w)
        else:
            function = {"spearman": m.spearman, "top_decile_capture": m.top_decile_capture}[name]
            per = np.array([function(np.repeat(actual[rows], k), np.repeat(predicted[rows], k)) for k in w])
        size = w.sum(axis=1)
        defined = ~np.isnan(per)  # a window where the metric is undefined gets no weight
        values += np.where(defined, per * size, 0.0)
        sizes += np.where(defined, size, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, values / sizes, np.nan)


def point_estimate(name: str, sample: BacktestSample, model: str) -> float:
    """The metric on the sample itself (every row once)."""
    return float(_metric(name, sample, sample.predicted[model], np.ones((1, len(sample.actual))))[0])


def replicates(
    sample: BacktestSample, names: list[str], models: list[str], n_boot: int = 1000, seed: int = 0
) -> dict[tuple[str, str], np.ndarray]:
    """``(metric, model) -> n_boot`` replicate values, every model on the same draws of customers."""
    rng = np.random.default_rng(seed)
    codes, row_customer = np.unique(sample.customer, return_inverse=True)
    keep = np.ones(len(sample.actual), dtype=bool)
    n_customers = len(codes)
    if n_customers > MAX_CUSTOMERS:
        chosen = np.zeros(n_customers, dtype=bool)
        chosen[rng.choice(n_customers, MAX_CUSTOMERS, replace=False)] = True
        keep = chosen[row_customer]
        _, row_customer = np.unique(row_customer[keep], return_inverse=True)
        n_customers = MAX_CUSTOMERS
    sub = BacktestSample(sample.customer[keep], sample.window[keep], sample.actual[keep],
                         {k: v[keep] for k, v in sample.predicted.items() if k in models})
    out: dict[tuple[str, str], list[np.ndarray]] = {(n, k): [] for n in names for k in models}
    done = 0
    while done < n_boot:
        size = min(CHUNK, n_boot - done)
        draws = rng.multinomial(n_customers, np.full(n_customers, 1.0 / n_customers), size=size)
        weights = draws[:, row_customer].astype(float)
        for name in names:
            for model in models:
                out[(name, model)].append(_metric(name, sub, sub.predicted[model], weights))
        done += size
    return {key: np.concatenate(parts) for key, parts in out.items()}


def interval(estimate: float, values: np.ndarray, level: float) -> Interval:
    """Percentile interval of ``values`` (NaN replicates ignored) around ``estimate``."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not math.isfinite(estimate):
        return Interval(estimate, math.nan, math.nan, level)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return Interval(float(estimate), float(low), float(high), level)


def improvement(
    name: str, sample: BacktestSample, reps: Mapping[tuple[str, str], np.ndarray], model: str, reference: str,
    level: float,
) -> Interval:
    """How much better ``model`` is than ``reference`` on ``name`` (positive = better), with its interval."""
    sign = 1.0 if HIGHER_IS_BETTER[name] else -1.0
    estimate = sign * (point_estimate(name, sample, model) - point_estimate(name, sample, reference))
    return interval(estimate, sign * (reps[(name, model)] - reps[(name, reference)]), level)


def ratio(
    name: str, sample: BacktestSample, reps: Mapping[tuple[str, str], np.ndarray], model: str, reference: str,
    level: float,
) -> Interval:
    """``model``'s ``name`` divided by ``reference``'s, with its interval (e.g. an RMSE ratio)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = point_estimate(name, sample, model) / point_estimate(name, sample, reference)
        return interval(estimate, reps[(name, model)] / reps[(name, reference)], level)


def metric_interval(
    name: str, sample: BacktestSample, reps: Mapping[tuple[str, str], np.ndarray], model: str, level: float
) -> Interval:
    return interval(point_estimate(name, sample, model), reps[(name, model)], level)


__all__ = ["BacktestSample", "Interval", "improvement", "interval", "metric_interval", "point_estimate", "ratio",
           "replicates"]
