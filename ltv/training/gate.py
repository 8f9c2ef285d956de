"""The promotion gate: promotion is data, not hope (after TFX's Evaluator/Pusher).

All candidates -- including the current champion's model spec, refitted on the same data --
are scored on the same back-test window. The best candidate that passes the guard rails
becomes champion only if it beats both the baseline and the current champion on the
configured primary metric by at least ``min_improvement``. Every decision carries its
reason, and it is recorded whether or not the model is promoted.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ltv.config import GateSettings

HIGHER_IS_BETTER = {"gini": True, "spearman": True, "top_decile_capture": True, "rmse": False}
BASELINE = "baseline"


@dataclass
class GateDecision:
    """Outcome for one business line."""

    winner: str | None
    promote: bool
    reason: str
    primary_metric: str
    rejected: dict[str, str] = field(default_factory=dict)
    #: "promote" (a new model becomes champion), "refresh" (the champion's own spec won again and
    #: is re-registered, refitted on newer data) or "keep" (nothing changes)
    action: str = "keep"

    def as_dict(self) -> dict:
        return {
            "winner": self.winner,
            "action": self.action,
            "promote": self.promote,
            "reason": self.reason,
            "primary_metric": self.primary_metric,
            "rejected": dict(self.rejected),
        }


def _better(a: float, b: float, metric: str, margin: float) -> bool:
    """``a`` beats ``b`` by more than ``margin`` on ``metric``."""
    if HIGHER_IS_BETTER[metric]:
        return a > b + margin
    return a < b - margin


def guard_rail_failures(
    name: str, metrics: Mapping[str, float], baseline: Mapping[str, float] | None, settings: GateSettings
) -> str | None:
    """Why ``name`` breaks a guard rail, or None."""
    primary = metrics.get(settings.primary_metric, float("nan"))
    if primary is None or (isinstance(primary, float) and math.isnan(primary)):
        return f"{settings.primary_metric} is undefined"
    bias = metrics.get("bias", float("nan"))
    if not math.isfinite(bias) or abs(bias) > settings.max_abs_bias:
        return f"aggregate bias {bias:+.1%} outside ±{settings.max_abs_bias:.0%}"
    if baseline is not None and name != BASELINE:
        limit = settings.max_rmse_ratio * baseline["rmse"]
        if metrics["rmse"] > limit:
            return f"RMSE {metrics['rmse']:.3f} above {settings.max_rmse_ratio:.2f} x baseline ({limit:.3f})"
    return None


def decide(
    metrics: Mapping[str, Mapping[str, float]],
    settings: GateSettings,
    champion: str | None = None,
) -> GateDecision:
    """Pick the winner among back-tested ``metrics`` (model -> metric dict) and decide promotion.

    Args:
        metrics: back-test metrics per candidate, all on the same window; should include
            ``baseline`` and, if there is one, the current champion's model name.
        settings: the line's gate settings.
        champion: the current champion's model name (None on the first run).
    """
    key = settings.primary_metric
    baseline = metrics.get(BASELINE)
    rejected: dict[str, str] = {}
    eligible: dict[str, float] = {}
    for name, values in metrics.items():
        failure = guard_rail_failures(name, values, baseline, settings)
        if failure:
            rejected[name] = failure
        else:
            eligible[name] = float(values[key])
    if not eligible:
        return GateDecision(None, False, "no candidate passes the guard rails", key, rejected)
    sign = 1 if HIGHER_IS_BETTER[key] else -1
    winner = max(sorted(eligible), key=lambda n: sign * eligible[n])
    score = eligible[winner]

    if winner == BASELINE:
        return GateDecision(winner, False, f"no candidate beats the baseline on {key}", key, rejected)
    if baseline is not None and not _better(score, float(baseline[key]), key, settings.min_improvement):
        return GateDecision(winner, False, f"{winner} does not beat the baseline on {key} "
                                           f"({score:.4f} vs {float(baseline[key]):.4f})", key, rejected)
    if champion is not None and champion in metrics:
        if winner == champion:
            return GateDecision(winner, True, f"the champion's model ({champion}) is still the best on {key}; "
                                              "refreshed on the newer data", key, rejected, action="refresh")
        champ_score = float(metrics[champion][key])
        if not _better(score, champ_score, key, settings.min_improvement):
            return GateDecision(winner, False, f"{winner} does not beat the champion {champion} on {key} "
                                               f"({score:.4f} vs {champ_score:.4f})", key, rejected)
        return GateDecision(winner, True, f"{winner} beats the champion {champion} on {key} "
                                          f"({score:.4f} vs {champ_score:.4f}) and passes the guard rails", key, rejected,
                            action="promote")
    reason = "first champion for this line" if champion is None else f"champion {champion} was not re-evaluated"
    return GateDecision(winner, True, f"{winner} is the best eligible candidate on {key} ({score:.4f}); {reason}",
                        key, rejected, action="promote")
