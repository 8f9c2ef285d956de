"""How a frame of features becomes the boosters' input: column kinds, category levels, rate features, groups.

Pure pandas/numpy, no XGBoost and no model class, so the driver (fit, predict) and the Spark
executors (:mod:`ltv.models.boosted.distributed`) build the design matrix with the same code.

Categorical features (non-numeric columns, e.g. ``attr_*`` strings) use XGBoost's native
categorical support: at fit the observed levels are recorded (sorted) in the model's state, and
every frame is encoded as a pandas ``Categorical`` with exactly those levels, so a level unseen
at fit (or null) becomes NaN and follows the trees' missing-value branch, identically before and
after save/load. A categorical column with no level at all at fit is passed as an all-missing
numeric column (XGBoost rejects a categorical feature without categories).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: (name, numerator, denominator) of the age-free ratios added with ``rate_features=True``
RATE_FEATURES = (
    ("rate_net_spend_per_day", "net_spend_total", "tenure_days"),
    ("rate_purchase_days_per_day", "purchase_days_total", "tenure_days"),
    ("rate_recency_share", "recency", "T"),
)


def is_numeric(series: pd.Series) -> bool:
    """Whether a column is a numeric (or boolean) input rather than a categorical one."""
    return pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def category_levels(series: pd.Series) -> list[str]:
    """Sorted distinct non-null values as strings."""
    values = series.dropna().astype(str)
    return sorted(set(values))


def rate_features(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Ratios that keep their meaning as customers age (for those whose columns are present).

    Totals and ages grow with the snapshot date, so trees trained on young customers (the
    examples' cutoffs) extrapolate them badly to older ones; rates per day of tenure (floored at
    one day) and the recency share of the customer's age do not drift that way.
    """
    out = {}
    for name, numerator, denominator in RATE_FEATURES:
        if numerator in frame.columns and denominator in frame.columns:
            top = pd.to_numeric(frame[numerator], errors="coerce").to_numpy(dtype=float)
            bottom = pd.to_numeric(frame[denominator], errors="coerce").to_numpy(dtype=float)
            out[name] = top / np.maximum(bottom, 1.0)
    return out


def design_matrix(frame: pd.DataFrame, feature_columns: list[str], categories: dict[str, list[str]],
                  with_rate_features: bool, extra: pd.DataFrame, who: str) -> pd.DataFrame:
    """The boosters' input: ``feature_columns`` (numeric -> float, categorical with the fit's
    ``categories``), then the :func:`rate_features` (if asked) and the ``extra`` columns.

    ``who`` names the model in the error raised when ``frame`` lacks a feature column.
    """
    absent = [c for c in feature_columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{who}: features lack columns {absent} it was trained on (found: {list(frame.columns)})")
    columns: dict[str, Any] = {}
    for col in feature_columns:
        if col in categories and not categories[col]:
            columns[col] = np.full(len(frame), np.nan)  # never observed at fit: no information
        elif col in categories:
            values = frame[col].astype("string").astype(object).where(frame[col].notna(), None)
            columns[col] = pd.Categorical(values, categories=categories[col])
        else:
            columns[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    matrix = pd.DataFrame(columns, index=frame.index)
    if with_rate_features:
        for name, values in rate_features(frame).items():
            matrix[name] = values
    for col in extra.columns:
        matrix[col] = extra[col].to_numpy(dtype=float)
    return matrix


def numeric_codes(matrix: pd.DataFrame) -> pd.DataFrame:
    """``matrix`` with every categorical column as its float category code (NaN = missing / unseen)."""
    out = pd.DataFrame(index=matrix.index)
    for col in matrix.columns:
        values = matrix[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy(dtype=float)
            out[col] = np.where(codes < 0, np.nan, codes)
        else:
            out[col] = values.to_numpy(dtype=float)
    return out


def group_values(frame: pd.DataFrame, group_column: str | None) -> np.ndarray:
    """Each row's group as a string ("" for all rows without ``group_column``; None where null)."""
    if not group_column:
        return np.full(len(frame), "", dtype=object)
    values = frame[group_column]
    return values.astype("string").astype(object).where(values.notna(), None).to_numpy()


def check_groups(features: pd.DataFrame, group_column: str, known: list[str], model: str) -> None:
    """A model trained across ``group_column`` values predicts only the groups it was trained on."""
    if group_column not in features.columns:
        raise ValueError(f"{model} was trained across {group_column} values and needs that column "
                         f"to predict (found: {list(features.columns)})")
    unknown = sorted({str(g) for g in group_values(features, group_column)} - set(known))
    if unknown:
        raise ValueError(f"{model} was trained on {group_column} {sorted(known)}, not on {unknown}; "
                         "retrain with those lines among the consolidated model's members")


def finite_column(frame: pd.DataFrame, column: str, model: str) -> np.ndarray:
    """``frame[column]`` as floats, or ``ValueError`` naming how many rows are missing or not finite
    (labels and level targets are never filled in: a hole is a bug upstream)."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{model}: {column} is missing or not finite in {int(bad.sum())} of {len(values)} rows")
    return values
