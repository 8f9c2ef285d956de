"""Every path of the promotion gate, on synthetic back-test samples whose truth is known.

``actual`` is a zero-inflated spend; a "good" model predicts it with small noise, a "level" model
has the right level and no ranking, a "close" model is the good one plus a hair of noise (a tie).
Three windows of the same 1,500 customers, as the rolling-origin back-test gives them.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from ltv.config import GateSettings
from ltv.evaluation import bootstrap as bs
from ltv.evaluation.metrics import normalized_gini, rmse
from ltv.training.gate import decide

N, WINDOWS = 1500, 3


def _sample(**models) -> bs.BacktestSample:
    rng = np.random.default_rng(42)
    spend = rng.gamma(0.6, 60.0, N * WINDOWS) * (rng.random(N * WINDOWS) < 0.45)
    truth = spend + rng.normal(0, 5.0, spend.size)
    base = {
        "baseline": np.full(spend.size, spend.mean()) * rng.uniform(0.9, 1.1, spend.size),
        "good": np.maximum(truth, 0) * 0.98 + 1.0,
        "close": np.maximum(truth, 0) * 0.98 + 1.0 + rng.normal(0, 0.05, spend.size),
        "level": rng.permutation(np.maximum(truth, 0)),
        "high": np.maximum(truth, 0) * 1.6,  # ranks well, ~75% over-forecast: fails the bias rail
        "flat": np.full(spend.size, spend.mean()) * rng.uniform(0.9, 1.1, spend.size),  # the baseline again
    }
    chosen = {name: base[name] if values is True else values(base) for name, values in models.items()}
    return bs.BacktestSample(
        customer=np.tile(np.arange(N), WINDOWS), window=np.repeat(np.arange(WINDOWS), N), actual=spend,
        predicted=chosen,
    )


SETTINGS = GateSettings(n_bootstrap=300)


def test_first_champion_is_promoted_with_the_interval_behind_it():
    decision = decide(_sample(baseline=True, good=True, level=True), SETTINGS)
    assert (decision.winner, decision.action, decision.status) == ("good", "promote", "confirmed")
    assert "first champion" in decision.reason and "beats the baseline on rmse by" in decision.reason
    comparison = next(c for c in decision.evidence["comparisons"] if c["model"] == "good" and c["reference"] == "baseline")
    assert comparison["improvement"]["low"] > 0 and comparison["improvement"]["level"] == 0.9
    assert set(decision.evidence["rails"]) == {"baseline", "good", "level"}


def test_the_champions_spec_winning_again_is_a_refresh():
    decision = decide(_sample(baseline=True, good=True, level=True), SETTINGS, champion="good")
    assert (decision.winner, decision.action, decision.promote) == ("good", "refresh", True)


def test_a_candidate_that_is_not_significantly_better_than_the_champion_is_kept_out():
    sample = _sample(baseline=True, good=True, close=True)
    errors = {n: bs.point_estimate("rmse", sample, n) for n in ("good", "close")}
    champion, challenger = max(errors, key=errors.get), min(errors, key=errors.get)  # the challenger is ahead
    decision = decide(sample, GateSettings(n_bootstrap=300, tie_tolerance=0.0), champion=champion)
    assert decision.winner == challenger and not decision.promote and decision.action == "keep"
    assert f"not significantly better than the champion {champion}" in decision.reason


def test_a_near_tie_goes_to_the_secondary_metric():
    # "close" is "good" with a hair of noise: tied on RMSE; make "close" rank clearly better on Gini
    # by giving it the exact truth order, with the same squared error (a permutation of its errors)
    sample = _sample(baseline=True, good=True, close=True)
    settings = GateSettings(n_bootstrap=300, tie_tolerance=0.05)
    decision = decide(sample, settings)
    key_values = {n: bs.point_estimate("gini", sample, n) for n in ("good", "close")}
    assert decision.promote and decision.winner == max(key_values, key=key_values.get)
    assert "tie on rmse" in decision.reason and "best on gini" in decision.reason


def test_not_significantly_better_than_the_baseline_on_a_first_run_is_provisional():
    decision = decide(_sample(baseline=True, flat=True), SETTINGS)
    assert decision.action == "provisional" and decision.status == "provisional" and decision.promote
    assert "flat is not significantly better than the baseline" in decision.reason and "provisionally" in decision.reason
    # with a champion in place nothing changes; with provisional blessings off nothing is promoted
    assert decide(_sample(baseline=True, flat=True), SETTINGS, champion="flat").action == "keep"
    off = decide(_sample(baseline=True, flat=True), GateSettings(n_bootstrap=300, provisional=False))
    assert off.action == "keep" and not off.promote and off.winner is None


def test_a_failed_or_missing_baseline_promotes_nothing_on_evidence():
    failed = decide(_sample(good=True), SETTINGS, champion="good", failed={"baseline": "ValueError: boom"})
    assert failed.action == "keep" and "the baseline failed (failed: ValueError: boom)" in failed.reason
    assert failed.rejected["baseline"] == "failed: ValueError: boom"
    first = decide(_sample(good=True), SETTINGS)
    assert first.action == "provisional" and "baseline failed (missing)" in first.reason


def test_the_bias_rail_judges_the_interval_not_the_point():
    decision = decide(_sample(baseline=True, high=True, good=True), SETTINGS)
    assert "high" in decision.rejected and "aggregate bias +" in decision.rejected["high"]
    assert decision.winner == "good"
    generous = decide(_sample(baseline=True, high=True), GateSettings(n_bootstrap=300, max_abs_bias=0.8))
    assert "high" not in generous.rejected  # ~75% over, inside an 80% rail


def test_a_nan_metric_rejects_the_model():
    sample = _sample(baseline=True, good=True)
    sample.actual[:] = 0.0  # nobody spent: the Gini is undefined for every model
    decision = decide(sample, GateSettings(n_bootstrap=300, primary_metric="gini"))
    assert all("gini is undefined" in why for why in decision.rejected.values())
    assert decision.action == "provisional" or decision.winner is None
    assert "no model has a defined gini" in decision.reason


def test_a_champion_that_now_fails_a_rail_is_replaced():
    decision = decide(_sample(baseline=True, high=True, good=True), SETTINGS, champion="high")
    assert decision.action == "promote" and decision.winner == "good" and "now fails a guard rail" in decision.reason


def test_bootstrap_point_estimates_are_the_plain_metrics():
    sample = _sample(baseline=True, good=True)
    assert bs.point_estimate("rmse", sample, "good") == pytest.approx(rmse(sample.actual, sample.predicted["good"]))
    per_window = [normalized_gini(sample.actual[sample.window == w], sample.predicted["good"][sample.window == w])
                  for w in range(WINDOWS)]
    assert bs.point_estimate("gini", sample, "good") == pytest.approx(np.mean(per_window))


def test_weighted_gini_equals_the_gini_of_the_expanded_sample():
    rng = np.random.default_rng(1)
    actual = rng.gamma(0.5, 20, 200) * (rng.random(200) < 0.5)
    predicted = actual + rng.normal(0, 10, 200)
    weights = rng.integers(0, 4, (3, 200))
    got = bs._weighted_gini(actual, predicted, weights.astype(float))
    expected = [normalized_gini(np.repeat(actual, w), np.repeat(predicted, w)) for w in weights]
    assert np.allclose(got, expected)


def test_same_sample_same_decision():
    a = decide(_sample(baseline=True, good=True, close=True), SETTINGS)
    b = decide(_sample(baseline=True, good=True, close=True), SETTINGS)
    assert a.as_dict() == b.as_dict()
    assert not math.isnan(a.evidence["comparisons"][0]["improvement"]["low"])


# -- what the gate is given: the champion's own spec, a consolidated champion -----------------------


def _champion(model: str, version: str = "3"):
    from ltv.training.registry import ChampionInfo

    return ChampionInfo(line="music", version=version, model_name=model, run_id="r", source="s", tags={})


def test_a_champion_whose_spec_differs_from_todays_config_is_defended_with_its_own():
    from ltv.config import LineSettings
    from ltv.models.registry import create_model
    from ltv.training.train import candidate_names, champion_specs

    today = LineSettings()
    registered = create_model("bgnbd_gg", max_penalizer=0.5).get_params()
    specs = champion_specs(_champion("bgnbd_gg"), registered, today)
    assert specs == {"bgnbd_gg-v3": ("bgnbd_gg", registered)}
    # the same spec as today's config: defended by its name; nothing to defend without a champion
    assert champion_specs(_champion("bgnbd_gg"), create_model("bgnbd_gg").get_params(), today) == {}
    assert champion_specs(None, None, today) == {}
    assert champion_specs(_champion("all_lines:hybrid"), {"n_estimators": 3}, today) == {}  # by its name
    # the spec entry is compared by the gate like any champion: it wins again -> a refresh
    sample = _sample(baseline=True, good=True, level=True)
    sample.predicted["bgnbd_gg-v3"] = sample.predicted.pop("good")
    decision = decide(sample, SETTINGS, champion="bgnbd_gg-v3")
    assert (decision.winner, decision.action) == ("bgnbd_gg-v3", "refresh")
    # today's candidates do not add the champion's name when its spec is defended instead
    from ltv.config import LTVConfig

    assert "bgnbd_gg" not in candidate_names(LTVConfig(), "music", ["xgboost"], None)
    assert candidate_names(LTVConfig(), "music", ["xgboost"], "bgnbd_gg")[-1] == "bgnbd_gg"


def test_a_consolidated_champion_is_defended_even_with_consolidation_off():
    import datetime as dt

    from ltv.config import LTVConfig
    from ltv.training.consolidated import prepare

    config = LTVConfig()
    assert not config.consolidated.enabled

    def trainer(champions, requested=None):
        return prepare(config, dt.date(2024, 6, 30), 91, ["music", "online", "retail"], ["music", "online"],
                       requested, lambda line: object(), {}, champions)

    assert trainer({}) is None  # off, and no consolidated champion: nothing consolidated is fitted
    defended = trainer({"music": "all_lines:hybrid"})
    assert defended.candidates == ["hybrid"] and defended.members == ["music", "online", "retail"]
    assert defended.names_for("music") == ["all_lines:hybrid"] and defended.covers("music")
    assert defended.names_for("online") == [] and not defended.covers("online")  # off: not offered to others
    # asked for on the command line: offered to every member line, the champion's model too
    asked = trainer({"music": "all_lines:hybrid"}, requested=["all_lines:xgboost"])
    assert asked.candidates == ["xgboost", "hybrid"] and asked.names_for("online") == asked.names
    # the gate: a consolidated champion that could not be refitted is replaced only by a model that beats the baseline
    decision = decide(_sample(baseline=True, good=True), SETTINGS, champion="all_lines:hybrid",
                      failed={"all_lines:hybrid": "RuntimeError: consolidated fit failed"})
    assert decision.action == "promote" and "could not be re-evaluated (failed: RuntimeError" in decision.reason
    flat = decide(_sample(baseline=True, flat=True), SETTINGS, champion="all_lines:hybrid",
                  failed={"all_lines:hybrid": "RuntimeError: consolidated fit failed"})
    assert flat.action == "keep" and not flat.promote


def test_a_champion_trained_in_another_time_unit_is_not_compared_and_the_line_is_decided_afresh():
    from ltv.training.train import champion_unit_change

    trained_in_days = {"params": {}, "state": {"time_unit": "days"}, "metadata": {"lineage": {"time_unit": "days"}}}
    assert champion_unit_change(trained_in_days, "days") is None
    why = champion_unit_change(trained_in_days, "weeks")
    assert why and "trained on days" in why and "now in weeks" in why
    assert champion_unit_change({"state": {"time_unit": "weeks"}}, "days")  # a model saved without lineage
    assert champion_unit_change(None, "days") is None  # no champion (or a consolidated one)
    # decided as a first run: promotion by evidence, else a provisional champion (it can score; the old one cannot)
    assert decide(_sample(baseline=True, good=True), SETTINGS, None, {"bgnbd_gg": why}).action == "promote"
    assert decide(_sample(baseline=True, flat=True), SETTINGS, None, {"bgnbd_gg": why}).action == "provisional"


def test_calibration_rail_rejects_quantiles_that_miss_their_level():
    """A candidate whose quantiles miss their level by more than max_quantile_gap (beyond sampling
    slack) is not eligible; the baseline is exempt; null disables the rail."""
    sample = _sample(baseline=True, good=True, close=True)
    n = N * WINDOWS
    gaps = {"baseline": (0.4, n), "good": (0.25, n), "close": (0.02, n)}
    decision = decide(sample, SETTINGS, None, None, gaps)
    assert "quantile_gap" in decision.rejected["good"] and "baseline" not in decision.rejected
    assert (decision.winner, decision.action) == ("close", "promote")
    assert "good" not in decide(sample, SETTINGS, None, None, {"good": (0.02, n)}).rejected
    # within the sampling slack of a small back-test (3 standard errors of a share of 100 rows: 0.15)
    assert "good" not in decide(sample, SETTINGS, None, None, {"good": (0.2, 100)}).rejected
    off = decide(sample, GateSettings(n_bootstrap=300, max_quantile_gap=None), None, None, gaps)
    assert "good" not in off.rejected
