"""The promotion gate: a champion is promoted by evidence, not by one noisy number (after TFX's
Evaluator/Pusher).

Input: every candidate's back-test predictions on the same customers and rolling-origin windows
(:class:`~ltv.evaluation.bootstrap.BacktestSample`), the baseline and the champion's own spec
among them. The paired bootstrap over customers (:mod:`ltv.evaluation.bootstrap`) gives every
comparison an interval at ``confidence``. The rules, in order:

1. **Guard rails** judge systematic error, not noise: a model fails the bias rail only when its
   whole bias interval is outside ``±max_abs_bias``, the RMSE rail only when the lower bound
   of its RMSE / baseline RMSE is above ``max_rmse_ratio``, and the calibration rail when its
   quantiles miss their level (``quantile_gap``, :mod:`ltv.evaluation.quantiles`) by more than
   ``max_quantile_gap`` beyond three standard errors of a share (the baseline is exempt).
2. **Winner**: the eligible candidate best on ``primary_metric``; candidates in a near-tie with it
   (difference interval spanning 0 and within ``tie_tolerance``) are decided by ``secondary_metric``.
3. **Beat the baseline**: the lower bound of the winner's improvement over the baseline must be
   above ``min_improvement``. No baseline (it failed) means no evidence: no promotion.
4. **Defend the champion**: the champion's spec wins again -> ``refresh``; a challenger must beat it
   significantly (or tie on the primary and beat it significantly on the secondary) -> ``promote``;
   otherwise ``keep``.
5. **Never without scores**: a line with no champion whose run promotes nothing gets the most
   accurate model (lowest primary-metric error, or best primary) as a ``provisional`` champion,
   recorded as such, until a later run confirms or replaces it.

Every decision is data: :meth:`GateDecision.as_dict` holds the intervals behind it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ltv.config import GateSettings
from ltv.evaluation import bootstrap as bs

BASELINE = "baseline"
HIGHER_IS_BETTER = bs.HIGHER_IS_BETTER


@dataclass
class GateDecision:
    """Outcome for one business line."""

    winner: str | None
    promote: bool
    reason: str
    primary_metric: str
    rejected: dict[str, str] = field(default_factory=dict)
    #: "promote" (a new champion), "refresh" (the champion's spec won again; refitted on newer
    #: data), "provisional" (first champion without evidence; see the module docstring) or "keep"
    action: str = "keep"
    #: the intervals the decision rests on: rails per model and the comparisons made
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The champion status this decision gives: ``provisional`` or ``confirmed``."""
        return "provisional" if self.action == "provisional" else "confirmed"

    def as_dict(self) -> dict:
        return {
            "winner": self.winner,
            "action": self.action,
            "promote": self.promote,
            "status": self.status,
            "reason": self.reason,
            "primary_metric": self.primary_metric,
            "rejected": dict(self.rejected),
            "evidence": self.evidence,
        }


class _Evidence:
    """Bootstrap replicates of one sample, and the intervals asked of them (recorded)."""

    def __init__(self, sample: bs.BacktestSample, settings: GateSettings):
        self.sample, self.level = sample, settings.confidence
        names = list(dict.fromkeys([settings.primary_metric, settings.secondary_metric, "rmse", "bias"]))
        self.reps = bs.replicates(sample, names, sorted(sample.predicted), settings.n_bootstrap, seed=0)
        self.record: dict[str, Any] = {"level": self.level, "n_bootstrap": settings.n_bootstrap,
                                       "rows": int(len(sample.actual)), "rails": {}, "comparisons": []}

    def point(self, metric: str, model: str) -> float:
        return bs.point_estimate(metric, self.sample, model)

    def metric(self, metric: str, model: str) -> bs.Interval:
        found = bs.metric_interval(metric, self.sample, self.reps, model, self.level)
        self.record["rails"].setdefault(model, {})[metric] = found.as_dict()
        return found

    def ratio(self, metric: str, model: str, reference: str) -> bs.Interval:
        found = bs.ratio(metric, self.sample, self.reps, model, reference, self.level)
        self.record["rails"].setdefault(model, {})[f"{metric}_ratio_to_{reference}"] = found.as_dict()
        return found

    def improvement(self, metric: str, model: str, reference: str) -> bs.Interval:
        found = bs.improvement(metric, self.sample, self.reps, model, reference, self.level)
        self.record["comparisons"].append({"model": model, "reference": reference, "metric": metric,
                                           "improvement": found.as_dict()})
        return found


def _rail_failure(name: str, evidence: _Evidence, has_baseline: bool, settings: GateSettings,
                  quantile_gap: tuple[float, int] | None = None) -> str | None:
    primary = evidence.point(settings.primary_metric, name)
    if not math.isfinite(primary):
        return f"{settings.primary_metric} is undefined on the back-test"
    bias = evidence.metric("bias", name)
    limit = settings.max_abs_bias
    if not math.isfinite(bias.estimate) or bias.low > limit or bias.high < -limit:
        return f"aggregate bias {bias.estimate:+.1%} [{bias.low:+.1%}, {bias.high:+.1%}] outside ±{limit:.0%}"
    if has_baseline and name != BASELINE:
        ratio = evidence.ratio("rmse", name, BASELINE)
        if ratio.low > settings.max_rmse_ratio:
            return (f"RMSE {ratio.estimate:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] x the baseline's, "
                    f"above {settings.max_rmse_ratio:.2f}")
    limit = settings.max_quantile_gap
    if limit is not None and quantile_gap is not None and name != BASELINE:
        gap, rows = quantile_gap
        slack = 3.0 * math.sqrt(0.25 / max(rows, 1))  # three standard errors of a share, at its largest
        if math.isfinite(gap) and gap - slack > limit:
            return (f"its quantiles miss their level by {gap:.3f} (quantile_gap; allowed {limit:.2f} "
                    f"+ {slack:.3f} sampling slack)")
    return None


def _pick_winner(eligible: list[str], evidence: _Evidence, settings: GateSettings) -> tuple[str, str]:
    """The best eligible candidate, near-ties broken by the secondary metric; and why."""
    key, second = settings.primary_metric, settings.secondary_metric
    sign = 1 if HIGHER_IS_BETTER[key] else -1
    ranked = sorted(eligible, key=lambda n: (-sign * evidence.point(key, n), n))
    best = ranked[0]
    ties = [n for n in ranked[1:] if _tied(evidence, key, best, n, settings)]
    if not ties:
        return best, ""
    sign2 = 1 if HIGHER_IS_BETTER[second] else -1
    chosen = max([best, *ties], key=lambda n: (sign2 * _finite(evidence.point(second, n)), n == best))
    return chosen, (f"; {', '.join([best, *ties])} tie on {key}, {chosen} is best on {second} "
                    f"({evidence.point(second, chosen):.4f})")


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf


def _tied(evidence: _Evidence, key: str, a: str, b: str, settings: GateSettings) -> bool:
    """``a`` and ``b`` are not distinguishable on ``key``: the difference's interval spans 0 and
    the difference is within ``tie_tolerance`` of ``a``'s value."""
    diff = evidence.improvement(key, a, b)
    scale = abs(evidence.point(key, a)) or 1.0
    return diff.low <= 0 <= diff.high and abs(diff.estimate) <= settings.tie_tolerance * scale


def _provisional(models: list[str], evidence: _Evidence, settings: GateSettings, why: str, rejected, record) -> GateDecision:
    """The most accurate model on the primary metric, as a provisional first champion."""
    key = settings.primary_metric
    sign = 1 if HIGHER_IS_BETTER[key] else -1
    usable = [n for n in models if math.isfinite(evidence.point(key, n))]
    if not usable:
        return GateDecision(None, False, f"{why}; no model has a defined {key}: nothing to score with", key,
                            rejected, "keep", record)
    best = max(sorted(usable), key=lambda n: sign * evidence.point(key, n))
    return GateDecision(best, True, f"{why}; {best} is the most accurate on {key} ({evidence.point(key, best):.4f}) "
                                    "and scores provisionally until a later run confirms or replaces it",
                        key, rejected, "provisional", record)


def decide(
    sample: bs.BacktestSample | None,
    settings: GateSettings,
    champion: str | None = None,
    failed: Mapping[str, str] | None = None,
    quantile_gaps: Mapping[str, tuple[float, int]] | None = None,
) -> GateDecision:
    """Decide promotion for one line from its back-test ``sample`` (see the module docstring).

    Args:
        sample: every model that produced predictions, on the same rows (None: none did).
        settings: the line's gate settings.
        champion: the current champion's model name (None on the line's first run).
        failed: models that could not be fitted or evaluated, with the error.
        quantile_gaps: per model, its back-test ``quantile_gap`` and row count (the calibration
            rail; the baseline is exempt: it is the reference, not a candidate).
    """
    key = settings.primary_metric
    rejected = {name: f"failed: {error}" for name, error in (failed or {}).items()}
    if sample is None or not sample.predicted:
        return GateDecision(None, False, "no model produced back-test predictions", key, rejected)
    evidence = _Evidence(sample, settings)
    models = sorted(sample.predicted)
    has_baseline = BASELINE in sample.predicted
    for name in models:
        failure = _rail_failure(name, evidence, has_baseline, settings, (quantile_gaps or {}).get(name))
        if failure:
            rejected[name] = failure
    eligible = [n for n in models if n not in rejected and n != BASELINE]
    record = evidence.record

    def without_evidence(why: str) -> GateDecision:
        if champion is None and settings.provisional:
            return _provisional(models, evidence, settings, why, rejected, record)
        return GateDecision(None, False, why, key, rejected, "keep", record)

    if not has_baseline:
        return without_evidence(f"the baseline failed ({rejected.get(BASELINE, 'missing')}): nothing to prove "
                                "an improvement against")
    if not eligible:
        return without_evidence("no candidate passes the guard rails")
    winner, tie_note = _pick_winner(eligible, evidence, settings)
    over_baseline = evidence.improvement(key, winner, BASELINE)
    if not over_baseline.excludes_zero_above(settings.min_improvement):
        return without_evidence(f"{winner} is not significantly better than the baseline on {key} "
                                f"(improvement {over_baseline} at {settings.confidence:.0%}){tie_note}")
    beats_baseline = f"beats the baseline on {key} by {over_baseline}"
    if champion is None:
        return GateDecision(winner, True, f"{winner} {beats_baseline}; first champion for this line{tie_note}",
                            key, rejected, "promote", record)
    if champion not in sample.predicted:
        return GateDecision(winner, True, f"{winner} {beats_baseline}; champion {champion} could not be re-evaluated "
                                          f"({rejected.get(champion, 'not a candidate')}){tie_note}",
                            key, rejected, "promote", record)
    if winner == champion:
        return GateDecision(winner, True, f"the champion's spec ({champion}) is still the best and {beats_baseline}; "
                                          f"refreshed on the newer data{tie_note}", key, rejected, "refresh", record)
    if champion in rejected:
        return GateDecision(winner, True, f"{winner} {beats_baseline}; the champion {champion} now fails a guard rail "
                                          f"({rejected[champion]}){tie_note}", key, rejected, "promote", record)
    over_champion = evidence.improvement(key, winner, champion)
    if over_champion.excludes_zero_above(settings.min_improvement):
        return GateDecision(winner, True, f"{winner} beats the champion {champion} on {key} by {over_champion} and "
                                          f"{beats_baseline}{tie_note}", key, rejected, "promote", record)
    second = settings.secondary_metric
    if _tied(evidence, key, winner, champion, settings):
        on_second = evidence.improvement(second, winner, champion)
        if on_second.excludes_zero_above(0.0):
            return GateDecision(winner, True, f"{winner} ties the champion {champion} on {key} ({over_champion}) and "
                                              f"beats it on {second} by {on_second}", key, rejected, "promote", record)
    return GateDecision(winner, False, f"{winner} is not significantly better than the champion {champion} on {key} "
                                       f"(improvement {over_champion} at {settings.confidence:.0%})", key, rejected,
                        "keep", record)


__all__ = ["BASELINE", "GateDecision", "decide"]
