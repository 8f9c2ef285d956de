"""The spend part of the BTYD predictive distribution: Gamma-Gamma's posterior predictive spend,
mixed over the purchase count's distribution (see :mod:`ltv.models.btyd.predictive` for the
formulas and references).

Given ``n`` purchases and the customer's spend rate ``nu``, spend ``S ~ Gamma(p n, nu)``, with
``nu ~ Gamma(A, B)`` a posteriori; integrating ``nu`` out, ``S / (S + B) ~ Beta(p n, A)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, betaincinv, betaln, expit, logit

from ltv.models.btyd.purchases import PurchaseDistribution

#: relative tolerance of the spend quantiles (in s/(s+B))
QUANTILE_RTOL = 1e-10
_MAX_NEWTON = 60
#: purchase counts less likely than this are left out of the spend CDF sums
PAIR_MASS = 1e-12
_LOGIT_LIMIT = 700.0
#: a point whose CDF is this close to the level is the quantile (the step from it would move z by ~1e-13)
_LEVEL_ATOL = 1e-14
#: a Newton step this small (in logit z) is the last: Newton's error after it is of its square's order
_NEWTON_LAST_STEP = 1e-6


# -- spend -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpendPosterior:
    """Gamma-Gamma per row: ``nu ~ Gamma(shape, rate)``; one purchase's spend ~ Gamma(p, nu)."""

    shape: np.ndarray  # A = q + p x
    rate: np.ndarray  # B = v + x m
    p: float


def spend_posterior(params: dict[str, float], x: np.ndarray, m: np.ndarray) -> SpendPosterior:
    """The posterior of each customer's spend rate ([N025]); the prior without usable history."""
    p, q, v = params["p"], params["q"], params["v"]
    usable = (x > 0) & (m > 0)
    x_used = np.where(usable, x, 0.0)
    return SpendPosterior(shape=q + p * x_used, rate=v + x_used * np.where(usable, m, 0.0), p=p)


def spend_mean(purchases: PurchaseDistribution, spend: SpendPosterior) -> np.ndarray:
    """E[S] = E[Y] p B / (A - 1)."""
    return purchases.mean * spend.p * spend.rate / (spend.shape - 1.0)


def spend_variance(purchases: PurchaseDistribution, spend: SpendPosterior) -> np.ndarray:
    """Var[S]; ``inf`` where the posterior has no second moment (``A <= 2``)."""
    n = np.arange(purchases.pmf.shape[1], dtype=float)
    pn = spend.p * n[None, :]
    second_factor = (purchases.pmf * (pn * (pn + 1.0))).sum(axis=1)  # E[pY (pY + 1)]
    A, B = spend.shape, spend.rate
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(A > 2.0, second_factor * B**2 / ((A - 1.0) * (A - 2.0)), np.inf)
    mean = spend_mean(purchases, spend)
    return np.where(np.isfinite(second), np.maximum(second - mean**2, 0.0), np.inf)


def spend_cdf(purchases: PurchaseDistribution, spend: SpendPosterior, amount: np.ndarray) -> np.ndarray:
    """P(S <= amount) per row (``amount`` one value per row, >= 0)."""
    mixture = _Mixture(purchases.pmf, spend)
    z = amount / (amount + spend.rate)
    return mixture.cdf(np.arange(len(z)), z)


class _Mixture:
    """The spend CDF of each row as a sum over its purchase counts, kept ragged.

    Only (row, count) pairs with ``P(Y = count) > PAIR_MASS`` are evaluated (what is left out
    weighs less than the tolerance of the quantiles), so a customer expecting one purchase costs a
    handful of incomplete-beta evaluations, not as many as the heaviest buyer of the batch.
    """

    def __init__(self, pmf: np.ndarray, spend: SpendPosterior) -> None:
        rows, counts = np.nonzero(pmf[:, 1:] > PAIR_MASS)
        self.n_rows = pmf.shape[0]
        self.none = pmf[:, 0]
        self.row = rows
        self.weight = pmf[rows, counts + 1]
        self.a = spend.p * (counts + 1.0)
        self.b = spend.shape[rows]
        self.log_beta = betaln(self.a, self.b)
        # pairs sorted by row (np.nonzero's order): the pairs of a row set are found by searchsorted
        self.first = np.searchsorted(rows, np.arange(self.n_rows + 1))

    def _pairs(self, rows: np.ndarray) -> np.ndarray:
        starts, stops = self.first[rows], self.first[rows + 1]
        lengths = stops - starts
        if not lengths.sum():
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        return np.arange(lengths.sum()) + offsets

    def cdf(self, rows: np.ndarray, z: np.ndarray) -> np.ndarray:
        """P(S/(S+B) <= z) for ``rows`` (``z`` one value per row of ``rows``)."""
        pairs = self._pairs(rows)
        where = np.repeat(np.arange(len(rows)), self.first[rows + 1] - self.first[rows])
        terms = self.weight[pairs] * betainc(self.a[pairs], self.b[pairs], z[where])
        return self.none[rows] + np.bincount(where, weights=terms, minlength=len(rows))

    def cdf_and_slope(self, rows: np.ndarray, ell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The CDF at ``z = expit(ell)`` and its derivative by ``ell`` (= density x z (1 - z))."""
        pairs = self._pairs(rows)
        where = np.repeat(np.arange(len(rows)), self.first[rows + 1] - self.first[rows])
        z = expit(ell)
        a, b = self.a[pairs], self.b[pairs]
        log_z, log_1mz = -np.logaddexp(0.0, -ell)[where], -np.logaddexp(0.0, ell)[where]
        cdf_terms = self.weight[pairs] * betainc(a, b, z[where])
        slope_terms = self.weight[pairs] * np.exp(a * log_z + b * log_1mz - self.log_beta[pairs])
        return (self.none[rows] + np.bincount(where, weights=cdf_terms, minlength=len(rows)),
                np.bincount(where, weights=slope_terms, minlength=len(rows)))


def spend_quantiles(
    purchases: PurchaseDistribution, spend: SpendPosterior, levels: tuple[float, ...]
) -> np.ndarray:
    """Quantiles ``inf {s >= 0: P(S <= s) >= level}`` per row, shape ``(rows, len(levels))``.

    0 when ``P(Y = 0) >= level`` (the point mass at no spend); otherwise the root of the mixture
    CDF above, by Newton steps in ``logit(s/(s+B))`` kept inside a shrinking bracket (bisection
    when a step leaves it), to :data:`QUANTILE_RTOL`.
    """
    mixture = _Mixture(purchases.pmf, spend)
    out = np.zeros((purchases.pmf.shape[0], len(levels)))
    for j, level in enumerate(levels):
        todo = np.flatnonzero(purchases.prob_none < level)
        if todo.size:
            z = _solve_level(mixture, purchases.pmf[todo], spend, todo, float(level))
            out[todo, j] = spend.rate[todo] * z / (1.0 - z)
    return out


def _solve_level(mixture: _Mixture, pmf: np.ndarray, spend: SpendPosterior, rows: np.ndarray,
                 level: float) -> np.ndarray:
    """``logistic(ell)`` where the mixture CDF of each row reaches ``level``.

    Bracket: spend grows with the purchase count, so the buyers' CDF lies between that of one
    purchase and that of the largest count kept, and the root between their quantiles at the
    buyers' level. Inside it, Newton steps; a step that leaves the bracket is replaced by the
    secant through the bracket's ends (Illinois-weighted), or bisection while an end's value is
    unknown.
    """
    count = len(rows)
    shape = spend.shape[rows]
    buyers = 1.0 - pmf[:, 0]
    buyers_level = np.clip((level - pmf[:, 0]) / buyers, 0.0, 1.0)
    kept = pmf[:, 1:] > PAIR_MASS
    top = pmf.shape[1] - np.argmax(kept[:, ::-1], axis=1)  # largest count kept (>= 1)

    def component_quantile(n: np.ndarray) -> np.ndarray:
        z = betaincinv(spend.p * n, shape, buyers_level)
        with np.errstate(divide="ignore"):
            return np.clip(logit(z), -_LOGIT_LIMIT, _LOGIT_LIMIT)

    lo = component_quantile(np.ones(count)) - 1e-9
    hi = component_quantile(top.astype(float)) + 1e-9
    f_lo, f_hi = np.full(count, np.nan), np.full(count, np.nan)
    mean_if_buying = np.maximum((pmf @ np.arange(pmf.shape[1], dtype=float)) / buyers, 1.0)
    ell = np.clip(component_quantile(mean_if_buying), lo, hi)
    active = np.arange(count)
    for _ in range(_MAX_NEWTON):
        if not active.size:
            break
        e = ell[active]
        cdf, slope = mixture.cdf_and_slope(rows[active], e)
        gap = cdf - level
        hit = np.abs(gap) <= _LEVEL_ATOL  # the CDF is at the level here: no further step needed
        below = gap < 0
        # Illinois: an end kept twice in a row has its value halved, so the secant moves it
        keep_lo, keep_hi = ~below, below
        f_lo[active] = np.where(below, gap, np.where(keep_lo, f_lo[active] / 2.0, f_lo[active]))
        f_hi[active] = np.where(below, np.where(keep_hi, f_hi[active] / 2.0, f_hi[active]), gap)
        lo[active] = np.where(below, e, lo[active])
        hi[active] = np.where(below, hi[active], e)
        a_lo, a_hi, a_flo, a_fhi = lo[active], hi[active], f_lo[active], f_hi[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = e - gap / slope
            secant = a_lo - a_flo * (a_hi - a_lo) / (a_fhi - a_flo)
        fallback = np.where(np.isfinite(secant) & (secant > a_lo) & (secant < a_hi), secant, (a_lo + a_hi) / 2.0)
        inside = np.isfinite(newton) & (newton > a_lo) & (newton < a_hi)
        new = np.where(inside, newton, fallback)
        ell[active] = new
        # done when the step moves z by less than the tolerance, relative to z, or at an exact root
        z_new, z_old = expit(new), expit(e)
        done = (np.abs(z_new - z_old) <= QUANTILE_RTOL * z_new) | ((a_hi - a_lo) <= QUANTILE_RTOL) | hit \
            | (inside & (np.abs(newton - e) <= _NEWTON_LAST_STEP))
        ell[active] = np.where(hit, e, new)
        active = active[~done]
    if active.size:
        raise ArithmeticError(f"spend quantile at level {level} did not converge for {active.size} customers")
    return expit(ell)
