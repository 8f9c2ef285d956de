"""Predictive variance of horizon spend for models without a distribution of their own.

BTYD models give each customer's exact predictive variance (:mod:`ltv.models.btyd.predictive`).
The baseline and the boosted models predict a mean (and quantiles) only; their variance comes from
a Tweedie variance function whose dispersion is fitted on the model's own back-test windows::

    Var[S_i] = phi * |mu_i| ** power

with ``mu_i`` the customer's forecast (``predicted_ltv``), ``power`` the model's Tweedie power (the
spend booster's ``tweedie_variance_power``, 0 -- a constant variance -- for its squared-error
objective; :data:`DEFAULT_POWER` for the baseline) and

    phi = sum_i (y_i - mu_i) ** 2 / sum_i |mu_i| ** power

over every back-test customer (the windows pooled): out of sample, the summed variance equals the
summed squared error, so the variance of a total over a large set of customers is calibrated on the
model's own history (the moment estimator of a Tweedie GLM's dispersion, with held-out instead of
in-sample residuals). What it cannot say: customers with ``mu_i = 0`` get variance 0, as a Tweedie
model states; the variance of a total assumes customers independent given the forecast.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: the Tweedie power of models without one of their own (compound Poisson-Gamma)
DEFAULT_POWER = 1.5


@dataclass(frozen=True)
class SpendDispersion:
    """``phi`` and ``power`` of ``Var[S] = phi |mu|^power``, fitted on ``n`` back-test customers."""

    phi: float
    power: float
    n: int

    def variance(self, mean: np.ndarray) -> np.ndarray:
        """The predictive variance for forecasts ``mean``."""
        return self.phi * np.abs(np.asarray(mean, dtype=float)) ** self.power

    def as_dict(self) -> dict[str, object]:
        return {"phi": self.phi, "power": self.power, "n": self.n,
                "method": "Tweedie variance phi |mu|^power, phi by moments on the back-test windows"}

    @classmethod
    def from_dict(cls, document: dict[str, object]) -> SpendDispersion:
        return cls(phi=float(document["phi"]), power=float(document["power"]), n=int(document["n"]))  # type: ignore[arg-type]


def fit_dispersion(frames: list[pd.DataFrame], power: float) -> SpendDispersion | None:
    """The dispersion of back-test ``frames`` (``label_spend``, ``predicted_ltv``); None when they hold
    no customer or every forecast is 0 (nothing to scale). Non-finite values raise ValueError."""
    if not 0.0 <= power <= 2.0:
        raise ValueError(f"Tweedie power must be in [0, 2], got {power}")
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        return None
    actual = frame["label_spend"].to_numpy(float)
    mean = frame["predicted_ltv"].to_numpy(float)
    bad = ~(np.isfinite(actual) & np.isfinite(mean))
    if bad.any():
        raise ValueError(f"dispersion: {int(bad.sum())} back-test rows hold NaN/inf labels or forecasts")
    scale = float((np.abs(mean) ** power).sum())
    if scale <= 0:
        return None
    phi = float(((actual - mean) ** 2).sum()) / scale
    if not math.isfinite(phi):
        raise ValueError(f"dispersion is not finite ({phi}) on {actual.size} back-test customers")
    return SpendDispersion(phi=phi, power=float(power), n=int(actual.size))


def cross_dispersed(frames: list[pd.DataFrame], power: float) -> list[pd.DataFrame]:
    """Each window's frame with ``predicted_ltv_variance`` from the dispersion of the OTHER windows (an
    honest back-test of the variance); the frames unchanged when there is a single window."""
    if len(frames) < 2:
        return frames
    out = []
    for k, frame in enumerate(frames):
        dispersion = fit_dispersion([f for j, f in enumerate(frames) if j != k], power)
        frame = frame.copy()
        if dispersion is not None:
            frame["predicted_ltv_variance"] = dispersion.variance(frame["predicted_ltv"].to_numpy(float))
        out.append(frame)
    return out


__all__ = ["DEFAULT_POWER", "SpendDispersion", "cross_dispersed", "fit_dispersion"]
