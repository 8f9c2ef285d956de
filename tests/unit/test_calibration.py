"""Conformal calibration of quantiles (ltv.models.calibration): the levels hold on new customers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ltv.models.calibration import COLUMNS, LEVELS, QuantileCalibration, cross_calibrated, fit_calibration


def _window(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Zero-inflated lognormal spend (60% buy nothing, a few refund) and quantiles that are far too
    narrow: a model that knows each customer's scale but claims a tenth of the spread."""
    scale = rng.lognormal(3.0, 0.8, n)
    buys = rng.random(n) < 0.4
    spend = np.where(buys, scale * rng.lognormal(0.0, 1.0, n), 0.0) - (rng.random(n) < 0.03) * 5.0
    frame = pd.DataFrame({"customer_id": np.arange(n).astype(str), "label_spend": spend})
    frame[COLUMNS[0.1]] = 0.0
    frame[COLUMNS[0.5]] = 0.0
    frame[COLUMNS[0.9]] = scale * np.exp(0.1 * 1.2816)  # the buyers' p90 with a tenth of the log spread
    return frame


def _shares(frame: pd.DataFrame) -> dict[float, tuple[float, float]]:
    y = frame["label_spend"].to_numpy()
    return {level: (float(np.mean(y < frame[COLUMNS[level]])), float(np.mean(y <= frame[COLUMNS[level]])))
            for level in LEVELS}


def test_calibrated_levels_hold_on_new_customers():
    rng = np.random.default_rng(0)
    calibration = fit_calibration([_window(rng, 20_000), _window(rng, 20_000)])
    assert calibration is not None and calibration.n == 40_000
    fresh = _window(rng, 50_000)
    before = _shares(fresh)
    assert before[0.9][1] < 0.85  # uncalibrated: far fewer than 90% at or below p90
    after = _shares(calibration.apply(fresh))
    for level, (below, at_or_below) in after.items():
        assert below <= level + 0.01 and at_or_below >= level - 0.01, (level, below, at_or_below)
    calibrated = calibration.apply(fresh)
    assert (np.diff(calibrated[[COLUMNS[level] for level in LEVELS]].to_numpy(), axis=1) >= 0).all()
    # never below the lowest spend seen (a refund of 5): a quantile under every possible value means nothing
    assert calibration.floor == -5.0 and (calibrated[COLUMNS[0.1]] >= -5.0).all()


def test_a_point_mass_keeps_its_quantile_at_the_mass():
    """Most customers buy nothing and the raw p10 is a little above 0: the shift moves it down, to 0
    (the floor), not below; the level still holds on new customers."""
    rng = np.random.default_rng(3)

    def window(n: int) -> pd.DataFrame:
        frame = _window(rng, n)
        frame["label_spend"] = frame["label_spend"].clip(lower=0.0)  # no refunds
        frame[COLUMNS[0.1]] = rng.uniform(0.1, 2.0, n)
        return frame

    calibration = fit_calibration([window(10_000)])
    assert calibration.shifts[0.1] < 0 and calibration.floor == 0.0
    calibrated = calibration.apply(window(20_000))
    assert (calibrated[COLUMNS[0.1]] == 0.0).mean() > 0.9
    below, at_or_below = _shares(calibrated)[0.1]
    assert below <= 0.1 <= at_or_below


def test_cross_calibration_uses_only_the_other_windows():
    rng = np.random.default_rng(1)
    frames = [_window(rng, 5_000) for _ in range(3)]
    assert cross_calibrated(frames[:1])[0] is frames[0]  # one window: nothing to calibrate on
    out = cross_calibrated(frames)
    for k in range(3):
        expected = fit_calibration([f for j, f in enumerate(frames) if j != k]).apply(frames[k])
        pd.testing.assert_frame_equal(out[k], expected)


def test_round_trip_and_absent_levels():
    rng = np.random.default_rng(2)
    calibration = fit_calibration([_window(rng, 1_000)])
    again = QuantileCalibration.from_dict(calibration.as_dict())
    assert again == calibration
    frame = _window(rng, 10)
    frame[COLUMNS[0.5]] = np.nan
    assert fit_calibration([frame]) is None  # a model without p50 (saved before 0.4) is not calibrated


def test_a_saved_booster_keeps_its_calibration(tmp_path):
    from ltv.models.registry import create_model, load_model
    from tests.unit.test_models_xgb import FAST, customers, training_data  # the boosted tests' small examples

    data = training_data(customers(n=400))
    model = create_model("xgboost", **FAST).fit(data)
    raw = model.predict(data.examples, data.horizon_days)
    calibration = QuantileCalibration(scale=10.0, shifts={0.1: -0.2, 0.5: 0.1, 0.9: 0.4}, n=100)
    model.set_quantile_calibration(calibration)
    calibrated = model.predict(data.examples, data.horizon_days)
    pd.testing.assert_frame_equal(calibrated, calibration.apply(raw).astype(calibrated.dtypes.to_dict()))
    assert not np.allclose(calibrated[COLUMNS[0.9]], raw[COLUMNS[0.9]])
    model.save(tmp_path / "m")
    pd.testing.assert_frame_equal(load_model(tmp_path / "m").predict(data.examples, data.horizon_days), calibrated)


@pytest.mark.parametrize("values", [[np.nan, 1.0], [np.inf, 1.0]])
def test_broken_labels_are_refused(values):
    frame = pd.DataFrame({"label_spend": values, **{COLUMNS[level]: [0.0, 1.0] for level in LEVELS}})
    with pytest.raises(ValueError, match="NaN/inf"):
        fit_calibration([frame])
