"""Acquisition cohorts: realised net spend by month since each customer's first purchase.

The observed side of lifetime value, per business line: how much a month's new customers spent in
their first, second, ... month. :func:`cohort_spend` is a pure Spark transform with a bounded output
(lines x cohorts x months); :func:`cohort_matrix` shapes one line of it (in pandas) for a heatmap.
Months are calendar months (UTC dates); amounts are in currency units, refunds negative.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def cohort_spend(transactions: DataFrame) -> DataFrame:
    """Net spend per acquisition cohort and month since acquisition (pure; bounded output).

    Args:
        transactions: rows with ``business_line``, ``customer_id``, ``event_date`` (date),
            ``amount`` (refunds negative), e.g. the ``transactions`` table.

    Returns:
        One row per (``business_line``, ``cohort`` = month of the customer's first purchase,
        ``months_since`` >= 0): ``cohort_size`` (customers acquired that month),
        ``active_customers`` (with any row that month), ``net_spend`` (sum of ``amount``) and
        ``spend_per_customer`` (``net_spend / cohort_size``). Rows before a customer's first
        purchase (a refund of an older, unrecorded order) are left out.
    """
    from pyspark.sql import functions as F

    keys = ["business_line", "customer_id"]
    first = (
        transactions.where(F.col("amount") >= 0)
        .groupBy(*keys)
        .agg(F.trunc(F.min("event_date"), "month").alias("cohort"))
    )
    sizes = first.groupBy("business_line", "cohort").agg(F.count(F.lit(1)).alias("cohort_size"))
    month = F.trunc(F.col("event_date"), "month")
    activity = (
        transactions.join(first, keys)
        .select(*keys, "cohort", "amount", F.months_between(month, F.col("cohort")).cast("int").alias("months_since"))
        .where(F.col("months_since") >= 0)
        .groupBy("business_line", "cohort", "months_since")
        .agg(F.countDistinct("customer_id").alias("active_customers"), F.sum("amount").alias("net_spend"))
    )
    return (
        activity.join(sizes, ["business_line", "cohort"])
        .select(
            "business_line", "cohort", "months_since", "cohort_size", "active_customers", "net_spend",
            (F.col("net_spend") / F.col("cohort_size")).alias("spend_per_customer"),
        )
        .orderBy("business_line", "cohort", "months_since")
    )


def cohort_matrix(cohorts: pd.DataFrame, line: str, value: str = "spend_per_customer") -> pd.DataFrame:
    """One line of :func:`cohort_spend`'s (pandas) output as a cohort x months-since matrix.

    Rows: cohorts (``YYYY-MM``), columns: months since first purchase (0, 1, ...). A month
    without activity is 0 (``active_customers`` / spend: nobody came back), a month after the
    line's last observed month is NaN (not observed yet). ``value`` may also be
    ``active_share`` (``active_customers / cohort_size``).
    """
    rows = cohorts[cohorts["business_line"] == line].copy()
    if rows.empty:
        raise ValueError(f"no cohorts for business line {line!r}; have {sorted(cohorts['business_line'].unique())}")
    rows["active_share"] = rows["active_customers"] / rows["cohort_size"]
    months = pd.PeriodIndex(pd.to_datetime(rows["cohort"]), freq="M")
    rows["cohort"] = months.strftime("%Y-%m")
    last_observed = max(m + int(k) for m, k in zip(months, rows["months_since"]))
    table = rows.pivot(index="cohort", columns="months_since", values=value)
    table = table.reindex(columns=range(int(rows["months_since"].max()) + 1)).sort_index()
    age = np.array([(last_observed - pd.Period(c, freq="M")).n for c in table.index])
    observed = np.arange(table.shape[1])[None, :] <= age[:, None]
    table = table.fillna(0.0).where(observed)
    table.columns.name = "months_since"
    return table


__all__ = ["cohort_matrix", "cohort_spend"]
