"""Closed-form BTYD quantities in plain numpy/scipy, vectorised and numerically guarded.

Why not lifetimes' own methods: lifetimes 0.11.3 (archived) returns NaN for heavy buyers in the
Pareto/NBD formulas (``hyp2f1`` overflows around x ~ 500) and needs a fitter object carrying state;
here every function takes the fitted parameters explicitly, so a model loaded from JSON predicts
without lifetimes. ``tests/unit/test_models_btyd.py`` checks these against lifetimes on CDNOW.

Notation (all times in the same unit, days or weeks): ``x`` repeat-purchase count (frequency),
``t_x`` time of the last repeat purchase since the first (recency), ``T`` age since first
purchase, ``t`` horizon length, ``m`` mean spend of the repeat purchases.

References:
    [FHL05] Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
            the Pareto/NBD Model", Marketing Science 24(2).
    [N009]  Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related
            Expressions", brucehardie.com/notes/009.
    [N021]  Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD Model",
            brucehardie.com/notes/021.
    [N025]  Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value",
            brucehardie.com/notes/025.
"""
from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

ArrayLike = np.ndarray | float


# -- BG/NBD ----------------------------------------------------------------------------------
def bgnbd_log_likelihood(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, [FHL05] eq. (6)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    still_alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        died_after_last = np.where(
            x > 0,
            betaln(a + 1, b + np.maximum(x, 1) - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(still_alive, died_after_last)


def bgnbd_log_likelihood_gradient(
    params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-customer derivatives of :func:`bgnbd_log_likelihood` by r, alpha, a, b (differentiated by hand).

    ``LL = common + log(e^S + e^D)`` with S "alive at T" and D "died after the last purchase"
    ([FHL05] eq. (6)); each derivative is the common term's plus the S/D terms' weighted by
    their shares ``e^S / (e^S + e^D)``, ``e^D / (e^S + e^D)`` (D's share is 0 without repeats).
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    x_or_1 = np.maximum(x, 1)
    log_beta_ab = betaln(a, b)
    still_alive = betaln(a, b + x) - log_beta_ab - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        died = np.where(x > 0, betaln(a + 1, b + x_or_1 - 1) - log_beta_ab - (r + x) * np.log(alpha + t_x), -np.inf)
    total = np.logaddexp(still_alive, died)
    share_alive, share_died = np.exp(still_alive - total), np.exp(died - total)
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    return {
        "r": digamma(r + x) - digamma(r) + np.log(alpha)
        - share_alive * np.log(alpha + T) - share_died * np.log(alpha + t_x),
        "alpha": r / alpha - (r + x) * (share_alive / (alpha + T) + share_died / (alpha + t_x)),
        "a": share_alive * (psi_ab - psi_abx) + share_died * (digamma(a + 1) - psi_abx - digamma(a) + psi_ab),
        "b": share_alive * (digamma(b + x) - psi_abx - digamma(b) + psi_ab)
        + share_died * (digamma(b + x_or_1 - 1) - psi_abx - digamma(b) + psi_ab),
    }


def bgnbd_p_alive(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive at T | x, t_x, T) for BG/NBD, [N021] eq. (2); 1 for customers without repeats."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    log_odds_dead = np.log(a) - np.log(b + np.maximum(x, 1) - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, expit(-log_odds_dead), 1.0)


def bgnbd_expected_purchases(
    params: dict[str, float], t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected repeat purchases in (T, T + t], [FHL05] eq. (10).

    The term ``((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)`` overflows for heavy
    buyers; it is evaluated through Euler's transformation
    ``2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)``, which turns it into the bounded
    ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)`` with ``z = t/(alpha+T+t)``.
    """
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    z = t / (alpha + T + t)
    c = a + b + x - 1
    with np.errstate(all="ignore"):
        euler = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        direct = (1 - z) ** (r + x) * hyp2f1(r + x, b + x, c, z)
        bracket = np.where(np.isfinite(euler), euler, direct)
        numerator = c / (a - 1) * (1 - bracket)
    return numerator * bgnbd_p_alive(params, x, t_x, T)


# -- Pareto/NBD --------------------------------------------------------------------------------
def _log_hyp2f1_c_is_a_plus_1(a: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    """log 2F1(a, b; a+1; z) for 0 <= z < 1, via Euler: (1-z)^(1-b) 2F1(1, a+1-b; a+1; z).

    The transformed series has terms bounded by z^n, so it stays finite where the direct form
    overflows (large ``a = r+s+x``).
    """
    return (1 - b) * np.log1p(-z) + np.log(hyp2f1(1.0, a + 1 - b, a + 1, z))


def _pareto_log_A0(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """log A_0 of [N009] eqs. (19)-(20); -inf when t_x == T (A_0 = 0)."""
    r, alpha, s, beta = params["r"], params["alpha"], params["s"], params["beta"]
    rsx = r + s + x
    if alpha >= beta:
        big, b_arg = alpha, s + 1.0
    else:
        big, b_arg = beta, r + x
    diff = abs(alpha - beta)
    b_arg = np.broadcast_to(b_arg, np.shape(rsx))
    log_term_recency = _log_hyp2f1_c_is_a_plus_1(rsx, b_arg, diff / (big + t_x)) - rsx * np.log(big + t_x)
    log_term_age = _log_hyp2f1_c_is_a_plus_1(rsx, b_arg, diff / (big + T)) - rsx * np.log(big + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.minimum(log_term_age - log_term_recency, 0.0)
        return log_term_recency + np.log(-np.expm1(gap))


def pareto_log_likelihood(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood, [N009] eq. (18)."""
    r, alpha, s, beta = params["r"], params["alpha"], params["s"], params["beta"]
    constant = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive_whole_time = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    died_in_between = np.log(s) - np.log(r + s + x) + _pareto_log_A0(params, x, t_x, T)
    return constant + np.logaddexp(alive_whole_time, died_in_between)


def pareto_p_alive(params: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive at T | x, t_x, T) for Pareto/NBD, [N009] eq. (36)."""
    r, alpha, s, beta = params["r"], params["alpha"], params["s"], params["beta"]
    log_odds_dead = (
        np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
        + _pareto_log_A0(params, x, t_x, T)
    )
    return expit(-log_odds_dead)


def pareto_expected_purchases(
    params: dict[str, float], t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """E[Y(t) | x, t_x, T] for Pareto/NBD, [N009] eq. (41):

    ``P(alive) * (r+x)/(alpha+T) * (beta+T)/(s-1) * [1 - ((beta+T)/(beta+T+t))^(s-1)]``,
    with the s -> 1 limit ``(beta+T) * log(1 + t/(beta+T))``.
    """
    r, alpha, s, beta = params["r"], params["alpha"], params["s"], params["beta"]
    log_growth = np.log1p(t / (beta + T))
    if abs(s - 1.0) < 1e-9:
        expected_lifetime_in_horizon = (beta + T) * log_growth
    else:
        expected_lifetime_in_horizon = (beta + T) * -np.expm1((1.0 - s) * log_growth) / (s - 1.0)
    rate = (r + x) / (alpha + T)
    return pareto_p_alive(params, x, t_x, T) * rate * expected_lifetime_in_horizon


# -- Gamma-Gamma -----------------------------------------------------------------------------
def gamma_gamma_log_likelihood(params: dict[str, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend ``m`` of ``x`` purchases, [N025] eq. (1a)."""
    p, q, v = params["p"], params["q"], params["v"]
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
        + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v)
    )


def gamma_gamma_log_likelihood_gradient(
    params: dict[str, float], x: np.ndarray, m: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-customer derivatives of :func:`gamma_gamma_log_likelihood` by p, q, v."""
    p, q, v = params["p"], params["q"], params["v"]
    psi_total = digamma(p * x + q)
    log_total_spend = np.log(x * m + v)
    return {
        "p": x * (psi_total - digamma(p * x) + np.log(m) + np.log(x) - log_total_spend),
        "q": psi_total - digamma(q) + np.log(v) - log_total_spend,
        "v": q / v - (p * x + q) / (x * m + v),
    }


def gamma_gamma_population_mean(params: dict[str, float]) -> float:
    """E[spend per purchase] for a customer with no history: p*v/(q-1), [N025] eq. (3)."""
    return params["p"] * params["v"] / (params["q"] - 1.0)


def gamma_gamma_expected_spend(params: dict[str, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[spend per purchase | x, m], [N025] eq. (5): ``p(v + x m) / (p x + q - 1)``.

    Customers with ``x == 0`` or ``m <= 0`` (no usable spend history) get the population mean.
    """
    p, q, v = params["p"], params["q"], params["v"]
    usable = (x > 0) & (m > 0)
    x_used = np.where(usable, x, 0.0)
    m_used = np.where(usable, m, 0.0)
    return p * (v + x_used * m_used) / (p * x_used + q - 1.0)
