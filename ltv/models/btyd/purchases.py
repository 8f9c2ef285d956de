"""The purchase part of the BTYD predictive distribution: P(Y = n) for the purchase count ``Y`` in
the horizon, per customer (formulas and references in :mod:`ltv.models.btyd.predictive`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, gammaln
from scipy.stats import nbinom

#: probability mass of the purchase count left out of the sums (per customer, at most)
TAIL_MASS = 1e-12
#: Gauss-Legendre nodes of the Pareto/NBD lifetime integral
QUADRATURE_NODES = 48


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


def alive_posterior(x: np.ndarray, T: np.ndarray, r: float, alpha: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """(k, theta) of the negative binomial horizon count of an alive customer: ``k = r + x``,
    ``theta = (alpha + T) / (alpha + T + t)``."""
    k = r + x
    theta = (alpha + T) / (alpha + T + t)
    return k, theta


def _counts(params: dict[str, float], t: float, x: np.ndarray, T: np.ndarray,
            n_max: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k, theta, counts 0..n_max) of the alive customers' negative binomial; ``n_max`` None = as far
    as the heaviest row needs."""
    k, theta = alive_posterior(x, T, params["r"], params["alpha"], t)
    if n_max is None:
        n_max = int(purchase_count_limit(k, theta).max()) if len(x) else 1
    return k, theta, np.arange(n_max + 1, dtype=float)


def bgnbd_purchase_pmf(
    params: dict[str, float], t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, p_alive: np.ndarray,
    n_max: int | None = None,
) -> PurchaseDistribution:
    """P(Y = n) for BG/NBD (see the module docstring), rows of ``x``, ``t_x``, ``T``, ``n <= n_max``
    (default: as far as the heaviest row needs)."""
    a, b = params["a"], params["b"]
    k, theta, counts = _counts(params, t, x, T, n_max)
    n = counts[None, :]
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
    alpha, s, beta = params["alpha"], params["s"], params["beta"]
    k, _, counts = _counts(params, t, x, T, n_max)
    n = counts[None, None, :]
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
