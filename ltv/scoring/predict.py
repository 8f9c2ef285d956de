"""Distributed prediction: any :class:`LTVModel` applied to a Spark feature snapshot.

The fitted model travels to the executors as its JSON files (never pickled state), is
rebuilt once per task with :func:`~ltv.models.registry.load_model`, and predicts Arrow batches with
``mapInPandas``. Nothing customer-sized is collected.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

from ltv.models.base import PREDICTION_COLUMNS, LTVModel
from ltv.models.registry import load_model
from ltv.models.timing import discount_factors, period_edges

KEY_COLUMNS = ("business_line", "customer_id", "as_of")
#: the column :func:`predict_spark` adds when given a discount rate
DISCOUNT_FACTOR = "discount_factor"
#: the column :func:`predict_spark` adds with ``periods=True``: expected spend per period
SPEND_BY_PERIOD = "predicted_ltv_by_period"


def model_files(model: LTVModel) -> dict[str, str]:
    """The saved model as {file name: JSON text}: what is shipped to executors."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        return {p.name: p.read_text() for p in Path(tmp).iterdir() if p.is_file()}


def load_model_files(files: dict[str, str]) -> LTVModel:
    """Inverse of :func:`model_files`."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            if "/" in name or name.startswith("."):
                raise ValueError(f"refusing model file name {name!r}")
            (Path(tmp) / name).write_text(text)
        return load_model(tmp)


def predict_spark(
    model: LTVModel,
    features: DataFrame,
    horizon_days: int,
    keep: tuple[str, ...] = KEY_COLUMNS,
    discount_rate: float | None = None,
    periods: bool = False,
) -> DataFrame:
    """``keep`` columns of ``features`` plus the model's predictions, computed on executors.

    With ``discount_rate`` (annual), also :data:`DISCOUNT_FACTOR`: each customer's present value of
    1 of forecast spend, along the model's expected spend path (:mod:`ltv.models.timing`). With
    ``periods``, also :data:`SPEND_BY_PERIOD`: ``predicted_ltv`` spread over the periods of
    :func:`~ltv.models.timing.period_edges` along the same path (an array, one value per period).
    """
    # the model's JSON files travel once per executor as a broadcast, not inside every task
    files = features.sparkSession.sparkContext.broadcast(model_files(model))
    keep_fields = [features.schema[c] for c in keep]
    out_schema = StructType(
        [StructField(f.name, f.dataType, True) for f in keep_fields]
        + [StructField(c, DoubleType(), True) for c in PREDICTION_COLUMNS]
        + ([StructField(DISCOUNT_FACTOR, DoubleType(), True)] if discount_rate is not None else [])
        + ([StructField(SPEND_BY_PERIOD, ArrayType(DoubleType()), True)] if periods else [])
    )
    keep_list = list(keep)
    edges = period_edges(horizon_days)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        fitted = load_model_files(files.value)
        for batch in batches:
            if batch.empty:
                continue
            batch = batch.reset_index(drop=True)
            predictions = fitted.predict(batch, horizon_days)
            out = batch[keep_list].copy()
            for col in PREDICTION_COLUMNS:
                out[col] = pd.to_numeric(predictions[col], errors="coerce").astype("float64")
            shares = None
            if periods or (discount_rate is not None and discount_rate > 0):
                shares = fitted.spend_shares(batch, horizon_days, edges)
            if discount_rate is not None:
                out[DISCOUNT_FACTOR] = discount_factors(shares, edges, discount_rate) if discount_rate > 0 else 1.0
            if periods:
                out[SPEND_BY_PERIOD] = list(out["predicted_ltv"].to_numpy(float)[:, None] * shares)
            yield out

    return features.mapInPandas(run, out_schema)
