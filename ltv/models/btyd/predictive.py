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

from ltv.models.btyd.purchases import (
    QUADRATURE_NODES, TAIL_MASS, PurchaseDistribution, alive_posterior, bgnbd_purchase_pmf, pareto_purchase_pmf,
    purchase_count_limit,
)
from ltv.models.btyd.spend import (
    PAIR_MASS, QUANTILE_RTOL, SpendPosterior, spend_cdf, spend_mean, spend_posterior, spend_quantiles, spend_variance,
)

#: rows per block: bounded memory (rows x purchase counts x quadrature nodes floats)
_BLOCK_CELLS = 4_000_000

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

    Each customer's numbers depend on its own history only. The spend rate's posterior scale
    ``B = v + x m`` only rescales spend (``S / B`` does not depend on it), so the distribution is
    computed once per distinct purchase history (``x``, ``t_x``, ``T`` and whether the spend
    history is usable) in units of ``B`` and scaled per customer; histories are grouped by how many
    purchase counts their distribution needs (a width the history fixes, see
    :func:`purchase_count_limit`). Batching, partitioning and row order change nothing.
    """
    pmf_of = PMF_FUNCTIONS[process]
    rows = len(x)
    out = HorizonForecast(np.zeros(rows), np.zeros(rows), np.zeros(rows), np.zeros(rows), np.zeros((rows, len(levels))))
    if not rows:
        return out
    spend = spend_posterior(spend_params, x, m)
    usable = ((x > 0) & (m > 0)).astype(float)
    _, first, inverse = np.unique(np.stack([x, t_x, T, usable], axis=1), axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    ux, utx, uT, ualive, ushape = x[first], t_x[first], T[first], p_alive[first], spend.shape[first]
    k, theta = alive_posterior(ux, uT, purchase_params["r"], purchase_params["alpha"], t)
    width = _width(purchase_count_limit(k, theta))
    # per distinct history, spend in units of B (a posterior of rate 1)
    unit = HorizonForecast(*(np.zeros(len(first)) for _ in range(4)), np.zeros((len(first), len(levels))))
    for w in np.unique(width):
        members = np.flatnonzero(width == w)
        per_block = max(1, _BLOCK_CELLS // ((int(w) + 1) * _CELLS_PER_COUNT[process]))
        for start in range(0, len(members), per_block):
            b = members[start:start + per_block]
            dist = pmf_of(purchase_params, t, ux[b], utx[b], uT[b], ualive[b], n_max=int(w))
            unit_spend = SpendPosterior(shape=ushape[b], rate=np.ones(len(b)), p=spend.p)
            unit.prob_none[b] = dist.prob_none
            unit.expected_purchases[b] = dist.mean
            unit.spend_mean[b] = spend_mean(dist, unit_spend)
            unit.spend_variance[b] = spend_variance(dist, unit_spend)
            unit.quantiles[b] = spend_quantiles(dist, unit_spend, levels)
    scale = spend.rate
    return HorizonForecast(
        unit.prob_none[inverse], unit.expected_purchases[inverse], unit.spend_mean[inverse] * scale,
        unit.spend_variance[inverse] * scale**2, unit.quantiles[inverse] * scale[:, None],
    )


def _width(limit: np.ndarray) -> np.ndarray:
    """``limit`` rounded up to 1, 2, 3, 4, 6, 8, 12, 16, 24, ...: a few groups, at most 1.5x the work."""
    limit = np.maximum(np.ceil(limit), 1.0)
    power = 2.0 ** np.floor(np.log2(limit))
    return np.where(limit <= power, power, np.where(limit <= 1.5 * power, 1.5 * power, 2 * power)).astype(np.int64)


__all__ = [
    "PAIR_MASS", "PMF_FUNCTIONS", "QUADRATURE_NODES", "QUANTILE_RTOL", "TAIL_MASS", "HorizonForecast",
    "PurchaseDistribution", "SpendPosterior", "bgnbd_purchase_pmf", "horizon_forecast", "pareto_purchase_pmf",
    "purchase_count_limit", "spend_cdf", "spend_mean", "spend_posterior", "spend_quantiles", "spend_variance",
]
