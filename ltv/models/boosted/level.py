"""Level factors of the boosted models: what a booster's forecast is multiplied by so that its
total over the training examples equals the total of a *level target* (per group in a model
across groups).

The targets are chosen by the model (``_level_targets``): the BTYD forecasts for ``hybrid`` with
``anchor="btyd_total"`` (the trees re-rank, BTYD sets the level), over the customers it is fitted
to score or its examples. The totals are summed on the driver or by Spark
(:mod:`ltv.models.boosted.distributed`); this module only turns them into factors.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PARTS = ("spend", "purchases")


def level_factors(totals: pd.DataFrame | None, targets: dict[str, str], model: str,
                  group_column: str | None) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(factors over all rows, factors per group) from ``totals``.

    Args:
        totals: one row per group (index: the group, "" without groups) with a column per
            booster in ``targets`` (its forecast total) and per target column (that total);
            None or empty = no rescaling (every factor 1).
        targets: ``{booster: target column}``.
        model: the model's name, for errors.
        group_column: per-group factors are returned only for a model across groups.

    A target total that is not positive (e.g. a line whose examples' refunds outweigh its
    purchases) has no level to rescale to, and a booster total that is not positive and finite
    cannot be rescaled: both raise ``ValueError`` naming the group.
    """
    ones = {part: 1.0 for part in PARTS}
    if totals is None or totals.empty:
        return dict(ones), {}

    def factors(sums: pd.Series, where: str) -> dict[str, float]:
        out = dict(ones)
        for part, target in targets.items():
            total, wanted = float(sums[part]), float(sums[target])
            if not wanted > 0:
                raise ValueError(f"{model}: the examples' {target} total{where} is {wanted:.2f}, not positive "
                                 "(refunds outweigh purchases?): there is no level to forecast")
            if not (np.isfinite(total) and np.isfinite(wanted) and total > 0):
                raise ValueError(f"{model}: {part} booster total {total} over the examples{where} is not usable")
            out[part] = wanted / total
        return out

    overall = factors(totals.sum(), "")
    per_group = {str(g): factors(row, f" of {group_column} {g!r}") for g, row in totals.iterrows()} if group_column else {}
    log.info("%s: level factors (target total / booster total on the examples): %s %s", model, overall, per_group or "")
    return overall, per_group


def local_totals(boosters: dict, targets: dict[str, str], matrix: pd.DataFrame, margins: dict,
                 groups: np.ndarray, values: dict[str, np.ndarray]) -> pd.DataFrame | None:
    """Per group: each targeted booster's total forecast over ``matrix`` (its margin applied) and
    each target's total (``values``: target column -> per-row values); None without targets."""
    if not targets:
        return None
    import xgboost as xgb

    columns = {"__group": groups}
    for part, target in targets.items():
        dmatrix = xgb.DMatrix(matrix, base_margin=margins.get(part), enable_categorical=True)
        columns[part] = boosters[part].predict(dmatrix).astype(float)
        columns[target] = values[target]
    return pd.DataFrame(columns).groupby("__group").sum()


def row_factors(overall: dict[str, float], per_group: dict[str, dict[str, float]], groups: np.ndarray,
                part: str) -> np.ndarray | float:
    """Each row's factor for booster ``part``: its group's (1 for a group without factors), else ``overall``'s."""
    if not per_group:
        return overall[part]
    return np.array([per_group[g][part] if g in per_group else 1.0 for g in groups])


def net_factor(net_total: float, trained_total: float, model: str) -> float:
    """A spend booster's net factor: the examples' net label total over the total of the labels it
    learned (equal, but under Tweedie's floor at 0). Raises when there is no positive net total."""
    if not (np.isfinite(net_total) and np.isfinite(trained_total)):
        raise ValueError(f"{model}: label totals net {net_total} / trained {trained_total} are not finite")
    if net_total == trained_total:
        return 1.0
    if net_total <= 0 or trained_total <= 0:
        raise ValueError(f"{model}: the examples' net spend total is {net_total:.2f}, not positive "
                         "(refunds outweigh purchases?): there is no level to forecast")
    return net_total / trained_total


__all__ = ["level_factors", "local_totals", "net_factor", "row_factors"]
