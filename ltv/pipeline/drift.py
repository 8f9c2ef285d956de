"""Population drift of a feature snapshot against a reference snapshot: the PSI per feature.

Population Stability Index (Yurdakul 2018, "Statistical properties of population stability
index"): with the reference cut into bins at its own quantiles and ``e_i`` / ``a_i`` the shares
of the reference / current customers in bin ``i``,

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

Shares are floored at :data:`MIN_SHARE` so an empty bin gives a large, finite value. Customers
with a null value form their own bin. Repeated quantiles (e.g. ``frequency`` = 0 for half of the
customers) collapse into one edge, so discrete features get fewer, exact bins. Everything runs as
ONE aggregation per snapshot; only the bin counts reach the driver.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

MIN_SHARE = 1e-4
QUANTILE_ERROR = 1e-3


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of two histograms over the same bins (counts or shares; each is normalised)."""
    if len(expected) != len(actual):
        raise ValueError(f"histograms differ in length: {len(expected)} vs {len(actual)}")
    total_e, total_a = float(sum(expected)), float(sum(actual))
    if total_e <= 0 or total_a <= 0:
        return float("nan")
    value = 0.0
    for e, a in zip(expected, actual):
        e_share = max(e / total_e, MIN_SHARE)
        a_share = max(a / total_a, MIN_SHARE)
        value += (a_share - e_share) * math.log(a_share / e_share)
    return value


def quantile_edges(reference: DataFrame, columns: Sequence[str], bins: int) -> dict[str, list[float]]:
    """Distinct inner bin edges per column at the reference's quantiles 1/bins .. (bins-1)/bins."""
    probabilities = [i / bins for i in range(1, bins)]
    quantiles = reference.approxQuantile(list(columns), probabilities, QUANTILE_ERROR)
    return {c: sorted(set(float(q) for q in qs)) for c, qs in zip(columns, quantiles)}


def _histograms(frame: DataFrame, edges: dict[str, list[float]]) -> dict[str, list[int]]:
    """Counts per bin: bin 0 = null, bin k+1 = values with exactly k edges below them."""
    aggregates = []
    for column, cuts in edges.items():
        value = F.col(column).cast("double")
        bucket = sum((value > F.lit(c)).cast("int") for c in cuts) if cuts else F.lit(0)
        bucket = F.when(value.isNull(), F.lit(-1)).otherwise(bucket)
        for index in range(-1, len(cuts) + 1):
            aggregates.append(F.sum((bucket == index).cast("long")).alias(f"{column}#{index}"))
    row = frame.agg(*aggregates).first()
    return {
        column: [int(row[f"{column}#{index}"] or 0) for index in range(-1, len(cuts) + 1)]
        for column, cuts in edges.items()
    }


def feature_psi(reference: DataFrame, current: DataFrame, columns: Sequence[str], bins: int = 10) -> dict[str, float]:
    """PSI of each of ``columns`` in ``current`` against ``reference`` (bins from the reference)."""
    missing = [c for c in columns if c not in reference.columns or c not in current.columns]
    if missing:
        raise ValueError(f"drift features {missing} missing from the snapshots (have {current.columns})")
    edges = quantile_edges(reference, columns, bins)
    expected, actual = _histograms(reference, edges), _histograms(current, edges)
    return {c: psi(expected[c], actual[c]) for c in columns}
