"""Conformal calibration of a model's spend quantiles on its own back-test windows.

A quantile booster's p10/p50/p90 come with no guarantee: trees fitted to the pinball loss on past
cutoffs can be too narrow or shifted when the next horizon comes. Split conformal prediction
(one-sided, per level, as in conformalized quantile regression, Romano, Patterson & Candès 2019)
turns them into quantiles whose level holds on new customers from the same process:

* the calibration set is the model's out-of-sample back-test predictions: on each window the
  model was fitted as of the window's start and predicted customers it never saw the outcome of;
* each customer's conformity score at level ``tau`` is ``g(actual) - g(q_tau)`` with the
  monotone ``g(y) = asinh(y / scale)`` (additive near 0, logarithmic for large spend, defined for
  net spend below 0; ``scale`` = the median absolute non-zero spend of the calibration set);
* the shift ``c_tau`` is the ``ceil((n + 1) tau)``-th smallest of the ``n`` scores, and the
  calibrated quantile is ``g^-1(g(q_tau) + c_tau)``. For a new customer exchangeable with the
  calibration set, ``P(actual <= calibrated q_tau) >= tau`` (and ``P(actual < ...) <= tau``
  up to ``1/(n+1)`` when scores do not tie).

Calibrated quantiles never go below ``floor``, the lowest spend in the calibration set (0
unless refunds outweighed purchases there): spend has a point mass at its lowest value (no
purchase), and a shift that moves a quantile below every possible value only pushes it further
from the customer's own quantile; raising it to the floor keeps both sides of the level
(nothing is below the floor). Crossing levels after the shifts are rearranged (sorted per row),
which keeps each level's guarantee. The back-test judges calibrated quantiles honestly with :func:`cross_calibrated`:
each window's quantiles are calibrated on the other windows only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

LEVELS = (0.1, 0.5, 0.9)
COLUMNS = {0.1: "predicted_ltv_p10", 0.5: "predicted_ltv_p50", 0.9: "predicted_ltv_p90"}


@dataclass(frozen=True)
class QuantileCalibration:
    """Shifts ``c_tau`` in ``asinh(y / scale)`` space, per level, from ``n`` calibration customers,
    and the ``floor`` no calibrated quantile goes below."""

    scale: float
    shifts: dict[float, float]
    n: int
    floor: float = 0.0

    def apply(self, quantiles: pd.DataFrame) -> pd.DataFrame:
        """``quantiles`` (the :data:`COLUMNS` present) calibrated and rearranged; other columns unchanged."""
        out = quantiles.copy()
        present = [level for level in LEVELS if COLUMNS[level] in out.columns and level in self.shifts]
        if not present:
            return out
        values = np.column_stack([
            self.scale * np.sinh(np.arcsinh(out[COLUMNS[level]].to_numpy(float) / self.scale) + self.shifts[level])
            for level in present
        ])
        values = np.sort(np.maximum(values, self.floor), axis=1)
        for j, level in enumerate(present):
            out[COLUMNS[level]] = values[:, j]
        return out

    def as_dict(self) -> dict[str, object]:
        return {"scale": self.scale, "shifts": {str(k): v for k, v in self.shifts.items()}, "n": self.n,
                "floor": self.floor,
                "method": "split conformal, one-sided per level, asinh(y / scale) scores, back-test windows"}

    @classmethod
    def from_dict(cls, document: dict[str, object]) -> QuantileCalibration:
        shifts = {float(k): float(v) for k, v in dict(document["shifts"]).items()}  # type: ignore[arg-type]
        return cls(scale=float(document["scale"]), shifts=shifts, n=int(document["n"]),  # type: ignore[arg-type]
                   floor=float(document.get("floor", 0.0)))  # type: ignore[arg-type]


def fit_calibration(frames: list[pd.DataFrame]) -> QuantileCalibration | None:
    """The calibration of back-test ``frames`` (``label_spend`` + quantile columns); None when they
    hold no customer or the model gives no quantile at some level."""
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty or any(frame[COLUMNS[level]].isna().all() for level in LEVELS):
        return None
    actual = frame["label_spend"].to_numpy(float)
    if not np.isfinite(actual).all():
        raise ValueError(f"calibration labels hold {int((~np.isfinite(actual)).sum())} NaN/inf values")
    nonzero = np.abs(actual[actual != 0])
    scale = float(np.median(nonzero)) if nonzero.size else 1.0
    n = actual.size
    shifts = {}
    for level in LEVELS:
        predicted = frame[COLUMNS[level]].to_numpy(float)
        scores = np.sort(np.arcsinh(actual / scale) - np.arcsinh(predicted / scale))
        rank = min(max(math.ceil((n + 1) * level), 1), n)
        shifts[level] = float(scores[rank - 1])
    return QuantileCalibration(scale=scale, shifts=shifts, n=n, floor=min(0.0, float(actual.min())))


def cross_calibrated(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Each window's frame with its quantiles calibrated on the other windows (an honest back-test of
    the calibrated model); the frames unchanged when there is a single window."""
    if len(frames) < 2:
        return frames
    out = []
    for k, frame in enumerate(frames):
        calibration = fit_calibration([f for j, f in enumerate(frames) if j != k])
        out.append(calibration.apply(frame) if calibration is not None else frame)
    return out


__all__ = ["COLUMNS", "LEVELS", "QuantileCalibration", "cross_calibrated", "fit_calibration"]
