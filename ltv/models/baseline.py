"""The baseline every candidate must beat: "customers keep spending at their recent rate".

``predicted_ltv = spend rate per day x horizon_days x calibration_``, where the spend rate is

* ``spend_365d / window`` with ``window = clip(tenure_days, min_window_days, 365)`` days when
  the behaviour columns ``spend_365d`` and ``tenure_days`` are present (a customer younger than
  a year is judged on the time since the first purchase, but never on less than
  ``min_window_days``, so a one-day-old customer is not extrapolated from one day);
* otherwise ``frequency x monetary_value / (T in days)`` from the RFM columns (repeat spend
  over the customer's age), with T floored at ``min_window_days``.

``predicted_purchases`` is the analogous purchase rate (``purchase_days_365d``, the feature
store's days with a purchase in the last 365 days, or ``frequency``)
x horizon. p10/p50/p90: purchases ~ Poisson(predicted_purchases) times the mean ticket
(``predicted_ltv / predicted_purchases``), i.e. ticket size is treated as fixed, and
``prob_purchase`` = P(Poisson > 0). A customer with a spend rate but no purchase rate (spend
without a counted purchase day) gets p10 = p50 = 0 and p90 = ``predicted_ltv``. ``p_alive`` is
None: the baseline has no notion of churn.

``fit`` learns no customer-specific state. With ``calibrate=True`` and ``TrainingData.examples``
holding ``label_spend``, it learns one global factor ``calibration_ = sum(label_spend) /
sum(raw prediction)`` over the examples (clipped to [0.1, 10]); otherwise the factor is 1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import poisson

from ltv.models.base import DAYS_PER_UNIT, LTVModel, TrainingData

LOOKBACK_DAYS = 365
CALIBRATION_RANGE = (0.1, 10.0)


def _column(features: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in features.columns:
        return None
    values = pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)
    return np.where(np.isfinite(values), values, 0.0)


class RecentSpendBaseline(LTVModel):
    """Recent spend rate extrapolated over the horizon (see module docstring)."""

    name: ClassVar[str] = "baseline"
    family: ClassVar[str] = "baseline"
    #: examples are used only for the one global calibration factor (works without them)
    needs_examples: ClassVar[bool] = True

    def __init__(self, min_window_days: int = 90, calibrate: bool = True) -> None:
        """
        Args:
            min_window_days: shortest window (days) a spend rate is computed over.
            calibrate: learn one global scale factor from ``TrainingData.examples`` if present.
        """
        self.min_window_days = min_window_days
        self.calibrate = calibrate

    def fit(self, data: TrainingData) -> RecentSpendBaseline:
        """Record the time unit; optionally learn the global calibration factor from examples."""
        if data.time_unit not in DAYS_PER_UNIT:
            raise ValueError(f"unknown time_unit {data.time_unit!r}; use one of {sorted(DAYS_PER_UNIT)}")
        self.time_unit_ = data.time_unit
        self.calibration_ = 1.0
        examples = data.examples
        if self.calibrate and examples is not None and "label_spend" in examples.columns and len(examples):
            raw_spend, _ = self._rates_per_day(examples)
            predicted = float(raw_spend.sum() * data.horizon_days)
            actual = float(pd.to_numeric(examples["label_spend"], errors="coerce").fillna(0.0).clip(lower=0).sum())
            if predicted > 0 and actual > 0:
                self.calibration_ = float(np.clip(actual / predicted, *CALIBRATION_RANGE))
        return self

    def _rates_per_day(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(spend per day, purchases per day) for each row, before calibration."""
        n_rows = len(features)
        spend_365d = _column(features, "spend_365d")
        tenure_days = _column(features, "tenure_days")
        purchases_365d = _column(features, "purchase_days_365d")  # the feature store's column
        if spend_365d is not None and tenure_days is not None:
            window = np.clip(tenure_days, self.min_window_days, LOOKBACK_DAYS)
            spend_rate = np.maximum(spend_365d, 0.0) / window
            count = purchases_365d if purchases_365d is not None else _column(features, "frequency")
            purchase_rate = np.maximum(count, 0.0) / window if count is not None else np.zeros(n_rows)
            return spend_rate, purchase_rate
        frequency = _column(features, "frequency")
        monetary = _column(features, "monetary_value")
        age = _column(features, "T")
        if frequency is None or monetary is None or age is None:
            raise ValueError(
                "baseline needs spend_365d + tenure_days, or frequency + monetary_value + T "
                f"(found: {list(features.columns)})"
            )
        age_days = np.maximum(age * DAYS_PER_UNIT[self.time_unit_], self.min_window_days)
        frequency = np.maximum(frequency, 0.0)
        return frequency * np.maximum(monetary, 0.0) / age_days, frequency / age_days

    def _predict(self, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        spend_rate, purchase_rate = self._rates_per_day(features)
        ltv = spend_rate * horizon_days * self.calibration_
        purchases = purchase_rate * horizon_days
        buying = purchases > 0
        rate = np.where(buying, purchases, 1.0)  # Poisson needs a positive mean; rows without one are set below
        with np.errstate(divide="ignore", invalid="ignore"):
            ticket = np.where(buying, ltv / rate, 0.0)

        def quantile(level: float, without_purchases: np.ndarray | float) -> np.ndarray:
            return np.where(buying, poisson.ppf(level, rate) * ticket, without_purchases)

        return pd.DataFrame(
            {
                "predicted_ltv": ltv,
                "predicted_ltv_p10": quantile(0.1, 0.0),
                "predicted_ltv_p90": quantile(0.9, ltv),
                "predicted_purchases": purchases,
                "p_alive": None,
                "predicted_ltv_p50": quantile(0.5, 0.0),
                "prob_purchase": -np.expm1(-purchases),
            }
        )

    def _get_state(self, directory: Path) -> dict[str, Any]:
        return {"time_unit": self.time_unit_, "calibration": self.calibration_}

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        self.time_unit_ = state["time_unit"]
        self.calibration_ = float(state["calibration"])
