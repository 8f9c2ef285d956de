"""The Tweedie spend variance of models without a distribution of their own (ltv/models/dispersion.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltv.models.dispersion import SpendDispersion, fit_dispersion


def _frame(actual, predicted) -> pd.DataFrame:
    return pd.DataFrame({"label_spend": np.asarray(actual, float), "predicted_ltv": np.asarray(predicted, float)})


def _tweedie(mean: np.ndarray, phi: float, power: float, rng: np.random.Generator) -> np.ndarray:
    """Compound Poisson-Gamma draws with mean ``mean`` and variance ``phi mean^power`` (1 < power < 2)."""
    rate = mean ** (2 - power) / (phi * (2 - power))
    shape = (2 - power) / (power - 1)
    scale = phi * (power - 1) * mean ** (power - 1)
    counts = rng.poisson(rate)
    return np.where(counts > 0, rng.gamma(np.maximum(counts, 1) * shape, scale), 0.0)


def test_out_of_sample_the_summed_variance_equals_the_summed_squared_error():
    frames = [_frame([0, 12, 3, 40], [5, 10, 2, 20]), _frame([7, 0], [6, 1])]
    dispersion = fit_dispersion(frames, 1.5)
    pooled = pd.concat(frames)
    variance = dispersion.variance(pooled["predicted_ltv"].to_numpy())
    assert variance.sum() == pytest.approx(((pooled["label_spend"] - pooled["predicted_ltv"]) ** 2).sum(), rel=1e-12)
    assert dispersion.n == 6 and dispersion.power == 1.5
    # power 0: one variance for every customer (the squared-error booster)
    constant = fit_dispersion(frames, 0.0)
    assert np.ptp(constant.variance(np.array([0.0, 3.0, 100.0]))) == 0


def test_recovers_the_dispersion_of_tweedie_spend():
    rng = np.random.default_rng(7)
    mean = rng.gamma(0.8, 40.0, size=200_000)
    for phi, power in ((3.0, 1.5), (10.0, 1.3)):
        fitted = fit_dispersion([_frame(_tweedie(mean, phi, power, rng), mean)], power)
        assert fitted.phi == pytest.approx(phi, rel=0.05), (phi, power, fitted)


def test_negative_net_forecasts_scale_by_their_size_and_round_trip():
    dispersion = SpendDispersion(phi=2.0, power=1.5, n=10)
    assert dispersion.variance(np.array([-4.0, 4.0, 0.0])).tolist() == [16.0, 16.0, 0.0]
    assert SpendDispersion.from_dict(dispersion.as_dict()) == dispersion


def test_nothing_to_fit_and_broken_input():
    assert fit_dispersion([], 1.5) is None
    assert fit_dispersion([_frame([1.0, 2.0], [0.0, 0.0])], 1.5) is None  # every forecast 0: no scale
    with pytest.raises(ValueError, match="2 back-test rows hold NaN/inf"):
        fit_dispersion([_frame([1.0, np.nan, 3.0], [1.0, 2.0, np.inf])], 1.5)
    with pytest.raises(ValueError, match=r"power must be in \[0, 2\]"):
        fit_dispersion([_frame([1.0], [1.0])], 2.5)


def test_variance_ratio_judges_the_variance_and_says_nan_when_it_cannot():
    from ltv.training.backtest import variance_ratio

    actual, predicted = np.array([0.0, 10.0, 4.0]), np.array([2.0, 6.0, 4.0])
    assert variance_ratio(actual, predicted, np.array([5.0, 10.0, 5.0])) == pytest.approx(20.0 / 20.0)
    assert variance_ratio(actual, predicted, np.array([1.0, 2.0, 1.0])) == pytest.approx(5.0)  # too sure
    assert np.isnan(variance_ratio(actual, predicted, np.full(3, np.nan)))  # no variance given
    assert np.isnan(variance_ratio(actual, predicted, np.array([1.0, np.inf, 1.0])))  # no second moment


def test_each_window_is_judged_with_the_dispersion_of_the_others():
    from ltv.models.dispersion import cross_dispersed

    frames = [_frame([0, 12, 3], [5, 10, 2]), _frame([7, 0, 30], [6, 1, 9]), _frame([1, 1], [2, 2])]
    for frame in frames:
        frame["predicted_ltv_variance"] = np.nan
    judged = cross_dispersed(frames, 1.5)
    for k, frame in enumerate(judged):
        others = fit_dispersion([f for j, f in enumerate(frames) if j != k], 1.5)
        np.testing.assert_allclose(frame["predicted_ltv_variance"], others.variance(frame["predicted_ltv"].to_numpy()))
    assert frames[0]["predicted_ltv_variance"].isna().all()  # the inputs are not changed
    one = frames[:1]
    assert cross_dispersed(one, 1.5) is one  # one window: nothing honest to judge it with
