"""How good the spend quantiles (p10/p50/p90) and the purchase probability are, judged honestly.

Horizon spend has a point mass at 0: many customers buy nothing. A perfect model's p10 is then
0 for most customers, and ``p10 <= actual <= p90`` holds for every non-buyer, so the two-sided
``coverage_80`` exceeds 80% for a perfect model and is passed by the useless interval [0, 0]
when most customers spend nothing. The metrics here judge each quantile on its own:

* ``below_p<k>`` = share(actual < q) and ``at_or_below_p<k>`` = share(actual <= q): for the
  level's true quantile the first is at most the level and the second at least it (with no ties
  both equal it); ``quantile_gap`` is the largest distance by which either misses, over the three
  levels (0 for calibrated quantiles, up to sampling noise);
* ``pinball_p<k>`` the mean pinball (quantile) loss of each level and ``pinball`` their mean:
  lower is better, and a proper score (only the true quantile minimises it in expectation);
* ``width_80``: mean ``p90 - p10``;
* ``buyer_coverage_80``: among customers who spent (actual > 0), the share inside [p10, p90];
  ``buyer_coverage_80_implied``: what the model itself implies for them, from its
  ``prob_purchase``: a customer with P(no purchase) = P0 has buyer mass ``1 - P0`` of which
  ``max(0.9 - max(0.1, P0), 0)`` lies in [p10, p90], summed over customers; the two agree
  for a calibrated model (within sampling noise), and ``buyer_coverage_gap`` is their difference.

Columns a model does not give (null p50 or prob_purchase of a model saved before 0.4) make the
metrics that need them NaN.
"""
from __future__ import annotations

import math

import numpy as np

LEVELS = (0.1, 0.5, 0.9)
QUANTILE_METRICS: tuple[str, ...] = (
    *(f"{kind}_p{round(level * 100)}" for level in LEVELS for kind in ("below", "at_or_below")),
    *(f"pinball_p{round(level * 100)}" for level in LEVELS),
    "pinball",
    "quantile_gap",
    "width_80",
    "buyer_coverage_80",
    "buyer_coverage_80_implied",
    "buyer_coverage_gap",
)


def pinball_loss(actual: np.ndarray, quantile: np.ndarray, level: float) -> float:
    """Mean of ``max(level (y - q), (level - 1)(y - q))``."""
    diff = actual - quantile
    return float(np.mean(np.maximum(level * diff, (level - 1.0) * diff)))


def _present(values: np.ndarray | None, n: int) -> np.ndarray | None:
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    if values.shape != (n,):
        raise ValueError(f"expected {n} values, got shape {values.shape}")
    if np.isnan(values).all():
        return None  # the model does not give this column
    if not np.isfinite(values).all():
        raise ValueError(f"{int((~np.isfinite(values)).sum())} of {n} values are NaN or inf")
    return values


def quantile_metrics(
    actual: np.ndarray,
    quantiles: dict[float, np.ndarray | None],
    prob_purchase: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric of :data:`QUANTILE_METRICS` (see the module docstring); NaN where a column is absent."""
    actual = np.asarray(actual, dtype=float)
    n = actual.size
    out = dict.fromkeys(QUANTILE_METRICS, math.nan)
    if n == 0:
        return out
    given = {level: _present(quantiles.get(level), n) for level in LEVELS}
    gaps, losses = [], []
    for level, q in given.items():
        if q is None:
            continue
        k = round(level * 100)
        below, at_or_below = float(np.mean(actual < q)), float(np.mean(actual <= q))
        out[f"below_p{k}"], out[f"at_or_below_p{k}"] = below, at_or_below
        out[f"pinball_p{k}"] = pinball_loss(actual, q, level)
        losses.append(out[f"pinball_p{k}"])
        gaps.append(max(below - level, level - at_or_below, 0.0))
    if len(losses) == len(LEVELS):
        out["pinball"] = float(np.mean(losses))
        out["quantile_gap"] = float(max(gaps))
    low, high = given[0.1], given[0.9]
    if low is not None and high is not None:
        out["width_80"] = float(np.mean(high - low))
        buyers = actual > 0
        if buyers.any():
            out["buyer_coverage_80"] = float(np.mean((low[buyers] <= actual[buyers]) & (actual[buyers] <= high[buyers])))
        probability = _present(prob_purchase, n)
        if probability is not None:
            none = 1.0 - probability
            expected_buyers = float(probability.sum())
            if expected_buyers > 0:
                covered = np.maximum(0.9 - np.maximum(0.1, none), 0.0)
                out["buyer_coverage_80_implied"] = float(covered.sum() / expected_buyers)
        if math.isfinite(out["buyer_coverage_80"]) and math.isfinite(out["buyer_coverage_80_implied"]):
            out["buyer_coverage_gap"] = out["buyer_coverage_80"] - out["buyer_coverage_80_implied"]
    return out


__all__ = ["LEVELS", "QUANTILE_METRICS", "pinball_loss", "quantile_metrics"]
