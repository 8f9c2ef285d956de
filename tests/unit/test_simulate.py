"""ltv.datasets.simulate: determinism, the input contract, and that the ground truth is the true oracle."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ltv.datasets.simulate import (
    CUSTOMER_COLUMNS,
    TRANSACTION_COLUMNS,
    LineProcess,
    SimulationResult,
    bgnbd_conditional_expected_purchases,
    bgnbd_p_alive,
    default_processes,
    gamma_gamma_conditional_expected_spend,
    latent_expected_purchases,
    simulate,
)
from ltv.errors import ConfigError

START, END, AS_OF, HORIZON = date(2021, 1, 1), date(2023, 12, 31), date(2022, 12, 31), 365
LINES = ["retail", "grocery", "luxury"]


def _simulate(customers: int, seed: int, lines=LINES, **kwargs) -> SimulationResult:
    return simulate(customers, lines, seed=seed, start=START, end=END, truth_as_of=AS_OF,
                    truth_horizon_days=HORIZON, **kwargs)


@pytest.fixture(scope="module")
def small() -> SimulationResult:
    return _simulate(1_000, seed=7)


@pytest.fixture(scope="module")
def large() -> SimulationResult:
    """50k customers in each of the three presets: enough to see a few-% bias of the oracle in a segment."""
    return _simulate(50_000, seed=2024)


# ---------------------------------------------------------------------------------------- contract


def test_same_seed_gives_identical_frames_and_files(small, tmp_path):
    again = _simulate(1_000, seed=7)
    for name in ("transactions", "customers", "ground_truth"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    first = small.write(tmp_path / "a")
    second = again.write(tmp_path / "b")
    assert sorted(first) == ["customers", "ground_truth", "transactions"]
    for name, path in first.items():
        assert path.read_bytes() == second[name].read_bytes(), name


def test_processes_and_oracle_are_reexported_from_simulate():
    import importlib

    processes = importlib.import_module("ltv.datasets.processes")
    simulate_module = importlib.import_module("ltv.datasets.simulate")  # ltv.datasets.simulate is the function
    for name in processes.__all__:
        assert getattr(simulate_module, name) is getattr(processes, name), name
    assert set(processes.__all__) <= set(simulate_module.__all__)


def test_other_seed_gives_other_data(small):
    other = _simulate(1_000, seed=8)
    assert not small.transactions["amount"].equals(other.transactions["amount"])
    assert not small.customers["channel"].equals(other.customers["channel"])


def test_transactions_follow_the_input_contract(small):
    tx = small.transactions
    assert list(tx.columns) == TRANSACTION_COLUMNS
    assert tx["transaction_id"].is_unique
    assert str(tx["event_ts"].dt.tz) == "UTC"
    assert tx["event_ts"].min() >= pd.Timestamp(START, tz="UTC")
    assert tx["event_ts"].max() < pd.Timestamp(END, tz="UTC") + pd.Timedelta(days=1)
    assert (tx["event_ts"].dt.second != 0).any()  # a genuine time of day, not midnight
    assert np.allclose(tx["amount"], tx["amount"].round(2))
    assert (tx["amount"] != 0).all()
    assert set(tx["business_line"]) == set(LINES)
    # every customer's first row is a purchase; refunds come after a purchase of the same customer
    first_rows = tx.sort_values(["business_line", "customer_id", "event_ts"]).groupby(
        ["business_line", "customer_id"]).head(1)
    assert (first_rows["amount"] > 0).all()


def test_written_files_round_trip(small, tmp_path):
    paths = small.write(tmp_path)
    tx = pd.read_csv(paths["transactions"], dtype={"customer_id": str})
    assert list(tx.columns) == TRANSACTION_COLUMNS
    assert tx["event_ts"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    parsed = pd.to_datetime(tx["event_ts"], utc=True)
    assert (parsed.to_numpy() == small.transactions["event_ts"].to_numpy()).all()
    assert np.allclose(tx["amount"], small.transactions["amount"])
    customers = pd.read_csv(paths["customers"], dtype=str)
    assert list(customers.columns) == CUSTOMER_COLUMNS
    truth = pd.read_csv(paths["ground_truth"], dtype={"customer_id": str})
    assert len(truth) == len(customers) == 3_000


def test_customers_and_ground_truth_cover_every_customer(small):
    customers, truth, tx = small.customers, small.ground_truth, small.transactions
    assert list(customers.columns) == CUSTOMER_COLUMNS
    assert not customers.duplicated(["business_line", "customer_id"]).any()
    assert customers["customer_id"].str.fullmatch(r"c\d{6}").all()
    assert customers.groupby("business_line").size().to_dict() == {"grocery": 1000, "luxury": 1000, "retail": 1000}
    keys = ["business_line", "customer_id"]
    assert truth[keys].merge(customers[keys], how="outer", indicator=True)["_merge"].eq("both").all()
    first = tx.groupby(keys)["event_ts"].min().reset_index().merge(customers, on=keys)
    assert (pd.to_datetime(first["signup_date"]).dt.date <= first["event_ts"].dt.date).all()
    assert (first["event_ts"].dt.date <= AS_OF).all()
    assert (truth["as_of"] == AS_OF.isoformat()).all() and (truth["horizon_days"] == HORIZON).all()


def test_realised_columns_recount_the_transactions(small):
    tx = small.transactions
    cut = pd.Timestamp(AS_OF, tz="UTC") + pd.Timedelta(days=1)
    window = tx[(tx["event_ts"] >= cut) & (tx["event_ts"] < cut + pd.Timedelta(days=HORIZON))]
    keys = ["business_line", "customer_id"]
    spend = window.groupby(keys)["amount"].sum()
    purchases = window[window["amount"] > 0].groupby(keys).size()
    truth = small.ground_truth.set_index(keys)
    assert np.allclose(spend.reindex(truth.index, fill_value=0.0), truth["realised_spend"], atol=1e-6)
    assert (purchases.reindex(truth.index, fill_value=0) == truth["realised_purchases"]).all()
    history = tx[(tx["event_ts"] < cut) & (tx["amount"] > 0)].groupby(keys).size()
    assert (history.reindex(truth.index) - 1 == truth["frequency"]).all()


def test_refunds_are_partial_and_follow_a_purchase(small):
    tx = small.transactions.sort_values(["business_line", "customer_id", "event_ts"])
    refunds = tx[tx["amount"] < 0]
    assert len(refunds) > 0
    purchases = tx[tx["amount"] > 0]
    share = len(refunds) / len(purchases)
    expected = np.mean([p.refund_rate for p in default_processes(LINES)])
    assert 0.5 * expected < share < 1.5 * expected
    keys = ["business_line", "customer_id"]
    largest = purchases.groupby(keys)["amount"].max()
    assert (-refunds.groupby(keys)["amount"].min() < largest.reindex(refunds.groupby(keys).size().index)).all()


def test_bad_arguments_name_the_fix():
    with pytest.raises(ConfigError, match="end >="):
        simulate(10, ["a"], seed=1, start=START, end=date(2023, 6, 30), truth_as_of=AS_OF, truth_horizon_days=365)
    with pytest.raises(ConfigError, match="no LineProcess"):
        _simulate(10, seed=1, lines=["a"], processes=default_processes(["b"]))
    with pytest.raises(ConfigError, match="unique"):
        _simulate(10, seed=1, lines=["a", "a"])
    with pytest.raises(ConfigError, match="q must be > 1"):
        LineProcess("x", r=1, alpha=1, a=2, b=2, p=1, q=0.5, gamma=1)


def test_default_processes_differ_by_line_and_keep_names():
    procs = default_processes(["a", "b", "c", "d"])
    assert [p.name for p in procs] == ["a", "b", "c", "d"]
    assert len({(p.r, p.alpha, p.a, p.b, p.p, p.q, p.gamma) for p in procs[:3]}) == 3
    assert replace(procs[3], name="a") == procs[0]


def test_hundred_thousand_customers_are_quick():
    import time

    started = time.perf_counter()
    result = _simulate(100_000, seed=3, lines=["one"])
    assert time.perf_counter() - started < 30
    assert len(result.ground_truth) == 100_000


# ------------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("params", [(0.243, 30.9, 0.793, 2.426), (0.9, 45.0, 1.3, 9.0), (2.0, 10.0, 3.0, 1.5)])
def test_bgnbd_expectation_matches_lifetimes(params):
    from lifetimes import BetaGeoFitter

    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series(dict(zip(["r", "alpha", "a", "b"], params)))
    rng = np.random.default_rng(0)
    tenure = rng.uniform(1, 600, 400)
    recency = tenure * rng.uniform(0, 1, 400)
    frequency = rng.integers(0, 40, 400).astype(float)
    recency[frequency == 0] = 0.0
    horizon = rng.choice([30.0, 90.0, 365.0], 400)
    ours = bgnbd_conditional_expected_purchases(horizon, frequency, recency, tenure, *params)
    theirs = fitter.conditional_expected_number_of_purchases_up_to_time(horizon, frequency, recency, tenure)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-12)
    alive = bgnbd_p_alive(frequency, recency, tenure, *params)
    np.testing.assert_allclose(alive, fitter.conditional_probability_alive(frequency, recency, tenure), rtol=1e-8)


def test_bgnbd_expectation_stays_finite_for_heavy_buyers():
    values = bgnbd_conditional_expected_purchases(365.0, np.array([300.0, 2000.0]), np.array([500.0, 599.0]),
                                                  600.0, 0.9, 45.0, 1.3, 9.0)
    assert np.isfinite(values).all() and (values > 0).all()


def test_gamma_gamma_expectation_matches_lifetimes():
    from lifetimes import GammaGammaFitter

    fitter = GammaGammaFitter()
    fitter.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    n = np.array([1.0, 2.0, 5.0, 20.0])
    mean = np.array([10.0, 35.0, 20.0, 80.0])
    theirs = fitter.conditional_expected_average_profit(n, mean)
    np.testing.assert_allclose(gamma_gamma_conditional_expected_spend(n, mean, 6.25, 3.74, 15.44), theirs)
    assert gamma_gamma_conditional_expected_spend(0, np.nan, 6.25, 3.74, 15.44) == pytest.approx(6.25 * 15.44 / 2.74)


def test_latent_expectation_matches_direct_simulation():
    rng = np.random.default_rng(5)
    rate, dropout, horizon = 0.03, 0.2, 365.0
    draws = np.minimum(rng.poisson(rate * horizon, 400_000), rng.geometric(dropout, 400_000))
    expected = latent_expected_purchases(horizon, True, rate, dropout)
    assert abs(draws.mean() - expected) < 4 * draws.std() / np.sqrt(draws.size)
    assert latent_expected_purchases(horizon, False, rate, dropout) == 0.0


# ------------------------------------------------------------------------------ the oracle


def _posterior_monte_carlo(proc: LineProcess, alpha, gamma, x, t_x, big_t, n, m, horizon, draws=1_000_000, seed=0):
    """Re-simulate the future of one observed history, independently of eq. 10 / eq. 5.

    Latents are drawn from the segment prior and weighted by the likelihood of the history (importance
    sampling): BG/NBD ``L = (1-p)^x l^x e^{-l T} + [x>0] p (1-p)^(x-1) l^x e^{-l t_x}`` and Gamma-Gamma
    ``nu^(p n) e^{-nu n m}``.  The future is then simulated: active with prob ``(1-p)^x l^x e^{-l T} / L``,
    purchases ``min(Poisson(l h), Geometric(p))``, spend ``Gamma(p_gg * k, nu)``.  Returns (mean, se).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(proc.r, 1 / alpha, draws)
    drop = rng.beta(proc.a, proc.b, draws)
    nu = rng.gamma(proc.q, 1 / gamma, draws)
    log_alive = x * np.log1p(-drop) + x * np.log(lam) - lam * big_t
    log_dead = (np.log(drop) + (x - 1) * np.log1p(-drop) + x * np.log(lam) - lam * t_x) if x > 0 else -np.inf
    log_bg = np.logaddexp(log_alive, log_dead)
    log_w = log_bg + proc.p * n * np.log(nu) - nu * n * m
    weights = np.exp(log_w - log_w.max())
    alive = rng.random(draws) < np.exp(log_alive - log_bg)
    count = np.where(alive, np.minimum(rng.poisson(lam * horizon), rng.geometric(drop)), 0)
    spend = np.where(count > 0, rng.gamma(np.maximum(proc.p * count, 1e-12), 1 / nu), 0.0)
    spend *= 1 - proc.expected_refund_fraction
    mean = np.sum(weights * spend) / weights.sum()
    se = np.sqrt(np.sum(weights**2 * (spend - mean) ** 2)) / weights.sum()
    return mean, se


HISTORIES = [  # x repeat purchases, t_x, T (days), mean of all x + 1 purchase amounts
    (0, 0.0, 200.0, 30.0),
    (1, 20.0, 350.0, 60.0),
    (2, 100.0, 300.0, 25.0),
    (5, 300.0, 320.0, 40.0),
    (6, 250.0, 400.0, 15.0),
]


def test_oracle_matches_posterior_monte_carlo_for_given_histories():
    proc = replace(default_processes(["retail"])[0], refund_rate=0.1)
    alpha, gamma = proc.alpha / 0.6, proc.gamma * 1.2  # a paid-channel, high-spend-country segment
    z_true, z_wrong = [], []
    for i, (x, t_x, big_t, m) in enumerate(HISTORIES):
        mc, se = _posterior_monte_carlo(proc, alpha, gamma, x, t_x, big_t, x + 1, m, HORIZON, seed=i)
        spend = gamma_gamma_conditional_expected_spend(x + 1, m, proc.p, proc.q, gamma)
        keep = 1 - proc.expected_refund_fraction
        oracle = bgnbd_conditional_expected_purchases(HORIZON, x, t_x, big_t, proc.r, alpha, proc.a, proc.b) * spend * keep
        # the same formula with the line's alpha instead of the segment's (channel effect forgotten)
        wrong = bgnbd_conditional_expected_purchases(HORIZON, x, t_x, big_t, proc.r, proc.alpha, proc.a, proc.b) * spend * keep
        z_true.append((oracle - mc) / se)
        z_wrong.append((wrong - mc) / se)
    assert np.max(np.abs(z_true)) < 4, z_true
    assert np.max(np.abs(z_wrong)) > 10, z_wrong  # the check has the power to catch a wrong parameter


def _group_z(truth: pd.DataFrame, prediction: pd.Series, by: list) -> pd.Series:
    """z-score of mean(realised - prediction) per group of customers (groups are functions of the history)."""
    residual = truth["realised_spend"] - prediction
    grouped = residual.groupby([truth[col] for col in by], observed=True)
    return grouped.mean() / (grouped.std() / np.sqrt(grouped.size()))


GROUPINGS = [
    ["business_line"],
    ["business_line", "channel", "frequency_bucket"],
    ["business_line", "country"],
    ["business_line", "oracle_decile"],
]


def _worst_z(truth: pd.DataFrame, prediction: pd.Series) -> float:
    return max(float(np.abs(_group_z(truth, prediction, by)).max()) for by in GROUPINGS)


def test_oracle_is_unbiased_given_history_in_the_full_simulation(large):
    """E[realised - oracle | any function of the history] = 0, checked over ~90 groups of customers.

    Groups: line; line x channel x frequency bucket; line x country; line x decile of the oracle itself
    (a calibration curve).  Each group's mean residual must be within 4 standard errors of zero.
    """
    truth = large.ground_truth.copy()
    truth["frequency_bucket"] = pd.cut(truth["frequency"], [-1, 0, 1, 3, 10_000], labels=["0", "1", "2-3", "4+"])
    truth["oracle_decile"] = truth.groupby("business_line")["expected_spend"].transform(
        lambda s: pd.qcut(s, 10, labels=False))
    assert _worst_z(truth, truth["expected_spend"]) < 4

    # Power: plausible bugs in the oracle are caught by the same check.
    history = (truth["frequency"], truth["recency_days"], truth["tenure_days"])

    def with_bgnbd(alpha, b):  # the oracle with other BG/NBD parameters
        other = bgnbd_conditional_expected_purchases(HORIZON, *history, truth["segment_r"], alpha, truth["segment_a"], b)
        return truth["expected_spend"] * other / truth["expected_purchases"]

    def with_gamma(gamma):  # the oracle with another Gamma-Gamma gamma
        def spend(g):
            return gamma_gamma_conditional_expected_spend(
                truth["frequency"] + 1, truth["mean_purchase"], truth["segment_p"], truth["segment_q"], g)
        return truth["expected_spend"] * spend(gamma) / spend(truth["segment_gamma"])

    wrong_oracles = {
        "channel effect ignored": with_bgnbd(truth["segment_alpha"] * _channel_multiplier(truth), truth["segment_b"]),
        "country effect ignored": with_gamma(truth["segment_gamma"] / _country_multiplier(truth)),
        "b 30% too high": with_bgnbd(truth["segment_alpha"], truth["segment_b"] * 1.3),
    }
    for name, wrong in wrong_oracles.items():
        assert _worst_z(truth, wrong) > 6, name


def _channel_multiplier(truth: pd.DataFrame) -> np.ndarray:
    levels = {lv.name: lv.multiplier for lv in default_processes(["x"])[0].channels}
    return truth["channel"].map(levels).to_numpy()


def _country_multiplier(truth: pd.DataFrame) -> np.ndarray:
    levels = {lv.name: lv.multiplier for lv in default_processes(["x"])[0].countries}
    return truth["country"].map(levels).to_numpy()


def test_latent_expectation_matches_realised_spend_on_average(large):
    truth = large.ground_truth
    for _, line in truth.groupby("business_line"):
        residual = line["realised_spend"] - line["expected_spend_latent"]
        assert abs(residual.mean()) < 4 * residual.std() / np.sqrt(len(line))
        purchases = line["realised_purchases"] - line["expected_purchases_latent"]
        assert abs(purchases.mean()) < 4 * purchases.std() / np.sqrt(len(line))
    # and the oracle's alive probability is calibrated against the true state
    alive = truth["alive_latent"].astype(float) - truth["p_alive"]
    assert abs(alive.mean()) < 4 * alive.std() / np.sqrt(len(truth))


def test_attributes_genuinely_shift_behaviour(large):
    truth = large.ground_truth
    # channel -> purchase rate: repeat purchases per day of tenure, referral > organic > paid
    rate = truth["frequency"] / truth["tenure_days"]
    by_channel = rate.groupby(truth["channel"])
    mean, se = by_channel.mean(), by_channel.std() / np.sqrt(by_channel.size())
    assert (mean["referral"] - mean["organic"]) / np.hypot(se["referral"], se["organic"]) > 5
    assert (mean["organic"] - mean["paid"]) / np.hypot(se["organic"], se["paid"]) > 5
    # country -> spend per purchase
    spend = truth["mean_purchase"].groupby([truth["business_line"], truth["country"]])
    mean, se = spend.mean(), spend.std() / np.sqrt(spend.size())
    for line in LINES:
        assert (mean[line, "DE"] - mean[line, "BR"]) / np.hypot(se[line, "DE"], se[line, "BR"]) > 5
