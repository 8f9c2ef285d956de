"""What every model's ``predict`` returns, and the check that refuses a broken output.

The columns (:data:`PREDICTION_COLUMNS`), which of them a model may leave null
(:data:`OPTIONAL_COLUMNS`), and :func:`check_predictions`, which :meth:`LTVModel.predict
<ltv.models.base.LTVModel.predict>` runs on every output: it names every problem and repairs none.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PREDICTION_COLUMNS: tuple[str, ...] = (
    "predicted_ltv",
    "predicted_ltv_p10",
    "predicted_ltv_p90",
    "predicted_purchases",
    "p_alive",
    "predicted_ltv_p50",
    "prob_purchase",
    "predicted_ltv_variance",
)
#: columns a model may leave null for every row: it has no such notion (``p_alive`` for models
#: without a dropout process) or was saved before the column existed (``predicted_ltv_p50`` and
#: ``prob_purchase``, added in 0.4; ``predicted_ltv_variance``, added in 0.5)
OPTIONAL_COLUMNS: tuple[str, ...] = ("p_alive", "predicted_ltv_p50", "prob_purchase", "predicted_ltv_variance")
#: the predictive variance of horizon spend may be +inf (a BTYD spend posterior without a second
#: moment, see :mod:`ltv.models.btyd.predictive`); never NaN, -inf or negative
VARIANCE_COLUMN = "predicted_ltv_variance"
#: the spend quantiles every model gives, in order (``predicted_ltv_p<100 level>``)
QUANTILE_LEVELS: tuple[float, ...] = (0.1, 0.5, 0.9)


class ModelOutputError(ValueError):
    """A model's predictions break the contract (NaN/inf, negative purchases, ...): nothing is repaired."""


#: rounding slack allowed on probabilities and on the p10 <= p90 order
OUTPUT_TOLERANCE = 1e-9


def check_predictions(out: pd.DataFrame, model: str) -> pd.DataFrame:
    """``out`` (:data:`PREDICTION_COLUMNS`) as float64 columns, or :class:`ModelOutputError`.

    Every problem found is named with its row count and the first offending row positions, so a
    broken model fails scoring and the back-test loudly instead of publishing zeros. A column of
    :data:`OPTIONAL_COLUMNS` may be null for every row (the model does not give it), never for
    some rows only.
    """
    problems: list[str] = []

    def note(mask: np.ndarray, what: str) -> None:
        count = int(np.count_nonzero(mask))
        if count:
            rows = np.flatnonzero(mask)[:5].tolist()
            problems.append(f"{what} in {count} of {len(mask)} rows (first at {rows})")

    checked = pd.DataFrame(index=out.index)
    absent = {col for col in OPTIONAL_COLUMNS if out[col].isna().all()}
    for col in PREDICTION_COLUMNS:
        if col in absent:
            checked[col] = np.full(len(out), np.nan)
            continue
        try:
            values = out[col].to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(f"{model}: {col} is not numeric ({exc})") from exc
        if col == VARIANCE_COLUMN:
            note(np.isnan(values) | (values < 0), f"{col} is NaN or negative")
        else:
            note(~np.isfinite(values), f"{col} is NaN or inf")
        checked[col] = values
    purchases = checked["predicted_purchases"].to_numpy()
    note(purchases < 0, "predicted_purchases < 0")
    for col in ("p_alive", "prob_purchase"):
        if col not in absent:
            values = checked[col].to_numpy()
            note((values < -OUTPUT_TOLERANCE) | (values > 1 + OUTPUT_TOLERANCE), f"{col} outside [0, 1]")
            checked[col] = np.clip(values, 0.0, 1.0)  # rounding slack only: beyond it raised above
    quantiles = [c for c in ("predicted_ltv_p10", "predicted_ltv_p50", "predicted_ltv_p90") if c not in absent]
    for lower_col, upper_col in zip(quantiles, quantiles[1:]):
        lower, upper = checked[lower_col].to_numpy(), checked[upper_col].to_numpy()
        note(lower > upper + OUTPUT_TOLERANCE * np.maximum(1.0, np.abs(upper)), f"{lower_col} > {upper_col}")
    if problems:
        raise ModelOutputError(f"model {model} broke the prediction contract: " + "; ".join(problems))
    for col in absent:
        checked[col] = None
    return checked


__all__ = ["OPTIONAL_COLUMNS", "OUTPUT_TOLERANCE", "PREDICTION_COLUMNS", "QUANTILE_LEVELS", "ModelOutputError",
           "check_predictions"]
