"""Exact predictive distributions of BTYD models: purchases and spend in the horizon, per customer.

Everything here is deterministic (no random draws): the same customer gets the same numbers
whatever the batch, partition or row order it is scored in.

Notation as in :mod:`ltv.models.btyd.math`: a customer with ``x`` repeat purchases, the last at
``t_x``, observed for ``T``; ``Y`` the number of purchases in the horizon ``(T, T + t]``; ``S``
the spend of those purchases.

Purchases. Given that the customer is alive at ``T`` (probability ``P(alive)``), the posterior of
the purchase rate is ``lambda ~ Gamma(r + x, alpha + T)``, independent of the dropout parameter,
whose posterior is ``p ~ Beta(a, b + x)`` for BG/NBD ([FHL05] sec. 3) and ``mu ~ Gamma(s, beta + T)``
for Pareto/NBD ([N009] sec. 2; the likelihood of an alive customer is ``lambda^x e^{-lambda T}
(1-p)^x`` resp. ``... e^{-mu T}``). Writing ``NB(n)`` for the negative binomial
``P(Poisson(lambda t) = n)`` integrated over that Gamma (shape ``k = r + x``, success probability
``theta = (alpha + T)/(alpha + T + t)``) and ``SF(n) = P(NB > n)``:

* BG/NBD, alive: the customer makes the ``y``-th purchase of the horizon and then drops out, or
  makes exactly ``y`` and survives them all ([FHL05] eq. (2) conditioned on the posterior)::

      P(Y = 0 | alive) = NB(0)
      P(Y = y | alive) = B(a+1, b+x+y-1)/B(a, b+x) * SF(y-1) + B(a, b+x+y)/B(a, b+x) * NB(y),  y >= 1

* Pareto/NBD, alive: the remaining lifetime ``tau`` is Lomax(``s``, ``beta + T``) (exponential with
  a Gamma rate, memoryless), and ``Y ~ Poisson(lambda min(tau, t))`` ([N009] eq. (37) ff.)::

      P(Y = y | alive) = S(t) NB_t(y) + integral_0^t f(tau) NB_tau(y) dtau

  with ``S(t) = ((beta+T)/(beta+T+t))^s``. The integral is taken in the variable
  ``u = 1 - S(tau)`` (a probability, so the integrand is bounded by 1) by Gauss-Legendre
  quadrature with :data:`QUADRATURE_NODES` nodes; the expected value it implies is checked
  against the closed form of [N009] eq. (41) in the tests.

* Dead customers buy nothing: ``P(Y = 0) = 1 - P(alive) + P(alive) P(Y = 0 | alive)``.

Spend ([N025]). Given ``n`` purchases and the customer's spend rate ``nu``, ``S ~ Gamma(p n, nu)``;
``nu``'s posterior is ``Gamma(A, B)`` with ``A = q + p x``, ``B = v + x m`` (``A = q``, ``B = v``
without usable spend history). Integrating ``nu`` out, ``S / (S + B) ~ Beta(p n, A)``, so::

    P(S <= s) = P(Y = 0) + sum_{n >= 1} P(Y = n) I_{s/(s+B)}(p n, A)

with ``I`` the regularised incomplete beta function. Its quantiles are found by a safeguarded
Newton iteration in ``logit(s/(s+B))`` to :data:`QUANTILE_RTOL`; the mean is
``E[S] = E[Y] p B/(A-1)`` and ``E[S^2] = E[p Y (p Y + 1)] B^2/((A-1)(A-2))`` (infinite for
``A <= 2``).

The purchase count is summed up to the point where the negative binomial above (which bounds ``Y``
from above, path by path) leaves less than :data:`TAIL_MASS`; what lies beyond is reported.

References: see :mod:`ltv.models.btyd.math`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, betaincinv, betaln, expit, gammaln, logit
from scipy.stats import nbinom

#: probability mass of the purchase count left out of the sums (per customer, at most)
TAIL_MASS = 1e-12
#: Gauss-Legendre nodes of the Pareto/NBD lifetime integral
QUADRATURE_NODES = 48
#: relative tolerance of the spend quantiles (in s/(s+B))
QUANTILE_RTOL = 1e-10
_MAX_NEWTON = 60
#: purchase counts less likely than this are left out of the spend CDF sums
PAIR_MASS = 1e-13
_LOGIT_LIMIT = 700.0
#: a point whose CDF is this close to the level is the quantile (the step from it would move z by ~1e-13)
_LEVEL_ATOL = 1e-14
#: rows per block: bounded memory (rows x purchase counts x quadrature nodes floats)
_BLOCK_CELLS = 4_000_000


@dataclass(frozen=True)
class PurchaseDistribution:
    """``pmf[i, n] = P(Y = n)`` for customer ``i`` (dead customers included in ``n = 0``).

    ``pmf`` has as many columns as the heaviest customer needs; each row sums to 1 up to its
    ``tail`` (the mass beyond the last column, <= :data:`TAIL_MASS`).
    """

    pmf: np.ndarray
    tail: np.ndarray

    @property
    def prob_none(self) -> np.ndarray:
        return self.pmf[:, 0]

    @property
    def mean(self) -> np.ndarray:
        return self.pmf @ np.arange(self.pmf.shape[1], dtype=float)


def purchase_count_limit(k: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Per row, the count ``n`` with ``P(NB(k, theta) > n) < TAIL_MASS`` (at least 1)."""
    return np.maximum(nbinom.isf(TAIL_MASS, k, theta), 1.0)


def _nb_log_pmf(k: np.ndarray, log_theta: np.ndarray, log_1m_theta: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log NB(n; k, theta), broadcasting ``k``/``theta`` against ``n``."""
    return gammaln(k + n) - gammaln(k) - gammaln(n + 1.0) + k * log_theta + n * log_1m_theta


def _alive_params(x: np.ndarray, T: np.ndarray, r: float, alpha: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    k = r + x
    theta = (alpha + T) / (alpha + T + t)
    return k, theta


def bgnbd_purchase_pmf(
    params: dict[str, float], t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, p_alive: np.ndarray,
    n_max: int | None = None,
) -> PurchaseDistribution:
    """P(Y = n) for BG/NBD (see the module docstring), rows of ``x``, ``t_x``, ``T``, ``n <= n_max``
    (default: as far as the heaviest row needs)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    k, theta = _alive_params(x, T, r, alpha, t)
    if n_max is None:
        n_max = int(purchase_count_limit(k, theta).max()) if len(x) else 1
    n = np.arange(n_max + 1, dtype=float)[None, :]
    kk, xx = k[:, None], x[:, None]
    nb = np.exp(_nb_log_pmf(kk, np.log(theta)[:, None], np.log1p(-theta)[:, None], n))
    # SF(n-1) = P(NB >= n): summed from the tail for accuracy (the mass beyond n_max is < TAIL_MASS)
    at_least = np.cumsum(nb[:, ::-1], axis=1)[:, ::-1]
    log_beta = betaln(a, b + xx)
    y = n[:, 1:]
    drop_after = np.exp(betaln(a + 1.0, b + xx + y - 1.0) - log_beta)
    survive_all = np.exp(betaln(a, b + xx + y) - log_beta)
    alive = np.empty_like(nb)
    alive[:, 0] = nb[:, 0]
    alive[:, 1:] = drop_after * at_least[:, 1:] + survive_all * nb[:, 1:]
    return _with_death(alive, p_alive)


def pareto_purchase_pmf(
    params: dict[str, float], t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, p_alive: np.ndarray,
    n_max: int | None = None,
) -> PurchaseDistribution:
    """P(Y = n) for Pareto/NBD (see the module docstring), rows of ``x``, ``t_x``, ``T``, ``n <= n_max``
    (default: as far as the heaviest row needs)."""
    r, alpha, s, beta = params["r"], params["alpha"], params["s"], params["beta"]
    k, theta = _alive_params(x, T, r, alpha, t)
    if n_max is None:
        n_max = int(purchase_count_limit(k, theta).max()) if len(x) else 1
    n = np.arange(n_max + 1, dtype=float)[None, None, :]
    survive = ((beta + T) / (beta + T + t)) ** s  # S(t): still alive at the horizon's end
    nodes, weights = np.polynomial.legendre.leggauss(QUADRATURE_NODES)
    # u = 1 - S(tau) over [0, 1 - S(t)]; tau(u) = (beta + T) ((1 - u)^(-1/s) - 1)
    dead_by_end = 1.0 - survive
    u = dead_by_end[:, None] * (nodes[None, :] + 1.0) / 2.0
    w = dead_by_end[:, None] * weights[None, :] / 2.0
    tau = (beta + T)[:, None] * np.expm1(-np.log1p(-u) / s)
    tau = np.minimum(tau, t)  # rounding only: u <= 1 - S(t) means tau <= t
    kk = k[:, None, None]
    lifetimes = np.concatenate([np.full((len(x), 1), float(t)), tau], axis=1)  # (rows, 1 + nodes)
    mass = np.concatenate([survive[:, None], w], axis=1)
    theta_g = (alpha + T)[:, None] / ((alpha + T)[:, None] + lifetimes)
    log_nb = _nb_log_pmf(kk, np.log(theta_g)[:, :, None], np.log1p(-theta_g)[:, :, None], n)
    alive = np.einsum("ij,ijn->in", mass, np.exp(log_nb))
    return _with_death(alive, p_alive)


def _with_death(alive: np.ndarray, p_alive: np.ndarray) -> PurchaseDistribution:
    """Mix the alive-conditional pmf with death (no purchases) at ``1 - P(alive)``."""
    pa = p_alive[:, None]
    pmf = pa * alive
    pmf[:, 0] += 1.0 - p_alive
    tail = np.maximum(1.0 - pmf.sum(axis=1), 0.0)
    return PurchaseDistribution(pmf=pmf, tail=tail)


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
        done = (np.abs(z_new - z_old) <= QUANTILE_RTOL * z_new) | ((a_hi - a_lo) <= QUANTILE_RTOL) | hit
        ell[active] = np.where(hit, e, new)
        active = active[~done]
    if active.size:
        raise ArithmeticError(f"spend quantile at level {level} did not converge for {active.size} customers")
    return expit(ell)


# -- per customer, batch-independent ------------------------------------------------------------------
PMF_FUNCTIONS = {"bgnbd": bgnbd_purchase_pmf, "pareto": pareto_purchase_pmf}
#: cells per purchase-count column and row: the Pareto/NBD pmf is evaluated at every quadrature node
_CELLS_PER_COUNT = {"bgnbd": 4, "pareto": QUADRATURE_NODES + 1}


@dataclass(frozen=True)
class HorizonForecast:
    """Per customer: the predictive distribution of purchases and spend in the horizon, summarised."""

    prob_none: np.ndarray  # P(Y = 0): no purchase in the horizon (dead or alive)
    expected_purchases: np.ndarray  # E[Y]
    spend_mean: np.ndarray  # E[S]
    spend_variance: np.ndarray  # Var[S] (inf when the spend posterior has no second moment)
    quantiles: np.ndarray  # (rows, levels): quantiles of S


def horizon_forecast(
    process: str, purchase_params: dict[str, float], spend_params: dict[str, float], t: float,
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, m: np.ndarray, p_alive: np.ndarray, levels: tuple[float, ...],
) -> HorizonForecast:
    """:class:`HorizonForecast` per row; ``process`` is ``"bgnbd"`` or ``"pareto"``.

    Each customer's numbers depend on its own history only: identical histories are computed
    once, and customers are grouped by how many purchase counts their distribution needs (a
    width fixed by the customer, see :func:`purchase_count_limit`), so batching, partitioning and
    row order change nothing.
    """
    pmf_of = PMF_FUNCTIONS[process]
    rows = len(x)
    out = HorizonForecast(np.zeros(rows), np.zeros(rows), np.zeros(rows), np.zeros(rows), np.zeros((rows, len(levels))))
    if not rows:
        return out
    keys, first, inverse = np.unique(np.stack([x, t_x, T, m], axis=1), axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    ux, utx, uT, um, ualive = x[first], t_x[first], T[first], m[first], p_alive[first]
    k, theta = _alive_params(ux, uT, purchase_params["r"], purchase_params["alpha"], t)
    width = _width(purchase_count_limit(k, theta))
    unique = HorizonForecast(*(np.zeros(len(first)) for _ in range(4)), np.zeros((len(first), len(levels))))
    for w in np.unique(width):
        members = np.flatnonzero(width == w)
        per_block = max(1, _BLOCK_CELLS // ((int(w) + 1) * _CELLS_PER_COUNT[process]))
        for start in range(0, len(members), per_block):
            b = members[start:start + per_block]
            dist = pmf_of(purchase_params, t, ux[b], utx[b], uT[b], ualive[b], n_max=int(w))
            spend = spend_posterior(spend_params, ux[b], um[b])
            unique.prob_none[b] = dist.prob_none
            unique.expected_purchases[b] = dist.mean
            unique.spend_mean[b] = spend_mean(dist, spend)
            unique.spend_variance[b] = spend_variance(dist, spend)
            unique.quantiles[b] = spend_quantiles(dist, spend, levels)
    del keys
    return HorizonForecast(
        unique.prob_none[inverse], unique.expected_purchases[inverse], unique.spend_mean[inverse],
        unique.spend_variance[inverse], unique.quantiles[inverse],
    )


def _width(limit: np.ndarray) -> np.ndarray:
    """``limit`` rounded up to 1, 2, 3, 4, 6, 8, 12, 16, 24, ...: a few groups, at most 1.5x the work."""
    limit = np.maximum(np.ceil(limit), 1.0)
    power = 2.0 ** np.floor(np.log2(limit))
    return np.where(limit <= power, power, np.where(limit <= 1.5 * power, 1.5 * power, 2 * power)).astype(np.int64)

