"""Rolling-origin back-test windows: one line's windows, each model's aligned predictions on them,
pooled metrics, and the bootstrap sample the gate (:mod:`ltv.training.gate`) decides on.

Window ``k`` (newest first) ends at ``as_of - k * step`` and is fitted as of ``end - horizon``;
its customers are the snapshot at the fit date, labelled with what they spent in the window.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ltv.errors import LTVError
from ltv.evaluation.metrics import evaluate
from ltv.evaluation.quantiles import LEVELS, quantile_metrics
from ltv.models.base import PREDICTION_COLUMNS, LTVModel
from ltv.training.data import KnownData
from ltv.training.gate import GateDecision

#: back-test customers per window brought to the driver (a uniform sample beyond it): every model
#: predicts the same collected rows there, so a window costs one Spark job, not one per model
MAX_EVAL_ROWS = 300_000


def predict_window(model: LTVModel, rows: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Back-test predictions of ``model`` on one window's collected ``rows`` (sorted by
    ``customer_id``, so every model's predictions align): ``customer_id``, ``label_spend`` and
    :data:`~ltv.models.base.PREDICTION_COLUMNS` (checked by :meth:`LTVModel.predict`)."""
    predicted = model.predict(rows, horizon_days)
    return pd.concat([rows[["customer_id", "label_spend"]], predicted[list(PREDICTION_COLUMNS)]], axis=1)


def window_metrics(pdf: pd.DataFrame) -> dict[str, float]:
    """:func:`~ltv.evaluation.metrics.evaluate` of the point forecast and
    :func:`~ltv.evaluation.quantiles.quantile_metrics` of the quantiles and purchase probability."""
    actual = pdf["label_spend"].to_numpy(float)
    metrics = evaluate(actual, pdf["predicted_ltv"].to_numpy(float),
                       pdf["predicted_ltv_p10"].to_numpy(float), pdf["predicted_ltv_p90"].to_numpy(float))
    quantiles = {level: pdf[f"predicted_ltv_p{round(level * 100)}"].to_numpy(float) for level in LEVELS}
    return {**metrics, **quantile_metrics(actual, quantiles, pdf["prob_purchase"].to_numpy(float)),
            "variance_ratio": variance_ratio(actual, pdf["predicted_ltv"].to_numpy(float),
                                             pdf["predicted_ltv_variance"].to_numpy(float))}


def variance_ratio(actual: np.ndarray, predicted: np.ndarray, variance: np.ndarray) -> float:
    """Summed squared error / summed predictive variance: 1 when the variance is calibrated (> 1: the
    model is too sure of itself, < 1: too unsure). NaN without a variance, or with an infinite one."""
    if variance.size == 0 or np.isnan(variance).all() or not np.isfinite(variance).all():
        return float("nan")
    total = float(variance.sum())
    return float(((actual - predicted) ** 2).sum()) / total if total > 0 else float("nan")


@dataclass
class Window:
    """One rolling-origin back-test window: fit as of ``fit_cutoff``, judged on ``(fit_cutoff, end]``."""

    index: int
    fit_cutoff: dt.date
    end: dt.date
    customers: int = 0
    rows: Any = None  # the window's labelled snapshot on the driver (pandas), sorted by customer_id

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "fit_cutoff": self.fit_cutoff.isoformat(), "end": self.end.isoformat(),
                "customers": self.customers}


def backtest_windows(known: KnownData, as_of: dt.date, horizon: int, count: int, step_days: int,
                     seed: int = 0, supervised: bool = False) -> tuple[list[Window], list[str]]:
    """The line's windows, newest first (window 0 ends at ``as_of``), and why any were skipped.

    Young lines, on purpose: a window whose fit date has no customers yet is skipped; with
    ``supervised`` candidates, so is an older window whose fit date leaves them no labelled
    history (its first example cutoff, ``fit date - horizon``, before the line's first day) while
    the newest window has some: every candidate is then judged on the same windows, rather than
    the supervised ones failing on an old window. Above :data:`MAX_EVAL_ROWS` customers a window is
    a uniform sample of them. Each window's rows are collected once (Arrow), for every model.
    """
    windows, skipped = [], []
    first_day = known.first_day() if supervised else None
    history_at = (lambda cutoff: first_day is not None and cutoff - dt.timedelta(days=horizon) >= first_day)
    newest_has_history = supervised and history_at(as_of - dt.timedelta(days=horizon))
    for index in range(count):
        end = as_of - dt.timedelta(days=index * step_days)
        cutoff = end - dt.timedelta(days=horizon)
        if newest_has_history and not history_at(cutoff):
            skipped.append(f"window {index} ({cutoff}, {end}]: supervised candidates have no labelled history "
                           f"before {cutoff} (the line starts {first_day})")
            continue
        n = known.snapshot(cutoff).count()  # = the labelled rows (a left join); the snapshot is cached
        frame = known.labelled(cutoff, horizon)
        if n == 0:
            skipped.append(f"window {index} ({cutoff}, {end}]: no customers before {cutoff}")
            continue
        if n > MAX_EVAL_ROWS:
            frame = frame.sample(fraction=MAX_EVAL_ROWS / n, seed=seed + index)
        rows = frame.toPandas().sort_values("customer_id", kind="stable").reset_index(drop=True)
        windows.append(Window(index, cutoff, end, n, rows))
    return windows, skipped


def bootstrap_sample(per_model: dict[str, list[pd.DataFrame]], windows: list[Window]):
    """The models' aligned per-row predictions over every window, as a bootstrap sample."""
    from ltv.evaluation.bootstrap import BacktestSample

    if not per_model:
        return None
    first = next(iter(per_model.values()))
    ids = pd.concat([w["customer_id"] for w in first], ignore_index=True)
    for name, frames in per_model.items():
        if not pd.concat([w["customer_id"] for w in frames], ignore_index=True).equals(ids):
            raise LTVError(f"{name}: back-test rows do not align with the other models' (same windows, other customers)")
    return BacktestSample(
        customer=pd.factorize(ids)[0],
        window=np.concatenate([np.full(len(f), w.index) for f, w in zip(first, windows)]),
        actual=np.concatenate([f["label_spend"].to_numpy(float) for f in first]),
        predicted={name: np.concatenate([f["predicted_ltv"].to_numpy(float) for f in frames])
                   for name, frames in per_model.items()},
    )


def pooled_metrics(frames: list[pd.DataFrame], per_window: list[dict[str, float]]) -> dict[str, float]:
    """Every window's rows together; the Gini is the windows' size-weighted mean of ``per_window``'s
    (:func:`window_metrics` of each frame: rankings are per window)."""
    pooled = window_metrics(pd.concat(frames, ignore_index=True))
    ginis = [(m["gini"], len(f)) for m, f in zip(per_window, frames)]
    usable = [(g, n) for g, n in ginis if np.isfinite(g)]
    pooled["gini"] = sum(g * n for g, n in usable) / sum(n for _, n in usable) if usable else float("nan")
    pooled["windows"] = len(frames)
    return pooled


def decision_lines(decision: GateDecision) -> list[str]:
    """The comparisons behind a decision, one line each (what `ltv train` prints)."""
    lines = []
    for item in decision.evidence.get("comparisons", []):
        i = item["improvement"]
        lines.append(f"  {item['model']} vs {item['reference']} on {item['metric']}: improvement {i['estimate']:+.4g} "
                     f"[{i['low']:+.4g}, {i['high']:+.4g}] ({i['level']:.0%} interval)")
    return [*lines, f"  -> {decision.action}: {decision.reason}"]


__all__ = ["MAX_EVAL_ROWS", "Window", "backtest_windows", "bootstrap_sample", "decision_lines", "pooled_metrics",
           "predict_window", "variance_ratio", "window_metrics"]
