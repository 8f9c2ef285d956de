"""Exact BTYD predictive distributions (ltv.models.btyd.predictive) against their closed forms and
against simulation of the same fitted process (10^6 draws per customer)."""
from __future__ import annotations

import numpy as np
import pytest

from ltv.models.btyd import math as bm
from ltv.models.btyd import predictive as pr

# parameters of the order fitted on CDNOW (weeks)
BGNBD = {"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43}
PARETO = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
PROCESSES = {
    "bgnbd": (BGNBD, bm.bgnbd_p_alive, bm.bgnbd_expected_purchases),
    "pareto": (PARETO, bm.pareto_p_alive, bm.pareto_expected_purchases),
}
# x, t_x, T, m: a one-timer, light, lapsed, young and heavy buyers
HISTORIES = np.array([
    [0, 0, 38, 0], [1, 10, 38, 20], [2, 30, 38, 35], [5, 5, 38, 50], [3, 5, 6, 100], [20, 35, 38, 10],
    [100, 38, 39, 30],
], dtype=float)
HORIZON = 13.0
LEVELS = (0.1, 0.5, 0.9)


def _columns(histories=HISTORIES):
    return tuple(histories[:, i].copy() for i in range(4))


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_pmf_sums_to_one_and_its_mean_is_the_closed_form(process):
    params, p_alive_of, expected_of = PROCESSES[process]
    x, t_x, T, _ = _columns()
    p_alive = p_alive_of(params, x, t_x, T)
    dist = pr.PMF_FUNCTIONS[process](params, HORIZON, x, t_x, T, p_alive)
    assert np.all(dist.pmf >= 0)
    np.testing.assert_allclose(dist.pmf.sum(axis=1), 1.0, atol=pr.TAIL_MASS * 10)
    np.testing.assert_allclose(dist.mean, expected_of(params, HORIZON, x, t_x, T), rtol=1e-9, atol=1e-12)
    # dead customers never buy: P(Y = 0) >= 1 - P(alive)
    assert np.all(dist.prob_none >= 1.0 - p_alive - 1e-15)


def _simulate(process: str, row: int, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Purchases and spend in the horizon of customer ``row``, simulated from the fitted process's posterior."""
    params, p_alive_of, _ = PROCESSES[process]
    x, t_x, T, m = (c[row:row + 1] for c in _columns())
    alive = rng.random(draws) < p_alive_of(params, x, t_x, T)[0]
    rate = rng.gamma(params["r"] + x[0], 1.0 / (params["alpha"] + T[0]), draws)
    if process == "bgnbd":
        dropout = rng.beta(params["a"], params["b"] + x[0], draws)
        purchases = np.minimum(rng.poisson(rate * HORIZON), rng.geometric(dropout))  # drops out after the K-th
    else:
        lifetime = rng.exponential(1.0 / rng.gamma(params["s"], 1.0 / (params["beta"] + T[0]), draws))
        purchases = rng.poisson(rate * np.minimum(lifetime, HORIZON))
    purchases = np.where(alive, purchases, 0)
    spend_posterior = pr.spend_posterior(GG, x, m)
    nu = rng.gamma(spend_posterior.shape[0], 1.0 / spend_posterior.rate[0], draws)
    buying = purchases > 0
    spend = np.zeros(draws)
    spend[buying] = rng.gamma(GG["p"] * purchases[buying]) / nu[buying]
    return purchases, spend


@pytest.mark.parametrize("process", sorted(PROCESSES))
@pytest.mark.parametrize("row", [0, 1, 3, 4, 5])
def test_distribution_matches_a_million_draws_of_the_process(process, row):
    draws = 1_000_000
    params, p_alive_of, _ = PROCESSES[process]
    purchases, spend = _simulate(process, row, draws, np.random.default_rng(100 + row))
    x, t_x, T, m = _columns()
    forecast = pr.horizon_forecast(process, params, GG, HORIZON, x, t_x, T, m, p_alive_of(params, x, t_x, T), LEVELS)

    def close(share: float, probability: float) -> bool:  # within 5 standard errors of a share of 10^6 draws
        return abs(share - probability) <= 5 * np.sqrt(max(probability * (1 - probability), 1e-6) / draws)

    assert close(float(np.mean(purchases == 0)), forecast.prob_none[row])
    assert forecast.expected_purchases[row] == pytest.approx(purchases.mean(), abs=5 * purchases.std() / 1e3)
    assert forecast.spend_mean[row] == pytest.approx(spend.mean(), abs=5 * spend.std() / 1e3)
    for j, level in enumerate(LEVELS):
        q = forecast.quantiles[row, j]
        below, at_or_below = float(np.mean(spend < q)), float(np.mean(spend <= q))
        # q is the level's quantile: the draws below it are at most the level, those at or below at least
        assert below <= level + 5 * np.sqrt(level * (1 - level) / draws), (level, q, below)
        assert at_or_below >= level - 5 * np.sqrt(level * (1 - level) / draws), (level, q, at_or_below)
    if np.isfinite(forecast.spend_variance[row]):
        assert forecast.spend_variance[row] == pytest.approx(spend.var(), rel=0.05)


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_quantiles_solve_the_cdf(process):
    params, p_alive_of, _ = PROCESSES[process]
    x, t_x, T, m = _columns()
    p_alive = p_alive_of(params, x, t_x, T)
    dist = pr.PMF_FUNCTIONS[process](params, HORIZON, x, t_x, T, p_alive)
    spend = pr.spend_posterior(GG, x, m)
    quantiles = pr.spend_quantiles(dist, spend, LEVELS)
    for j, level in enumerate(LEVELS):
        positive = quantiles[:, j] > 0
        assert np.all(dist.prob_none[~positive] >= level)  # 0 only where "no spend" alone reaches the level
        cdf = pr.spend_cdf(dist, spend, quantiles[:, j])
        np.testing.assert_allclose(cdf[positive], level, atol=1e-9)
    assert np.all(np.diff(quantiles, axis=1) >= 0)


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_a_customers_numbers_do_not_depend_on_the_batch(process):
    """Same history -> same numbers, whatever else is in the batch and in which order."""
    params, p_alive_of, _ = PROCESSES[process]
    rng = np.random.default_rng(7)
    n = 3000
    T = rng.uniform(1, 78, n).round(1)
    x = np.minimum(rng.negative_binomial(0.5, 0.1, n), T.astype(int)).astype(float)
    t_x = np.where(x > 0, (rng.uniform(0, 1, n) * T).round(1), 0.0)
    m = np.where(x > 0, rng.gamma(3, 10, n).round(2), 0.0)

    def run(index: np.ndarray) -> pr.HorizonForecast:
        return pr.horizon_forecast(process, params, GG, HORIZON, x[index], t_x[index], T[index], m[index],
                                   p_alive_of(params, x[index], t_x[index], T[index]), LEVELS)

    whole = run(np.arange(n))
    shuffled = rng.permutation(n)[: n // 3]
    part = run(shuffled)
    for name in ("prob_none", "expected_purchases", "spend_mean", "quantiles"):
        np.testing.assert_allclose(getattr(part, name), getattr(whole, name)[shuffled], rtol=1e-12, atol=1e-12,
                                   err_msg=name)
    one = run(shuffled[:1])
    np.testing.assert_allclose(one.quantiles, whole.quantiles[shuffled[:1]], rtol=1e-12, atol=1e-12)


def test_without_spend_history_the_population_spend_applies():
    x, t_x, T, m = (np.array([0.0]), np.array([0.0]), np.array([10.0]), np.array([0.0]))
    spend = pr.spend_posterior(GG, x, m)
    assert spend.shape[0] == GG["q"] and spend.rate[0] == GG["v"]
    dist = pr.bgnbd_purchase_pmf(BGNBD, HORIZON, x, t_x, T, bm.bgnbd_p_alive(BGNBD, x, t_x, T))
    per_purchase = bm.gamma_gamma_population_mean(GG)
    assert pr.spend_mean(dist, spend)[0] == pytest.approx(dist.mean[0] * per_purchase, rel=1e-12)


def test_spend_variance_is_infinite_without_a_second_moment():
    x, t_x, T, m = (np.array([0.0]), np.array([0.0]), np.array([10.0]), np.array([0.0]))
    gg = dict(GG, q=1.8)  # A = q < 2: the inverse-Gamma spend rate has no variance
    dist = pr.bgnbd_purchase_pmf(BGNBD, HORIZON, x, t_x, T, bm.bgnbd_p_alive(BGNBD, x, t_x, T))
    assert np.isinf(pr.spend_variance(dist, pr.spend_posterior(gg, x, m))[0])
