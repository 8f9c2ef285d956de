"""Condensed BTYD inputs from supervised examples, one set per example key (training cutoff, group).

``hybrid`` fits one BTYD per training cutoff (and group) on that cutoff's (frequency, recency,
T) patterns with weights; these helpers split and condense the examples for it, from pandas
rows here and from a Spark DataFrame in :func:`ltv.models.boosted.distributed.condense_examples_spark`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ltv.models.base import TrainingData

#: the RFM columns a BTYD learns from
HISTORY = ("frequency", "recency", "T", "monetary_value")
#: the spend totals its net share comes from (:func:`ltv.models.base.net_share`)
REFUNDS = ("gross_spend_total", "refund_total")


def example_key_values(rows: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Each row's example key: its ``keys`` values as strings joined by ``|`` ("" without keys)."""
    if not keys:
        return np.full(len(rows), "", dtype=object)
    joined = rows[keys[0]].astype(str)
    for key in keys[1:]:
        joined = joined + "|" + rows[key].astype(str)
    return joined.to_numpy(dtype=object)


def condensed_by_key(patterns: pd.DataFrame, spend_patterns: pd.DataFrame, keys: list[str], time_unit: str,
                     horizon_days: int, refunds: pd.DataFrame | None = None) -> dict[str, TrainingData]:
    """Split condensed patterns (and spend totals) carrying ``keys`` columns into one BTYD ``TrainingData`` per key."""
    pattern_keys = example_key_values(patterns, keys)
    spend_keys = example_key_values(spend_patterns, keys)
    refund_keys = example_key_values(refunds, keys) if refunds is not None else None
    out = {}
    for key in pd.unique(pattern_keys):
        out[key] = TrainingData(
            time_unit=time_unit, horizon_days=horizon_days,
            patterns=patterns.loc[pattern_keys == key, ["frequency", "recency", "T", "weight"]].reset_index(drop=True),
            spend_patterns=spend_patterns.loc[spend_keys == key, ["frequency", "monetary_value", "weight"]].reset_index(drop=True),
            refunds=(refunds.loc[refund_keys == key, list(REFUNDS)].reset_index(drop=True)
                     if refunds is not None else None),
        )
    return out


def condense_examples_local(rows: pd.DataFrame, keys: list[str], time_unit: str, horizon_days: int) -> dict[str, TrainingData]:
    """Condensed BTYD inputs (patterns + spend patterns, with weights) per example key, from pandas rows."""
    history = rows[list(HISTORY)].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    for key in keys:
        history[key] = rows[key].astype(str).to_numpy()
    patterns = history.groupby([*keys, "frequency", "recency", "T"]).size().rename("weight").reset_index()
    buyers = history[(history["frequency"] > 0) & (history["monetary_value"] > 0)]
    spend_patterns = buyers.groupby([*keys, "frequency", "monetary_value"]).size().rename("weight").reset_index()
    refunds = None
    if all(c in rows.columns for c in REFUNDS):  # the feature store's spend totals (absent: gross forecasts)
        totals = rows[list(REFUNDS)].apply(pd.to_numeric, errors="coerce")
        for key in keys:
            totals[key] = rows[key].astype(str).to_numpy()
        refunds = (totals.groupby(keys)[list(REFUNDS)].sum(min_count=1).reset_index() if keys
                   else totals[list(REFUNDS)].sum(min_count=1).to_frame().T)
    return condensed_by_key(patterns, spend_patterns, keys, time_unit, horizon_days, refunds)
