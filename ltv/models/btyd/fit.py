"""Maximum-likelihood fits of the BTYD sub-models on condensed patterns, converged to a stated tolerance.

Each fit takes condensed rows plus a ``weight`` column (number of customers sharing the row), so
its cost depends on the number of distinct patterns, not customers. Its answer does not depend
on how the rows were condensed or ordered, nor on the machine: every attempt is minimised by
:func:`ltv.models.btyd.optimum.minimize_log_params` until the Newton step is below
:data:`~ltv.models.btyd.optimum.PARAM_TOL` (each parameter within a relative 1e-6 of the
optimum, Hessian positive definite); an attempt that does not get there is *not converged* and
is never returned as a fit.

Objective (the same as lifetimes 0.11.3's fitters, so a penalised fit means what it meant):
mean negative log-likelihood per customer (weighted) plus ``penalizer * sum(params**2)``, over
log-parameters; for BG/NBD and Pareto/NBD on time scaled to max(T) = 1 (alpha, beta are scaled
back). Likelihoods: :mod:`ltv.models.btyd.math` -- BG/NBD [FHL05] eq. (6), Pareto/NBD [N009]
eq. (18), Gamma-Gamma [N025] eq. (1a) -- which match lifetimes' to 1e-12. lifetimes' fitters
are not used: their stops are the optimiser's first (BFGS / Nelder-Mead defaults), its
``ParetoNBDFitter`` wanders on the (s, beta) ridge for minutes, and they print.

Deterministic starting values (moment-style, in the data's time unit). A penalizer ladder
(``0, 1e-4, 1e-3, ...`` up to ``max_penalizer``): the first rung whose fit converges to finite,
plausible parameters wins, and which rung was used is logged and returned. When no rung
converges, :class:`BTYDFitError` says why each failed.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ltv.models.btyd import math as bm
from ltv.models.btyd.optimum import Optimum, minimize_log_params

log = logging.getLogger(__name__)

#: parameters outside this range (any unit) are treated as a failed fit
PLAUSIBLE_RANGE = (1e-6, 1e6)
#: log-parameter boxes (time scaled to max(T) = 1). Pareto/NBD: s beyond e^5 ~ 150 means no
#: heterogeneity in dropout; the likelihood's hyp2f1 terms get slow there and the optimum runs
#: off along a ridge, so such a fit is rejected and a penalizer used instead
PARETO_LOG_BOUNDS = ((-10.0, 5.0), (-10.0, 10.0), (-10.0, 5.0), (-10.0, 10.0))
BGNBD_LOG_BOUNDS = ((-10.0, 10.0),) * 4
#: Gamma-Gamma's p and q; v's box is centred on its (currency-scaled) starting value
GAMMA_GAMMA_SHAPE_BOUNDS = (-10.0, 10.0)
GAMMA_GAMMA_SCALE_SPAN = 15.0


class BTYDFitError(RuntimeError):
    """No rung of the penalizer ladder produced converged, usable parameters."""


@dataclass(frozen=True)
class FitResult:
    """Outcome of one sub-model fit (only converged fits are returned)."""

    params: dict[str, float]
    penalizer: float
    converged: bool
    log_likelihood: float  # unpenalised, summed over customers (weights)
    n_customers: float
    n_patterns: int
    newton_step: float = 0.0  # largest last Newton step (log-parameters): distance to the optimum


def penalizer_ladder(max_penalizer: float) -> list[float]:
    """``[0, 1e-4, 1e-3, ...]`` up to ``max_penalizer`` (just ``[0]`` when it is 0)."""
    ladder = [0.0]
    rung = 1e-4
    while max_penalizer > 0 and rung <= max_penalizer * (1 + 1e-9):
        ladder.append(rung)
        rung *= 10
    return ladder


def clean_patterns(patterns: pd.DataFrame) -> pd.DataFrame:
    """Validated (frequency, recency, T, weight) rows.

    Frequencies are rounded to integers, recency clipped into [0, T] (float noise from Spark),
    recency forced to 0 without repeats, rows with weight <= 0 or non-finite values dropped.
    Rows are not re-aggregated: condensing is the caller's (Spark's) job.
    """
    required = ["frequency", "recency", "T", "weight"]
    missing = [c for c in required if c not in patterns.columns]
    if missing:
        raise ValueError(f"patterns lack columns {missing} (found: {list(patterns.columns)})")
    frame = patterns[required].astype(float)
    frame = frame[np.isfinite(frame).all(axis=1) & (frame["weight"] > 0) & (frame["T"] >= 0)]
    frame = frame.assign(frequency=frame["frequency"].round().clip(lower=0))
    frame = frame.assign(recency=frame["recency"].clip(lower=0).clip(upper=frame["T"]))
    frame.loc[frame["frequency"] == 0, "recency"] = 0.0
    if frame.empty or frame["T"].max() <= 0:
        raise ValueError("no usable purchase patterns (need rows with weight > 0 and T > 0)")
    return frame


def clean_spend_patterns(spend_patterns: pd.DataFrame) -> pd.DataFrame:
    """(frequency, monetary_value, weight) rows with frequency > 0 and monetary_value > 0."""
    required = ["frequency", "monetary_value", "weight"]
    missing = [c for c in required if c not in spend_patterns.columns]
    if missing:
        raise ValueError(f"spend_patterns lack columns {missing} (found: {list(spend_patterns.columns)})")
    frame = spend_patterns[required].astype(float)
    frame = frame[np.isfinite(frame).all(axis=1) & (frame["weight"] > 0)]
    frame = frame.assign(frequency=frame["frequency"].round())
    frame = frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]
    if frame.empty:
        raise ValueError("no usable spend patterns (need frequency > 0 and monetary_value > 0)")
    return frame


def _plausible(params: dict[str, float]) -> bool:
    low, high = PLAUSIBLE_RANGE
    return all(np.isfinite(v) and low <= v <= high for v in params.values())


def _purchase_rate(patterns: pd.DataFrame) -> float:
    """Repeat purchases per unit of customer age, pooled (a crude E[lambda])."""
    w = patterns["weight"]
    total_age = float((w * patterns["T"]).sum())
    return max(float((w * patterns["frequency"]).sum()), 0.5) / max(total_age, 1e-9)


@dataclass(frozen=True)
class _Problem:
    """One sub-model's likelihood on its (scaled) data, with what the ladder needs around it."""

    what: str
    names: tuple[str, ...]
    row_log_likelihood: Callable[[dict[str, float]], np.ndarray]  # per row, scaled time
    weights: np.ndarray
    start: dict[str, float]  # scaled time
    bounds: tuple[tuple[float, float], ...]
    unscale: Callable[[dict[str, float]], dict[str, float]]  # to the data's time unit
    log_likelihood: Callable[[dict[str, float]], float]  # total, data's time unit
    extra_check: Callable[[dict[str, float]], bool] = lambda params: True
    #: per-row derivatives of ``row_log_likelihood`` by each parameter (None: finite differences)
    row_gradient: Callable[[dict[str, float]], dict[str, np.ndarray]] | None = None

    def _params(self, log_params: np.ndarray) -> dict[str, float]:
        return dict(zip(self.names, np.exp(log_params).tolist()))

    def objective(self, penalizer: float) -> Callable[[np.ndarray], float]:
        """Mean negative log-likelihood per customer + ``penalizer * sum(params**2)``, by log-parameters."""
        total_weight = float(self.weights.sum())

        def value(log_params: np.ndarray) -> float:
            params = self._params(log_params)
            mean = float((self.weights * self.row_log_likelihood(params)).sum()) / total_weight
            return -mean + penalizer * sum(v * v for v in params.values())

        return value

    def gradient(self, penalizer: float) -> Callable[[np.ndarray], np.ndarray] | None:
        """The objective's gradient by log-parameters (chain rule: d/d log p = p d/dp), if analytic."""
        if self.row_gradient is None:
            return None
        total_weight = float(self.weights.sum())
        row_gradient = self.row_gradient

        def value(log_params: np.ndarray) -> np.ndarray:
            params = self._params(log_params)
            rows = row_gradient(params)
            return np.array([
                params[n] * (-float((self.weights * rows[n]).sum()) / total_weight + 2 * penalizer * params[n])
                for n in self.names
            ])

        return value

    def attempt(self, penalizer: float) -> Optimum:
        start = np.log([self.start[name] for name in self.names])
        return minimize_log_params(self.objective(penalizer), start, self.bounds, self.gradient(penalizer))


def _ladder_fit(problem: _Problem, max_penalizer: float, n_patterns: int) -> FitResult:
    """The first rung of the penalizer ladder whose fit converges to plausible parameters; else BTYDFitError."""
    reasons = []
    for penalizer in penalizer_ladder(max_penalizer):
        try:
            with np.errstate(all="ignore"):
                optimum = problem.attempt(penalizer)
        except (ValueError, FloatingPointError, OverflowError, np.linalg.LinAlgError) as exc:
            log.info("%s fit with penalizer %g failed: %s", problem.what, penalizer, str(exc).strip())
            reasons.append(f"penalizer {penalizer:g}: {str(exc).strip()}")
            continue
        params = problem.unscale(dict(zip(problem.names, np.exp(optimum.log_params).tolist())))
        with np.errstate(all="ignore"):
            ll = problem.log_likelihood(params)
        reason = optimum.reason
        if optimum.converged and not (_plausible(params) and np.isfinite(ll) and problem.extra_check(params)):
            reason = f"implausible parameters {params}"
        if not reason:
            log.info("%s fitted with penalizer %g: %s (log-likelihood %.3f, %d evaluations, Newton step %.1e)",
                     problem.what, penalizer, params, ll, optimum.evaluations, optimum.newton_step)
            return FitResult(params, penalizer, True, ll, float(problem.weights.sum()), n_patterns, optimum.newton_step)
        log.info("%s fit with penalizer %g rejected: %s (params %s, %d evaluations, Newton step %.1e, gradient %.1e)",
                 problem.what, penalizer, reason, params, optimum.evaluations, optimum.newton_step,
                 optimum.gradient_norm)
        reasons.append(f"penalizer {penalizer:g}: {reason}")
    raise BTYDFitError(
        f"{problem.what} did not converge on {n_patterns} patterns ({float(problem.weights.sum()):g} customers) "
        f"with any penalizer ({'; '.join(reasons)}); check the patterns (enough repeat buyers?) or raise max_penalizer"
    )


def _purchase_arrays(patterns: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                        float]:
    """(cleaned frame, frequency, recency, T, weight, 1 / max(T))."""
    frame = clean_patterns(patterns)
    f, rec, age, w = (frame[c].to_numpy() for c in ("frequency", "recency", "T", "weight"))
    return frame, f, rec, age, w, float(1.0 / age.max())


def fit_bgnbd(patterns: pd.DataFrame, max_penalizer: float) -> FitResult:
    """BG/NBD (r, alpha, a, b) by maximum likelihood on condensed patterns with weights ([FHL05] eq. (6))."""
    frame, f, rec, age, w, scale = _purchase_arrays(patterns)
    scaled_rec, scaled_age = rec * scale, age * scale
    r0 = 0.5

    def unscale(params: dict[str, float]) -> dict[str, float]:
        return {**params, "alpha": params["alpha"] / scale}

    problem = _Problem(
        what="BG/NBD", names=("r", "alpha", "a", "b"),
        row_log_likelihood=lambda params: bm.bgnbd_log_likelihood(params, f, scaled_rec, scaled_age),
        row_gradient=lambda params: bm.bgnbd_log_likelihood_gradient(params, f, scaled_rec, scaled_age),
        weights=w, start={"r": r0, "alpha": r0 / _purchase_rate(frame) * scale, "a": 0.8, "b": 2.5},
        bounds=BGNBD_LOG_BOUNDS, unscale=unscale,
        log_likelihood=lambda params: float((w * bm.bgnbd_log_likelihood(params, f, rec, age)).sum()),
    )
    return _ladder_fit(problem, max_penalizer, len(frame))


def fit_pareto_nbd(patterns: pd.DataFrame, max_penalizer: float) -> FitResult:
    """Pareto/NBD (r, alpha, s, beta) by maximum likelihood on condensed patterns with weights.

    The likelihood is [N009] eq. (18), evaluated stably by
    :func:`ltv.models.btyd.math.pareto_log_likelihood`; the box is :data:`PARETO_LOG_BOUNDS`
    (a minimum on its edge counts as not converged: next penalizer).
    """
    frame, f, rec, age, w, scale = _purchase_arrays(patterns)
    scaled_rec, scaled_age = rec * scale, age * scale
    r0 = 0.5
    alpha0 = r0 / _purchase_rate(frame) * scale

    def unscale(params: dict[str, float]) -> dict[str, float]:
        return {**params, "alpha": params["alpha"] / scale, "beta": params["beta"] / scale}

    problem = _Problem(
        what="Pareto/NBD", names=("r", "alpha", "s", "beta"),
        row_log_likelihood=lambda params: bm.pareto_log_likelihood(params, f, scaled_rec, scaled_age),
        weights=w, start={"r": r0, "alpha": alpha0, "s": 0.5, "beta": alpha0},
        bounds=PARETO_LOG_BOUNDS, unscale=unscale,
        log_likelihood=lambda params: float((w * bm.pareto_log_likelihood(params, f, rec, age)).sum()),
    )
    return _ladder_fit(problem, max_penalizer, len(frame))


def fit_gamma_gamma(spend_patterns: pd.DataFrame, max_penalizer: float) -> FitResult:
    """Gamma-Gamma (p, q, v) by maximum likelihood on (frequency, monetary_value, weight) ([N025] eq. (1a)).

    Fits with ``q <= 1`` are rejected: the population mean ``p v / (q - 1)`` would not exist.
    """
    frame = clean_spend_patterns(spend_patterns)
    f, m, w = (frame[c].to_numpy() for c in ("frequency", "monetary_value", "weight"))
    mean_spend = float((w * m).sum() / w.sum())
    start = {"p": 2.0, "q": 3.0, "v": mean_spend * (3.0 - 1.0) / 2.0}  # population mean matches the data
    log_v = float(np.log(start["v"]))
    problem = _Problem(
        what="Gamma-Gamma", names=("p", "q", "v"),
        row_log_likelihood=lambda params: bm.gamma_gamma_log_likelihood(params, f, m),
        row_gradient=lambda params: bm.gamma_gamma_log_likelihood_gradient(params, f, m),
        weights=w, start=start,
        bounds=(GAMMA_GAMMA_SHAPE_BOUNDS, GAMMA_GAMMA_SHAPE_BOUNDS,
                (log_v - GAMMA_GAMMA_SCALE_SPAN, log_v + GAMMA_GAMMA_SCALE_SPAN)),
        unscale=lambda params: params,
        log_likelihood=lambda params: float((w * bm.gamma_gamma_log_likelihood(params, f, m)).sum()),
        extra_check=lambda params: params["q"] > 1.0,
    )
    return _ladder_fit(problem, max_penalizer, len(frame))
