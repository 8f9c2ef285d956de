"""BTYD ("buy 'til you die") models: a purchase process plus Gamma-Gamma spend.

* ``bgnbd_gg``: BG/NBD [FHL05] for purchases + Gamma-Gamma [N025] for spend per purchase.
* ``pareto_gg``: Pareto/NBD [N009] for purchases + Gamma-Gamma for spend per purchase.

Fitting uses only the condensed ``TrainingData.patterns`` / ``spend_patterns`` (one row per
distinct history, with a ``weight``), by maximum likelihood converged to a stated tolerance
(see :mod:`ltv.models.btyd.fit`; a fit that does not converge raises
:class:`~ltv.models.btyd.fit.BTYDFitError`); prediction uses the closed forms of
:mod:`ltv.models.btyd.math` and needs no lifetimes object, so a model loaded from JSON predicts
exactly as the fitted one.

Inputs to ``predict``: ``frequency`` (repeat purchase periods), ``recency`` and ``T`` in the
time unit recorded at fit (``time_unit_``), ``monetary_value`` (mean spend of the repeat
purchases). Outputs over ``horizon_days`` (converted to that unit): expected purchases
(conditional expectation), ``p_alive``, ``predicted_ltv`` = purchases x Gamma-Gamma conditional
mean spend x ``net_share_`` (undiscounted, input currency), and from the exact predictive
distribution of :mod:`ltv.models.btyd.predictive` (no random draws): ``prob_purchase`` = P(at
least one purchase in the horizon) and the spend quantiles p10/p50/p90, scaled by the same share.
Models saved with the 0.3 Monte Carlo settings (``n_draws``, ``random_state``) load, and predict
with the exact distribution.

Net spend. Gamma-Gamma models what customers pay per purchase (refunds never create a purchase
and are kept out of ``monetary_value``), while the labels every model is judged on are NET spend.
``net_share_`` = 1 - refunds / gross spend over the fit snapshot (``TrainingData.refunds``,
:func:`ltv.models.base.net_share`) turns the gross forecast into a net one; models saved before
it existed load with 1.0 (the gross forecast they always made).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ltv.models.btyd import fit as bf
from ltv.models.btyd import math as bm
from ltv.models.btyd import predictive as bp
from ltv.models.base import (
    DAYS_PER_UNIT, QUANTILE_LEVELS, LTVModel, ModelOutputError, TrainingData, horizon_in_units, net_share,
)
from ltv.models.timing import check_edges, shares_from_path

HISTORY_COLUMNS = ("frequency", "recency", "T", "monetary_value")


def customer_history(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T, m) arrays from feature rows, made safe for the formulas.

    Missing/NaN values become 0, frequency is rounded and >= 0, T >= 0, recency in [0, T] and 0
    without repeats; ``monetary_value`` is left as is (<= 0 means "use the population mean").
    """
    missing = [c for c in HISTORY_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"features lack BTYD columns {missing} (found: {list(features.columns)})")

    def column(name: str) -> np.ndarray:
        values = pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isfinite(values), values, 0.0)

    x = np.maximum(np.round(column("frequency")), 0.0)
    T = np.maximum(column("T"), 0.0)
    t_x = np.where(x > 0, np.clip(column("recency"), 0.0, T), 0.0)
    return x, t_x, T, column("monetary_value")


class _BTYDGammaGamma(LTVModel):
    """Shared fit / predict / persistence; subclasses name the purchase process."""

    family: ClassVar[str] = "btyd"
    needs_patterns: ClassVar[bool] = True

    #: the purchase process, a key of :data:`ltv.models.btyd.predictive.PMF_FUNCTIONS`
    process: ClassVar[str] = ""
    #: the Monte Carlo interval settings before 0.4 (intervals are exact since)
    legacy_params: ClassVar[tuple[str, ...]] = ("n_draws", "random_state")

    def __init__(self, max_penalizer: float = 0.1) -> None:
        """
        Args:
            max_penalizer: last rung of the penalizer ladder ``0, 1e-4, 1e-3, ...`` tried when
                an unpenalised fit does not converge (0 disables the retries).
        """
        self.max_penalizer = max_penalizer


    # -- the purchase process (subclass hooks) ------------------------------------------------
    @staticmethod
    def _fit_purchases(patterns: pd.DataFrame, max_penalizer: float) -> bf.FitResult:
        raise NotImplementedError

    @staticmethod
    def _p_alive(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _expected_purchases(
        params: dict[str, float], t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError

    # -- learning -----------------------------------------------------------------------------
    def fit(self, data: TrainingData) -> _BTYDGammaGamma:
        """Fit the purchase process on ``data.patterns`` and Gamma-Gamma on ``data.spend_patterns``."""
        if data.time_unit not in DAYS_PER_UNIT:
            raise ValueError(f"unknown time_unit {data.time_unit!r}; use one of {sorted(DAYS_PER_UNIT)}")
        if data.patterns is None:
            raise ValueError(f"{self.name} needs TrainingData.patterns (frequency, recency, T, weight)")
        if data.spend_patterns is None:
            raise ValueError(f"{self.name} needs TrainingData.spend_patterns (frequency, monetary_value, weight)")
        purchases = self._fit_purchases(data.patterns, self.max_penalizer)
        spend = bf.fit_gamma_gamma(data.spend_patterns, self.max_penalizer)
        self.time_unit_ = data.time_unit
        self.net_share_ = net_share(data.refunds, self.name)
        self.purchase_fit_ = _fit_record(purchases)
        self.spend_fit_ = _fit_record(spend)
        return self

    @property
    def purchase_params_(self) -> dict[str, float]:
        return self.purchase_fit_["params"]

    @property
    def spend_params_(self) -> dict[str, float]:
        return self.spend_fit_["params"]

    @property
    def converged_(self) -> bool:
        return bool(self.purchase_fit_["converged"] and self.spend_fit_["converged"])

    # -- prediction ---------------------------------------------------------------------------
    def expected(self, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        """The point forecasts only: ``predicted_ltv``, ``predicted_purchases`` and ``p_alive``.

        What :meth:`predict` gives in those columns, without the predictive distribution's cost
        (``hybrid`` uses its BTYD this way). Non-finite values raise :class:`ModelOutputError`.
        """
        self._check_fitted()
        t = horizon_in_units(horizon_days, self.time_unit_)
        history = customer_history(features)
        with np.errstate(all="ignore"):
            out = self._expected(t, *history)
        frame = pd.DataFrame(out, index=features.index)
        broken = ~np.isfinite(frame.to_numpy(dtype=float)).all(axis=1)
        if broken.any():
            raise ModelOutputError(f"model {self.name}: non-finite point forecasts in {int(broken.sum())} rows "
                                   f"(first at {np.flatnonzero(broken)[:5].tolist()})")
        return frame

    def _expected(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray]:
        purchase_params = self.purchase_params_
        p_alive = self._p_alive(purchase_params, x, t_x, T)
        purchases = self._expected_purchases(purchase_params, t, x, t_x, T)
        spend_per_purchase = bm.gamma_gamma_expected_spend(self.spend_params_, x, m)
        return {"predicted_ltv": purchases * spend_per_purchase * self.net_share_, "predicted_purchases": purchases,
                "p_alive": p_alive}

    def spend_shares(self, features: pd.DataFrame, horizon_days: int, edges_days: np.ndarray) -> np.ndarray:
        """The expected purchase path: ``(E[Y(t_k)] - E[Y(t_{k-1})]) / E[Y(H)]`` per period
        (Gamma-Gamma's spend per purchase does not depend on time). Raises
        :class:`ModelOutputError` when the path is not finite or decreases."""
        self._check_fitted()
        edges = check_edges(edges_days, horizon_days)
        x, t_x, T, _ = customer_history(features)
        cumulative = np.zeros((len(x), len(edges)))
        with np.errstate(all="ignore"):
            for k, edge in enumerate(edges[1:], start=1):
                cumulative[:, k] = self._expected_purchases(
                    self.purchase_params_, horizon_in_units(edge, self.time_unit_), x, t_x, T)
        try:
            return shares_from_path(cumulative, edges)
        except ValueError as exc:
            raise ModelOutputError(f"model {self.name}: {exc}") from None

    def _predict(self, features: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        t = horizon_in_units(horizon_days, self.time_unit_)
        x, t_x, T, m = customer_history(features)
        with np.errstate(all="ignore"):
            # not repaired here: NaN/inf (an overflow at extreme histories) fails LTVModel.predict loudly
            point = self._expected(t, x, t_x, T, m)
            # the distribution of rows whose point forecast is broken is left NaN: the check names them
            usable = np.isfinite(point["p_alive"]) & np.isfinite(point["predicted_purchases"]) \
                & np.isfinite(point["predicted_ltv"])
        forecast = bp.horizon_forecast(
            self.process, self.purchase_params_, self.spend_params_, t, x[usable], t_x[usable], T[usable],
            m[usable], point["p_alive"][usable], QUANTILE_LEVELS,
        )
        quantiles = np.full((len(x), len(QUANTILE_LEVELS)), np.nan)
        quantiles[usable] = forecast.quantiles * self.net_share_
        prob_purchase = np.full(len(x), np.nan)
        prob_purchase[usable] = 1.0 - forecast.prob_none
        variance = np.full(len(x), np.nan)
        variance[usable] = forecast.spend_variance * self.net_share_**2
        return pd.DataFrame(
            {
                **point,
                "predicted_ltv_p10": quantiles[:, 0],
                "predicted_ltv_p50": quantiles[:, 1],
                "predicted_ltv_p90": quantiles[:, 2],
                "prob_purchase": prob_purchase,
                # net spend = gross x the net share: its variance scales by the share squared
                "predicted_ltv_variance": variance,
            }
        )

    # -- persistence ----------------------------------------------------------------------------
    def _get_state(self, directory: Path) -> dict[str, Any]:
        return {"time_unit": self.time_unit_, "purchase_fit": self.purchase_fit_, "spend_fit": self.spend_fit_,
                "net_share": self.net_share_}

    def _set_state(self, state: dict[str, Any], directory: Path) -> None:
        self.time_unit_ = state["time_unit"]
        self.purchase_fit_ = state["purchase_fit"]
        self.spend_fit_ = state["spend_fit"]
        self.net_share_ = float(state.get("net_share", 1.0))  # absent before 0.3: gross forecasts


def _fit_record(result: bf.FitResult) -> dict[str, Any]:
    """JSON-ready record of a sub-model fit (parameters, penalizer used, convergence, log-likelihood).

    ``newton_step`` (added after 0.1; absent from older saved models) is the fit's last Newton
    step in log-parameters: how far from the optimum the parameters can be, relatively.
    """
    return {
        "params": {k: float(v) for k, v in result.params.items()},
        "penalizer": float(result.penalizer),
        "converged": bool(result.converged),
        "log_likelihood": float(result.log_likelihood),
        "n_customers": float(result.n_customers),
        "n_patterns": int(result.n_patterns),
        "newton_step": float(result.newton_step),
    }


class BGNBDGammaGamma(_BTYDGammaGamma):
    """BG/NBD purchases [FHL05] (params r, alpha, a, b) + Gamma-Gamma spend [N025] (p, q, v)."""

    name: ClassVar[str] = "bgnbd_gg"
    process: ClassVar[str] = "bgnbd"

    def __init__(self, max_penalizer: float = 0.1) -> None:
        super().__init__(max_penalizer=max_penalizer)

    _fit_purchases = staticmethod(bf.fit_bgnbd)
    _p_alive = staticmethod(bm.bgnbd_p_alive)
    _expected_purchases = staticmethod(bm.bgnbd_expected_purchases)


class ParetoNBDGammaGamma(_BTYDGammaGamma):
    """Pareto/NBD purchases [N009] (params r, alpha, s, beta) + Gamma-Gamma spend [N025] (p, q, v)."""

    name: ClassVar[str] = "pareto_gg"
    process: ClassVar[str] = "pareto"

    def __init__(self, max_penalizer: float = 0.1) -> None:
        super().__init__(max_penalizer=max_penalizer)

    _fit_purchases = staticmethod(bf.fit_pareto_nbd)
    _p_alive = staticmethod(bm.pareto_p_alive)
    _expected_purchases = staticmethod(bm.pareto_expected_purchases)
