"""Training labels: what a customer did AFTER a cutoff.

This is the ONLY code in ltv that looks past a cutoff date. Features never do; labels are
attached to a feature snapshot only to build training / back-test sets.

Window: ``(cutoff, cutoff + horizon_days]`` in UTC calendar days, i.e. rows with
``cutoff + 1 day 00:00 <= event_ts < cutoff + horizon_days + 1 day 00:00``: the cutoff day
itself belongs to the features (CLI_CONTRACT: a DATE means the end of that day), the last
day of the horizon belongs to the label.

* ``label_spend``: NET spend in the window (purchases plus refunds, which are negative), the
  quantity ``customer_ltv.predicted_ltv`` predicts.
* ``label_purchases``: distinct purchase DAYS (days with a non-refund row, ``amount >= 0``) in
  the window.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ltv.features.schema import day_start, event_day, is_purchase

KEYS = ("business_line", "customer_id")
LABEL_COLUMNS = ("label_spend", "label_purchases")


def _check_horizon(horizon_days: int) -> int:
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise ValueError(f"horizon_days must be a whole number of days >= 1, got {horizon_days!r}")
    return int(horizon_days)


def _label_aggregates():
    return (
        F.sum("amount").cast("double").alias("label_spend"),
        F.count_distinct(F.when(is_purchase(), F.col("day"))).cast("long").alias("label_purchases"),
    )


def compute_labels(transactions: DataFrame, cutoff: dt.date, horizon_days: int) -> DataFrame:
    """Labels for every customer with a row in ``(cutoff, cutoff + horizon_days]``.

    Returns business_line, customer_id, cutoff (date), horizon_days (int), label_spend
    (double, net), label_purchases (long). Customers without activity in the window are
    absent here; :func:`attach_labels` gives them 0.
    """
    horizon = _check_horizon(horizon_days)
    start = day_start(cutoff + dt.timedelta(days=1))
    end = day_start(cutoff + dt.timedelta(days=horizon + 1))
    window_rows = transactions.where((F.col("event_ts") >= start) & (F.col("event_ts") < end))
    return (
        window_rows.withColumn("day", event_day())
        .groupBy(*KEYS)
        .agg(*_label_aggregates())
        .select(
            *KEYS,
            F.lit(cutoff).alias("cutoff"),
            F.lit(horizon).cast("int").alias("horizon_days"),
            "label_spend",
            "label_purchases",
        )
    )


def attach_labels(features: DataFrame, transactions: DataFrame, horizon_days: int) -> DataFrame:
    """Left-join labels onto a feature snapshot: every snapshot row keeps its place.

    Each row's cutoff is its own ``as_of`` (so a frame holding several snapshots works too).
    Adds ``horizon_days`` (int), ``label_spend`` and ``label_purchases``; customers with no
    activity in their window get 0 for both.
    """
    horizon = _check_horizon(horizon_days)
    cutoffs = features.select(*KEYS, "as_of").distinct().alias("s")
    rows = transactions.select(*KEYS, event_day().alias("day"), "amount").alias("t")
    in_window = (
        (F.col("s.business_line") == F.col("t.business_line"))
        & (F.col("s.customer_id") == F.col("t.customer_id"))
        & (F.col("t.day") > F.col("s.as_of"))
        & (F.col("t.day") <= F.date_add(F.col("s.as_of"), horizon))
    )
    labels = (
        cutoffs.join(rows, in_window, "inner")
        .select("s.business_line", "s.customer_id", "s.as_of", "t.day", "t.amount")
        .groupBy(*KEYS, "as_of")
        .agg(*_label_aggregates())
    )
    return (
        features.join(labels, [*KEYS, "as_of"], "left")
        .withColumn("horizon_days", F.lit(horizon).cast("int"))
        .fillna(0, subset=list(LABEL_COLUMNS))
    )
