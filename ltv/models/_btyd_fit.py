"""Maximum-likelihood fits of the BTYD sub-models through lifetimes, on condensed patterns.

Each fit takes condensed rows plus a ``weight`` column (number of customers sharing the row), so
its cost depends on the number of distinct patterns, not customers. Around lifetimes 0.11.3:

* deterministic starting values (moment-style, in the data's time unit) instead of lifetimes'
  ``0.1`` / random ones;
* BG/NBD and Gamma-Gamma use lifetimes' ``BetaGeoFitter`` / ``GammaGammaFitter``; Pareto/NBD
  does not use ``ParetoNBDFitter.fit`` (slow and unreliable in 0.11.3, see
  :func:`fit_pareto_nbd`) but minimises the same objective with a stable likelihood;
* a penalizer ladder (``0, 1e-4, 1e-3, ...``): the first attempt that converges to finite,
  plausible parameters wins; which rung was used is logged and returned;
* lifetimes' side effects are contained: its ``print`` on non-convergence goes to the debug log,
  and the warning filters it sets at import and inside its likelihoods are restored afterwards.
  ``save_model``/``load_model`` (dill) are never used.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from ltv.models import _btyd_math as bm

log = logging.getLogger(__name__)

#: parameters outside this range (any unit) are treated as a failed fit
PLAUSIBLE_RANGE = (1e-6, 1e6)
#: log-parameter box for Pareto/NBD (r, alpha, s, beta on time scaled to max(T) = 1). s beyond
#: e^5 ~ 150 means no heterogeneity in dropout; the likelihood's hyp2f1 terms get slow there and the
#: optimum runs off along a ridge, so such a fit is rejected and a penalizer used instead
_PARETO_LOG_BOUNDS = [(-10.0, 5.0), (-10.0, 10.0), (-10.0, 5.0), (-10.0, 10.0)]
_PARETO_MAX_ITER = 300
_NON_FINITE_OBJECTIVE = 1e12


class BTYDFitError(RuntimeError):
    """No rung of the penalizer ladder produced usable parameters."""


@dataclass(frozen=True)
class FitResult:
    """Outcome of one sub-model fit."""

    params: dict[str, float]
    penalizer: float
    converged: bool
    log_likelihood: float  # unpenalised, summed over customers (weights)
    n_customers: float
    n_patterns: int


@contextlib.contextmanager
def _quiet_lifetimes() -> Iterator[io.StringIO]:
    """Keep lifetimes' prints and warning-filter changes from leaking out."""
    captured = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(captured):
        warnings.simplefilter("ignore")
        yield captured
    if captured.getvalue().strip():
        log.debug("lifetimes said: %s", captured.getvalue().strip())


def _lifetimes_fitters() -> tuple[type, type, type]:
    with _quiet_lifetimes():
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import ConvergenceError
    return BetaGeoFitter, GammaGammaFitter, ConvergenceError


def penalizer_ladder(max_penalizer: float) -> list[float]:
    """``[0, 1e-4, 1e-3, ...]`` up to ``max_penalizer`` (just ``[0]`` when it is 0)."""
    ladder = [0.0]
    rung = 1e-4
    while max_penalizer > 0 and rung <= max_penalizer * (1 + 1e-9):
        ladder.append(rung)
        rung *= 10
    return ladder


def clean_patterns(patterns: pd.DataFrame) -> pd.DataFrame:
    """Validated (frequency, recency, T, weight) rows that lifetimes accepts.

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


def _ladder_fit(
    what: str,
    attempt: Callable[[float], tuple[dict[str, float], bool]],
    log_likelihood: Callable[[dict[str, float]], float],
    extra_check: Callable[[dict[str, float]], bool],
    max_penalizer: float,
    n_customers: float,
    n_patterns: int,
) -> FitResult:
    _, _, convergence_error = _lifetimes_fitters()
    fallback: FitResult | None = None
    for penalizer in penalizer_ladder(max_penalizer):
        try:
            with _quiet_lifetimes(), np.errstate(all="ignore"):
                params, converged = attempt(penalizer)
        except (convergence_error, ValueError, FloatingPointError, OverflowError, np.linalg.LinAlgError) as exc:
            log.info("%s fit with penalizer %g failed: %s", what, penalizer, str(exc).strip())
            continue
        with np.errstate(all="ignore"):
            ll = log_likelihood(params)
        usable = _plausible(params) and np.isfinite(ll) and extra_check(params)
        result = FitResult(params, penalizer, bool(converged and usable), ll, n_customers, n_patterns)
        if result.converged:
            log.info("%s fitted with penalizer %g: %s (log-likelihood %.3f)", what, penalizer, params, ll)
            return result
        log.info("%s fit with penalizer %g rejected (converged=%s, params %s)", what, penalizer, converged, params)
        if usable:
            fallback = result
    if fallback is not None:
        log.warning("%s did not converge on any penalizer; using penalizer %g: %s", what, fallback.penalizer, fallback.params)
        return fallback
    raise BTYDFitError(
        f"{what} could not be fitted on {n_patterns} patterns ({n_customers:g} customers) with penalizers "
        f"{penalizer_ladder(max_penalizer)}; check the patterns (enough repeat buyers?) or raise max_penalizer"
    )


def fit_bgnbd(patterns: pd.DataFrame, max_penalizer: float) -> FitResult:
    """BG/NBD (r, alpha, a, b) via lifetimes' ``BetaGeoFitter`` on condensed patterns with weights."""
    bg_fitter, _, _ = _lifetimes_fitters()
    frame = clean_patterns(patterns)
    f, rec, age, w = (frame[c].to_numpy() for c in ("frequency", "recency", "T", "weight"))
    scale = 1.0 / age.max()  # lifetimes fits alpha on time scaled to max(T) = 1
    r0 = 0.5
    start = {"r": r0, "alpha": r0 / _purchase_rate(frame), "a": 0.8, "b": 2.5}

    def attempt(penalizer: float) -> tuple[dict[str, float], bool]:
        x0 = np.log([start["r"], start["alpha"] * scale, start["a"], start["b"]])
        fitter = bg_fitter(penalizer_coef=penalizer).fit(f, rec, age, weights=w, initial_params=x0)
        return {k: float(v) for k, v in fitter.params_.items()}, True  # lifetimes raises when not converged

    def log_likelihood(params: dict[str, float]) -> float:
        return float((w * bm.bgnbd_log_likelihood(params, f, rec, age)).sum())

    return _ladder_fit("BG/NBD", attempt, log_likelihood, lambda p: True, max_penalizer, float(w.sum()), len(frame))


def fit_pareto_nbd(patterns: pd.DataFrame, max_penalizer: float) -> FitResult:
    """Pareto/NBD (r, alpha, s, beta) by maximum likelihood on condensed patterns with weights.

    Not through lifetimes' ``ParetoNBDFitter.fit``: in 0.11.3 it starts from random values,
    runs Nelder-Mead in the natural parameter space without reporting convergence, stalls on the
    flat (s, beta) ridge, and on daily data wanders to s, beta ~ 1e5 where its ``hyp2f1`` terms
    are NaN, taking minutes. Here: the same likelihood ([N009] eq. (18), evaluated stably by
    :func:`ltv.models._btyd_math.pareto_log_likelihood`; it matches lifetimes' to 1e-12) and
    the same objective as lifetimes (mean negative log-likelihood per customer on time scaled to
    max(T) = 1, plus ``penalizer * sum(params**2)``), minimised by L-BFGS-B over log-parameters
    within a box (``_PARETO_LOG_BOUNDS``) from deterministic starting values; a solution on a bound or not
    reported as converged counts as a failed attempt (next penalizer).
    """
    frame = clean_patterns(patterns)
    f, rec, age, w = (frame[c].to_numpy() for c in ("frequency", "recency", "T", "weight"))
    scale = float(1.0 / age.max())
    scaled_rec, scaled_age = rec * scale, age * scale
    r0 = 0.5
    alpha0 = r0 / _purchase_rate(frame) * scale
    start = np.log([r0, alpha0, 0.5, alpha0])
    total_weight = float(w.sum())

    def unpack(log_params: np.ndarray) -> dict[str, float]:
        return dict(zip(("r", "alpha", "s", "beta"), np.exp(log_params).tolist()))

    def attempt(penalizer: float) -> tuple[dict[str, float], bool]:
        def objective(log_params: np.ndarray) -> float:
            params = unpack(log_params)
            ll = (w * bm.pareto_log_likelihood(params, f, scaled_rec, scaled_age)).sum() / total_weight
            value = -ll + penalizer * sum(v * v for v in params.values())
            return float(value) if np.isfinite(value) else _NON_FINITE_OBJECTIVE

        options = {"ftol": 1e-15, "gtol": 1e-9, "maxiter": _PARETO_MAX_ITER}
        result = optimize.minimize(objective, start, method="L-BFGS-B", bounds=_PARETO_LOG_BOUNDS, options=options)
        # polish from the optimum: L-BFGS-B's first stop can be early on the flat (s, beta) ridge
        result = optimize.minimize(objective, result.x, method="L-BFGS-B", bounds=_PARETO_LOG_BOUNDS, options=options)
        low, high = np.array(_PARETO_LOG_BOUNDS).T
        on_bound = bool(np.any((result.x - low < 1e-3) | (high - result.x < 1e-3)))
        converged = bool(result.success) and not on_bound and result.fun < _NON_FINITE_OBJECTIVE
        log.debug("Pareto/NBD L-BFGS-B: %s after %d iterations, on bound: %s", result.message, result.nit, on_bound)
        params = unpack(result.x)
        params["alpha"] /= scale
        params["beta"] /= scale
        return params, converged

    def log_likelihood(params: dict[str, float]) -> float:
        return float((w * bm.pareto_log_likelihood(params, f, rec, age)).sum())

    return _ladder_fit("Pareto/NBD", attempt, log_likelihood, lambda p: True, max_penalizer, total_weight, len(frame))


def fit_gamma_gamma(spend_patterns: pd.DataFrame, max_penalizer: float) -> FitResult:
    """Gamma-Gamma (p, q, v) via lifetimes' ``GammaGammaFitter`` on (frequency, monetary_value, weight).

    Fits with ``q <= 1`` are rejected: the population mean ``p v / (q - 1)`` would not exist.
    """
    _, gg_fitter, _ = _lifetimes_fitters()
    frame = clean_spend_patterns(spend_patterns)
    f, m, w = (frame[c].to_numpy() for c in ("frequency", "monetary_value", "weight"))
    mean_spend = float((w * m).sum() / w.sum())
    start = {"p": 2.0, "q": 3.0}
    start["v"] = mean_spend * (start["q"] - 1) / start["p"]  # population mean matches the data

    def attempt(penalizer: float) -> tuple[dict[str, float], bool]:
        x0 = np.log([start["p"], start["q"], start["v"]])
        fitter = gg_fitter(penalizer_coef=penalizer).fit(f, m, weights=w, initial_params=x0)
        return {k: float(v) for k, v in fitter.params_.items()}, True

    def log_likelihood(params: dict[str, float]) -> float:
        return float((w * bm.gamma_gamma_log_likelihood(params, f, m)).sum())

    return _ladder_fit(
        "Gamma-Gamma", attempt, log_likelihood, lambda p: p["q"] > 1.0, max_penalizer, float(w.sum()), len(frame)
    )
