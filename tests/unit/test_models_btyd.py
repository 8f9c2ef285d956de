"""BTYD models against the papers (CDNOW sample), lifetimes, odd customers and simulated truth.

CDNOW: lifetimes' ``load_cdnow_summary_data_with_monetary_value()`` is the classic calibration
summary (2357 customers of the 1/10 sample, weekly, 39-week calibration ending 1997-09-30).
Published: BG/NBD [FHL05] r=0.243 alpha=4.414 a=0.793 b=2.426 (LL -9582.4); Pareto/NBD
r=0.553 alpha=10.578 s=0.606 beta=11.669 (LL -9595.0); Gamma-Gamma [N025] p=6.25 q=3.74 v=15.44.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from ltv.models.base import TrainingData
from ltv.models.btyd import BGNBDGammaGamma, ParetoNBDGammaGamma
from ltv.models.btyd import fit as bf
from ltv.models.btyd import math as bm
from ltv.models.btyd import optimum
from ltv.models.registry import load_model

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

    customers = load_cdnow_summary_data_with_monetary_value()
    assert len(customers) == 2357
    return customers.reset_index(drop=True)


def condensed(customers: pd.DataFrame, time_unit: str = "weeks") -> TrainingData:
    patterns = customers.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    buyers = customers[(customers["frequency"] > 0) & (customers["monetary_value"] > 0)]
    spend_patterns = buyers.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    return TrainingData(time_unit=time_unit, horizon_days=364, patterns=patterns, spend_patterns=spend_patterns)


@pytest.fixture(scope="module")
def cdnow_data(cdnow: pd.DataFrame) -> TrainingData:
    data = condensed(cdnow)
    assert len(data.patterns) < len(cdnow)  # really condensed
    return data


@pytest.fixture(scope="module")
def bgnbd(cdnow_data: TrainingData) -> BGNBDGammaGamma:
    return BGNBDGammaGamma().fit(cdnow_data)


@pytest.fixture(scope="module")
def pareto(cdnow_data: TrainingData) -> ParetoNBDGammaGamma:
    return ParetoNBDGammaGamma().fit(cdnow_data)


def assert_close(fitted: dict[str, float], expected: dict[str, float], rel: float) -> None:
    for key, value in expected.items():
        assert fitted[key] == pytest.approx(value, rel=rel), f"{key}: fitted {fitted[key]:.5g}, expected {value}"


# -- golden: published parameters -----------------------------------------------------------
def test_bgnbd_gg_matches_published_cdnow(bgnbd: BGNBDGammaGamma) -> None:
    assert_close(bgnbd.purchase_params_, PUBLISHED_BGNBD, rel=0.01)
    assert_close(bgnbd.spend_params_, PUBLISHED_GG, rel=0.01)
    assert bgnbd.converged_ and bgnbd.purchase_fit_["penalizer"] == 0.0
    assert bgnbd.purchase_fit_["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert bgnbd.purchase_fit_["n_customers"] == 2357
    assert bgnbd.spend_fit_["n_customers"] == 946  # customers with repeat purchases


def test_pareto_gg_matches_published_cdnow(pareto: ParetoNBDGammaGamma) -> None:
    assert_close(pareto.purchase_params_, PUBLISHED_PARETO, rel=0.01)
    assert_close(pareto.spend_params_, PUBLISHED_GG, rel=0.01)
    assert pareto.converged_ and pareto.purchase_fit_["penalizer"] == 0.0
    assert pareto.purchase_fit_["log_likelihood"] == pytest.approx(-9595.0, abs=0.1)


def layout(rows: pd.DataFrame, order: str) -> pd.DataFrame:
    """The same rows in another order: as given, reversed, or shuffled (seeded)."""
    if order == "reversed":
        return rows.iloc[::-1].reset_index(drop=True)
    if order == "shuffled":
        return rows.sample(frac=1.0, random_state=20240101).reset_index(drop=True)
    return rows


ORDERS = ["as_given", "reversed", "shuffled"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("fit", [bf.fit_bgnbd, bf.fit_pareto_nbd], ids=["bgnbd", "pareto"])
def test_condensed_fit_equals_per_customer_fit(fit, order: str, cdnow: pd.DataFrame, cdnow_data: TrainingData) -> None:
    per_customer = layout(cdnow[["frequency", "recency", "T"]].assign(weight=1), order)
    condensed_fit = fit(layout(cdnow_data.patterns, order), 0.1)
    per_customer_fit = fit(per_customer, 0.1)
    assert condensed_fit.penalizer == per_customer_fit.penalizer == 0.0
    assert_close(condensed_fit.params, per_customer_fit.params, rel=1e-4)
    assert max(condensed_fit.newton_step, per_customer_fit.newton_step) <= optimum.PARAM_TOL


@pytest.mark.parametrize("order", ORDERS)
def test_condensed_gamma_gamma_equals_per_customer(order: str, cdnow: pd.DataFrame, cdnow_data: TrainingData) -> None:
    buyers = layout(cdnow[cdnow["frequency"] > 0][["frequency", "monetary_value"]].assign(weight=1), order)
    condensed_fit = bf.fit_gamma_gamma(layout(cdnow_data.spend_patterns, order), 0.1)
    assert_close(condensed_fit.params, bf.fit_gamma_gamma(buyers, 0.1).params, rel=1e-4)


def test_fits_reach_the_optimum_to_the_stated_tolerance(cdnow: pd.DataFrame, cdnow_data: TrainingData) -> None:
    """Every returned fit is a stationary point with a positive definite Hessian, within PARAM_TOL."""
    for fit, names in ((bf.fit_bgnbd, ("r", "alpha", "a", "b")), (bf.fit_pareto_nbd, ("r", "alpha", "s", "beta"))):
        result = fit(cdnow_data.patterns, 0.0)
        f, rec, age, w = (cdnow_data.patterns[c].to_numpy(float) for c in ("frequency", "recency", "T", "weight"))
        likelihood = bm.bgnbd_log_likelihood if fit is bf.fit_bgnbd else bm.pareto_log_likelihood

        def objective(log_params: np.ndarray) -> float:
            return -float((w * likelihood(dict(zip(names, np.exp(log_params))), f, rec, age)).sum()) / w.sum()

        x = np.log([result.params[n] for n in names])
        gradient = optimum.fourth_order_gradient(objective, x)
        hessian = optimum.central_hessian(objective, x)
        assert np.all(np.linalg.eigvalsh(hessian) > 0)
        assert np.max(np.abs(np.linalg.solve(hessian, gradient))) <= optimum.PARAM_TOL


def test_where_the_first_stage_stops_does_not_matter(cdnow_data: TrainingData, monkeypatch) -> None:
    """The answer is the optimum, not where the quasi-Newton stage happened to stop (the old failure)."""
    reference = bf.fit_pareto_nbd(cdnow_data.patterns, 0.0).params
    monkeypatch.setattr(optimum, "MAX_ITER", 3)  # stage 1 stops far from the optimum
    assert_close(bf.fit_pareto_nbd(cdnow_data.patterns, 0.0).params, reference, rel=1e-6)
    assert_close(reference, PUBLISHED_PARETO, rel=0.01)


@pytest.mark.parametrize(
    ("likelihood", "gradient", "params"),
    [
        (bm.bgnbd_log_likelihood, bm.bgnbd_log_likelihood_gradient, PUBLISHED_BGNBD),
        (bm.gamma_gamma_log_likelihood, bm.gamma_gamma_log_likelihood_gradient, PUBLISHED_GG),
    ],
    ids=["bgnbd", "gamma_gamma"],
)
def test_analytic_gradients_match_finite_differences(likelihood, gradient, params, cdnow: pd.DataFrame) -> None:
    buyers = cdnow[cdnow["frequency"] > 0]
    if "p" in params:
        args = (buyers["frequency"].to_numpy(float), buyers["monetary_value"].to_numpy(float))
    else:
        args = tuple(cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    analytic = gradient(params, *args)
    for name, value in params.items():
        step = 1e-6 * value
        numeric = (likelihood({**params, name: value + step}, *args) - likelihood({**params, name: value - step}, *args)) / (2 * step)
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_non_convergence_is_reported_not_returned() -> None:
    """A minimum the optimiser cannot reach (a ridge with no maximum) is an error naming each rung's reason."""
    # every customer buys at the same steady rate and nobody drops out: s, beta run off to infinity
    patterns = pd.DataFrame(
        {"frequency": [4, 8, 12], "recency": [10, 20, 30], "T": [10, 20, 30], "weight": [50, 50, 50]}
    )
    with pytest.raises(bf.BTYDFitError, match="penalizer 0: .*max_penalizer"):
        bf.fit_pareto_nbd(patterns, 0.0)
    saddle = optimum.minimize_log_params(lambda x: float(x[0] ** 2 - x[1] ** 2), [0.5, 0.1], [(-1.0, 1.0), (-1.0, 1.0)])
    assert not saddle.converged and "edge" in saddle.reason


# -- closed forms agree with lifetimes ----------------------------------------------------------
def test_closed_forms_match_lifetimes(cdnow: pd.DataFrame, bgnbd, pareto) -> None:
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    x, t_x, T, m = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    reference_bg = BetaGeoFitter()
    reference_bg.params_ = pd.Series(bgnbd.purchase_params_)
    reference_pareto = ParetoNBDFitter()
    reference_pareto.params_ = pd.Series(pareto.purchase_params_)
    reference_gg = GammaGammaFitter()
    reference_gg.params_ = pd.Series(bgnbd.spend_params_)
    for t in (4.0, 52.0):
        np.testing.assert_allclose(
            bm.bgnbd_expected_purchases(bgnbd.purchase_params_, t, x, t_x, T),
            reference_bg.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T), rtol=1e-8,
        )
        np.testing.assert_allclose(
            bm.pareto_expected_purchases(pareto.purchase_params_, t, x, t_x, T),
            reference_pareto.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T), rtol=1e-8,
        )
    np.testing.assert_allclose(
        bm.bgnbd_p_alive(bgnbd.purchase_params_, x, t_x, T), reference_bg.conditional_probability_alive(x, t_x, T),
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        bm.pareto_p_alive(pareto.purchase_params_, x, t_x, T),
        reference_pareto.conditional_probability_alive(x, t_x, T), rtol=1e-8,
    )
    buyers = x > 0
    np.testing.assert_allclose(
        bm.gamma_gamma_expected_spend(bgnbd.spend_params_, x[buyers], m[buyers]),
        reference_gg.conditional_expected_average_profit(x[buyers], m[buyers]), rtol=1e-10,
    )


def test_prediction_is_purchases_times_expected_spend(bgnbd: BGNBDGammaGamma, cdnow: pd.DataFrame) -> None:
    predictions = bgnbd.predict(cdnow, horizon_days=364)  # 52 weeks
    x, t_x, T, m = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    purchases = bm.bgnbd_expected_purchases(bgnbd.purchase_params_, 52.0, x, t_x, T)
    np.testing.assert_allclose(predictions["predicted_purchases"], purchases, rtol=1e-12)
    spend = bm.gamma_gamma_expected_spend(bgnbd.spend_params_, x, m)
    np.testing.assert_allclose(predictions["predicted_ltv"], purchases * spend, rtol=1e-12)
    population_mean = bm.gamma_gamma_population_mean(bgnbd.spend_params_)
    assert spend[x == 0] == pytest.approx(population_mean)


# -- robustness ---------------------------------------------------------------------------------
ODD_CUSTOMERS = pd.DataFrame(
    {
        "frequency": [0, 0, 3, 1, 500, 2, 0, 4, np.nan, 2.0000001, 10, 500],
        "recency": [0, 0, 10, 1e4, 1e5, 30, 0, 39.0000001, 5, 20, 0.5, 99],
        "T": [38.86, 1e6, 39, 1e4, 1e5, 40, 0, 39, 10, 30, 1e5, 100],
        "monetary_value": [0.0, 0.0, -12.5, 0.0, 1e4, 25.0, 0.0, 30.0, np.nan, -1.0, 5.0, 20.0],
    }
)


@pytest.mark.parametrize("model_name", ["bgnbd", "pareto"])
def test_predictions_finite_and_non_negative_on_odd_customers(model_name: str, request) -> None:
    model = request.getfixturevalue(model_name)
    predictions = model.predict(ODD_CUSTOMERS, horizon_days=365)
    values = predictions.to_numpy(dtype=float)
    assert np.isfinite(values).all() and (values >= 0).all()
    assert predictions["p_alive"].between(0, 1).all()
    assert (predictions["predicted_ltv_p10"] <= predictions["predicted_ltv_p90"]).all()
    assert predictions.loc[4, "predicted_purchases"] > 0.1  # lifetimes' Pareto/NBD gives NaN here
    assert predictions.loc[11, "predicted_purchases"] > 100  # a heavy, recent buyer keeps buying


def test_penalizer_ladder_rescues_pathological_spend(caplog) -> None:
    # identical spend everywhere: the Gamma-Gamma likelihood has no maximum (p, v -> infinity)
    spend_patterns = pd.DataFrame(
        {"frequency": [1, 2, 3, 4, 5, 6], "monetary_value": [10.0] * 6, "weight": [5, 4, 3, 2, 1, 1]}
    )
    patterns = pd.DataFrame(
        {"frequency": [0, 1, 2, 3, 6], "recency": [0, 5, 12, 20, 25], "T": [30, 30, 30, 30, 30], "weight": [5, 5, 4, 2, 1]}
    )
    data = TrainingData(time_unit="weeks", patterns=patterns, spend_patterns=spend_patterns)
    with caplog.at_level(logging.INFO, logger="ltv.models.btyd.fit"):
        model = BGNBDGammaGamma().fit(data)
    assert model.spend_fit_["penalizer"] > 0
    assert any("penalizer 0 failed" in r.getMessage() or "penalizer 0 rejected" in r.getMessage() for r in caplog.records)
    predictions = model.predict(ODD_CUSTOMERS, horizon_days=90)
    assert np.isfinite(predictions.to_numpy(dtype=float)).all()
    with pytest.raises(bf.BTYDFitError, match="max_penalizer"):
        BGNBDGammaGamma(max_penalizer=0.0).fit(data)


def test_fit_rejects_missing_inputs() -> None:
    with pytest.raises(ValueError, match="patterns"):
        BGNBDGammaGamma().fit(TrainingData(time_unit="weeks"))
    with pytest.raises(ValueError, match="time_unit"):
        BGNBDGammaGamma().fit(TrainingData(time_unit="months"))


# -- intervals on simulated truth -----------------------------------------------------------------
def simulate_bgnbd_gg(n_customers: int, horizon: float, seed: int) -> pd.DataFrame:
    """Calibration summaries and holdout spend from BG/NBD + Gamma-Gamma with CDNOW's parameters (weeks)."""
    rng = np.random.default_rng(seed)
    bg, gg = PUBLISHED_BGNBD, PUBLISHED_GG
    rows = []
    for _ in range(n_customers):
        rate = rng.gamma(bg["r"], 1 / bg["alpha"])
        dropout = rng.beta(bg["a"], bg["b"])
        nu = rng.gamma(gg["q"], 1 / gg["v"])
        age = rng.uniform(20, 52)
        times, now = [], 0.0
        while True:  # first purchase at 0; each repeat purchase is followed by a dropout coin
            now += rng.exponential(1 / rate) if rate > 0 else np.inf
            if now > age + horizon:
                break
            times.append(now)
            if rng.random() < dropout:
                break
        times = np.array(times)
        spends = rng.gamma(gg["p"], 1 / nu, size=len(times))
        past = times <= age
        rows.append(
            {
                "frequency": float(past.sum()),
                "recency": float(times[past].max()) if past.any() else 0.0,
                "T": age,
                "monetary_value": float(spends[past].mean()) if past.any() else 0.0,
                "holdout_spend": float(spends[~past].sum()),
            }
        )
    return pd.DataFrame(rows)


def test_interval_coverage_on_simulated_bgnbd_gg() -> None:
    customers = simulate_bgnbd_gg(4000, horizon=52.0, seed=11)
    model = BGNBDGammaGamma().fit(condensed(customers))
    predictions = model.predict(customers, horizon_days=364)
    actual = customers["holdout_spend"]
    covered = (actual >= predictions["predicted_ltv_p10"] - 1e-9) & (actual <= predictions["predicted_ltv_p90"] + 1e-9)
    assert 0.65 <= covered.mean() <= 0.92, f"p10-p90 coverage {covered.mean():.3f}"
    # and the point prediction is unbiased in total (within 10%)
    assert predictions["predicted_ltv"].sum() == pytest.approx(actual.sum(), rel=0.10)


def test_intervals_are_deterministic(bgnbd: BGNBDGammaGamma, cdnow: pd.DataFrame) -> None:
    first = bgnbd.predict(cdnow.head(500), horizon_days=364)
    second = bgnbd.predict(cdnow.head(500), horizon_days=364)
    pd.testing.assert_frame_equal(first, second)


# -- net spend -------------------------------------------------------------------------------------


def test_net_share_is_one_minus_the_refunded_share_and_refuses_unusable_totals() -> None:
    from ltv.models.base import net_share

    assert net_share(None) == 1.0
    refunds = pd.DataFrame({"gross_spend_total": [600.0, 400.0], "refund_total": [150.0, 50.0]})
    assert net_share(refunds) == pytest.approx(0.8)
    assert net_share(pd.DataFrame({"gross_spend_total": [0.0], "refund_total": [0.0]})) == 1.0
    for gross, refunded in ((100.0, 100.0), (100.0, 120.0), (0.0, 5.0), (float("nan"), 1.0), (100.0, -1.0)):
        with pytest.raises(ValueError):
            net_share(pd.DataFrame({"gross_spend_total": [gross], "refund_total": [refunded]}), "line x")
    with pytest.raises(ValueError, match="lacks columns"):
        net_share(pd.DataFrame({"gross": [1.0]}))


def test_btyd_forecasts_net_spend_from_the_refund_share_and_old_models_stay_gross(cdnow, cdnow_data, tmp_path) -> None:
    gross = BGNBDGammaGamma().fit(cdnow_data)
    data = condensed(cdnow)
    data.refunds = pd.DataFrame({"gross_spend_total": [1000.0], "refund_total": [200.0]})
    net = BGNBDGammaGamma().fit(data)
    assert gross.net_share_ == 1.0 and net.net_share_ == pytest.approx(0.8)
    a, b = gross.predict(cdnow, 364), net.predict(cdnow, 364)
    for column in ("predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p90"):
        np.testing.assert_allclose(b[column], 0.8 * a[column], rtol=1e-12)
    np.testing.assert_allclose(b["predicted_purchases"], a["predicted_purchases"])  # refunds are not purchases
    # the predictive variance of net spend: the gross spend's (the exact distribution's) x the share squared
    assert np.isfinite(a["predicted_ltv_variance"]).all() and (a["predicted_ltv_variance"] > 0).all()
    np.testing.assert_allclose(b["predicted_ltv_variance"], 0.64 * a["predicted_ltv_variance"], rtol=1e-12)

    net.save(tmp_path / "m")
    document = json.loads((tmp_path / "m" / "model.json").read_text())
    assert document["state"]["net_share"] == pytest.approx(0.8)
    del document["state"]["net_share"]  # as written before net spend existed
    (tmp_path / "m" / "model.json").write_text(json.dumps(document))
    old = load_model(tmp_path / "m")
    assert old.net_share_ == 1.0
    np.testing.assert_allclose(old.predict(cdnow, 364)["predicted_ltv"], a["predicted_ltv"], rtol=1e-12)
