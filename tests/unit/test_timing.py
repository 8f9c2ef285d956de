"""When forecast spend falls in the horizon, and its present value (ltv.models.timing)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from ltv.models.btyd import BGNBDGammaGamma, ParetoNBDGammaGamma
from ltv.models.timing import discount_factors, period_edges, present_value_weights, shares_from_path, uniform_shares
from ltv.scoring.score import discount_factor

BGNBD = {"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43}
PARETO = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
# frequency, recency, T (weeks), monetary_value: a one-timer, light, lapsed, young and heavy buyers
HISTORIES = pd.DataFrame(
    [[0, 0, 38, 0], [1, 10, 38, 20], [2, 30, 38, 35], [5, 5, 38, 50], [3, 5, 6, 100], [20, 35, 38, 10]],
    columns=["frequency", "recency", "T", "monetary_value"], dtype=float,
)
RATE = 0.12


def fitted(cls, purchase_params):
    """A BTYD model with the given parameters (weeks), as if fitted."""
    record = {"penalizer": 0.0, "converged": True, "log_likelihood": 0.0, "n_customers": 1.0, "n_patterns": 1,
              "newton_step": 0.0}
    model = cls()
    model.time_unit_ = "weeks"
    model.purchase_fit_ = {**record, "params": dict(purchase_params)}
    model.spend_fit_ = {**record, "params": dict(GG)}
    model.net_share_ = 1.0
    return model


def test_period_edges_cut_the_horizon_into_months_at_most():
    assert period_edges(90).tolist() == [0.0, 30.0, 60.0, 90.0]
    edges = period_edges(365)
    assert len(edges) == 14 and edges[0] == 0 and edges[-1] == 365 and np.diff(edges).max() <= 30
    assert period_edges(7).tolist() == [0.0, 7.0]
    with pytest.raises(ValueError, match="positive"):
        period_edges(0)


def test_present_value_weights_follow_the_stated_convention():
    edges = period_edges(365)
    weights = present_value_weights(edges, RATE)
    assert (np.diff(weights) < 0).all() and (weights < 1).all()
    # each weight is the mean of exp(-delta t) over its period, 365-day years
    delta = math.log1p(RATE)
    for k in (0, 6, 12):
        a, b = edges[k] / 365, edges[k + 1] / 365
        exact = integrate.quad(lambda t: math.exp(-delta * t), a, b)[0] / (b - a)
        assert weights[k] == pytest.approx(exact, rel=1e-12)
    # one period is the closed form ltv has always used for a uniform spread
    assert discount_factor(RATE, 365) == pytest.approx((1 - 1.12 ** -1) / math.log(1.12), rel=1e-12)
    assert present_value_weights(edges, 0.0).tolist() == [1.0] * 13
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="discount rate"):
            present_value_weights(edges, bad)


def test_uniform_shares_discount_exactly_as_one_uniform_period():
    for horizon in (45, 90, 365, 730):
        edges = period_edges(horizon)
        factors = discount_factors(uniform_shares(3, edges), edges, RATE)
        np.testing.assert_allclose(factors, discount_factor(RATE, horizon), rtol=1e-12)


def test_shares_from_a_path_refuse_broken_paths():
    edges = period_edges(90)
    np.testing.assert_allclose(shares_from_path(np.array([[0, 1, 3, 4], [0, 0, 0, 0]]), edges),
                               [[0.25, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3]])
    with pytest.raises(ValueError, match="decreases in 1 rows"):
        shares_from_path(np.array([[0, 2, 1, 3]]), edges)
    with pytest.raises(ValueError, match="non-finite"):
        shares_from_path(np.array([[0, 1, np.nan, 3]]), edges)


@pytest.mark.parametrize("cls, params", [(BGNBDGammaGamma, BGNBD), (ParetoNBDGammaGamma, PARETO)])
def test_btyd_shares_are_its_own_forecasts_at_every_edge(cls, params):
    """The path agrees with predicted_purchases at each shorter horizon: cumulative share x E[Y(H)]."""
    model, horizon = fitted(cls, params), 365
    edges = period_edges(horizon)
    shares = model.spend_shares(HISTORIES, horizon, edges)
    assert shares.shape == (len(HISTORIES), 13)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    total = model.expected(HISTORIES, horizon)["predicted_purchases"].to_numpy()
    for k in (1, 4, 9):
        at_edge = model.expected(HISTORIES, edges[k])["predicted_purchases"].to_numpy()
        np.testing.assert_allclose(shares[:, :k].sum(axis=1) * total, at_edge, rtol=1e-9)
    # dropout only ever removes buyers: each period's expected purchases are at most the previous one's
    assert (np.diff(shares, axis=1) <= 1e-12).all()
    # so spend comes earlier than uniform and is worth more today, by customer
    factors = discount_factors(shares, edges, RATE)
    assert (factors >= discount_factor(RATE, horizon) - 1e-12).all()
    assert factors.max() > discount_factor(RATE, horizon) + 1e-3 and np.ptp(factors) > 1e-3


@pytest.mark.parametrize("horizon", [90, 365])
def test_pareto_discount_factor_matches_the_continuous_integral(horizon):
    """Independent check: an alive Pareto/NBD customer buys at rate E[lambda] while alive, and is
    alive at T + t with probability ((beta+T)/(beta+T+t))^s, so the expected purchase rate is
    proportional to that survival; the factor is its discounted mean over the horizon."""
    model = fitted(ParetoNBDGammaGamma, PARETO)
    edges = period_edges(horizon)
    factors = discount_factors(model.spend_shares(HISTORIES, horizon, edges), edges, RATE)
    delta, weeks, per_year = math.log1p(RATE), horizon / 7, 365 / 7
    for i, T in enumerate(HISTORIES["T"]):
        def survival(t):
            return ((PARETO["beta"] + T) / (PARETO["beta"] + T + t)) ** PARETO["s"]

        mass = integrate.quad(survival, 0, weeks)[0]
        exact = integrate.quad(lambda t: survival(t) * math.exp(-delta * t / per_year), 0, weeks)[0] / mass
        # spend even within each month, where the rate really declines: measured up to 8.7e-5 below
        # the continuous value (horizons 90-730 days, rate 0.12); allowed 1.5e-4
        assert factors[i] == pytest.approx(exact, rel=1.5e-4), (i, factors[i], exact)
        assert factors[i] < exact  # the even spread within a month puts a declining rate's spend a bit late


def test_btyd_shares_use_the_model_time_unit():
    """The same model in days: the same path as in weeks, with T and the parameters rescaled."""
    weeks = fitted(BGNBDGammaGamma, BGNBD)
    days = fitted(BGNBDGammaGamma, {**BGNBD, "alpha": BGNBD["alpha"] * 7})
    days.time_unit_ = "days"
    in_days = HISTORIES.assign(recency=HISTORIES["recency"] * 7, T=HISTORIES["T"] * 7)
    edges = period_edges(180)
    np.testing.assert_allclose(days.spend_shares(in_days, 180, edges), weeks.spend_shares(HISTORIES, 180, edges),
                               rtol=1e-9)


def test_bad_edges_are_refused():
    model = fitted(BGNBDGammaGamma, BGNBD)
    with pytest.raises(ValueError, match="edges"):
        model.spend_shares(HISTORIES, 90, np.array([0.0, 60.0, 30.0, 90.0]))
    with pytest.raises(ValueError, match="edges"):
        model.spend_shares(HISTORIES, 90, period_edges(60))
