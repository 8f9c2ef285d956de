"""BTYD sufficient statistics (frequency, recency, T, monetary_value) per customer, as of a date.

Reproduces ``lifetimes.utils.summary_data_from_transaction_data`` (Fader, Hardie & Lee 2005,
"Counting your customers the easy way", the ``x``, ``t_x``, ``T`` of the BG/NBD likelihood;
Fader, Hardie & Lee 2005 "RFM and CLV", ``m_x`` of the Gamma-Gamma model) with
``freq='D'`` (``time_unit='days'``) or ``freq='W'`` (``time_unit='weeks'``), computed in Spark:

* each purchase is mapped to its period: the UTC calendar day, or the pandas ``W-SUN`` week
  (Monday..Sunday, the week that *ends* on Sunday) -- NOT Spark's ``weekofyear``;
* purchases in the same period are merged (their amounts summed);
* ``frequency`` = number of distinct purchase periods - 1 (repeat periods);
* ``recency`` = last purchase period - first purchase period;
* ``T`` = period of ``as_of`` - first purchase period;
* ``monetary_value`` = mean of the per-period summed spend over the repeat periods (the
  first period excluded), 0 when ``frequency`` = 0.

All four are in periods of ``time_unit`` (days or weeks) and returned as doubles.

Refunds. A purchase is a row that is not a refund, ``amount >= 0`` (zero-amount orders are
purchases, as in lifetimes and the CDNOW data). Refunds (``amount < 0``) never create a
purchase period and are kept OUT of ``monetary_value``: it is the mean *gross* spend per
repeat period, so it is never negative (Gamma-Gamma needs > 0: ``condense_spend`` keeps customers with
monetary_value > 0 only, which drops the rare all-free-orders customer). Refunds are
exposed separately by :mod:`ltv.features.behaviour` (``refund_total``, ``refund_share``) and
are netted in the labels (:mod:`ltv.features.labels`), which is what the models predict.

Point in time. Only rows with ``event_ts`` on or before the END of ``as_of`` are used
(``event_ts < as_of + 1 day``, UTC). ``lifetimes`` itself keeps, for ``freq='W'``, rows after
the observation end that fall in the same week as it (it compares period *starts*); we do not
look past ``as_of``. Given only rows up to ``as_of`` both agree exactly (see the tests).
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ltv.features.schema import event_day_index, is_purchase, known_at

log = logging.getLogger(__name__)

EPOCH = dt.date(1970, 1, 1)
TIME_UNITS = ("days", "weeks")
# 1970-01-01 is a Thursday: the W-SUN week holding day index d (days since the epoch) starts on
# the Monday 3 days before the epoch, so its index is floor((d + 3) / 7).
_WEEK_OFFSET_DAYS = 3
KEYS = ("business_line", "customer_id")


def _check_unit(time_unit: str) -> None:
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {TIME_UNITS}, got {time_unit!r} (set features.time_unit)")


def period_index(day_col, time_unit: str):
    """Spark column: integer index of the ``time_unit`` period holding the date column ``day_col``."""
    _check_unit(time_unit)
    return _period_of_days(F.datediff(day_col, F.lit(EPOCH)).cast("long"), time_unit)


def event_period(time_unit: str, ts_col: str = "event_ts"):
    """Spark column: integer index of the ``time_unit`` period holding the UTC day of ``ts_col``.

    Equal to ``period_index(event_day(ts_col), time_unit)``, from the epoch microseconds
    (:func:`ltv.features.schema.event_day_index`) instead of a per-row date conversion.
    """
    _check_unit(time_unit)
    return _period_of_days(event_day_index(ts_col), time_unit)


def _period_of_days(days, time_unit: str):
    if time_unit == "days":
        return days
    return F.floor((days + F.lit(_WEEK_OFFSET_DAYS)) / F.lit(7)).cast("long")


def period_index_of(day: dt.date, time_unit: str) -> int:
    """Python twin of :func:`period_index` for one date."""
    _check_unit(time_unit)
    days = (day - EPOCH).days
    return days if time_unit == "days" else (days + _WEEK_OFFSET_DAYS) // 7


def purchase_periods(transactions: DataFrame, as_of: dt.date, time_unit: str = "days") -> DataFrame:
    """One row per (business_line, customer_id, period) with a purchase on or before ``as_of``.

    Output: business_line, customer_id, ``period`` (long index), ``period_spend`` (sum of the
    period's purchase amounts, >= 0).
    """
    purchases = transactions.where(known_at(as_of) & is_purchase())
    return purchases.groupBy(
        *KEYS, event_period(time_unit).alias("period")
    ).agg(F.sum("amount").alias("period_spend"))


def rfm_summary(transactions: DataFrame, as_of: dt.date, time_unit: str = "days") -> DataFrame:
    """BTYD summary per customer with at least one purchase on or before ``as_of``.

    Args:
        transactions: rows with business_line, customer_id, event_ts (timestamp, UTC), amount.
        as_of: the snapshot date (its whole day included).
        time_unit: ``days`` (lifetimes ``freq='D'``) or ``weeks`` (``freq='W'``).

    Returns:
        business_line, customer_id, frequency, recency, T, monetary_value (doubles, in
        ``time_unit`` periods and money), time_unit.
    """
    # One shuffle: rows are hash-partitioned by customer, which also satisfies the
    # (customer, period) aggregation; the first period's spend comes from min_by, so no window
    # (and no sort) is needed to split off the repeat spend. Only the keys, the period (a long)
    # and the amount cross the shuffle: every other column is projected away before it.
    purchases = transactions.where(known_at(as_of) & is_purchase()).select(
        *KEYS, event_period(time_unit).alias("period"), "amount"
    ).repartition(*KEYS)
    periods = purchases.groupBy(*KEYS, "period").agg(F.sum("amount").alias("period_spend"))
    summary = periods.groupBy(*KEYS).agg(
        F.count(F.lit(1)).alias("n_periods"),
        F.min("period").alias("first_period"),
        F.max("period").alias("last_period"),
        F.sum("period_spend").alias("total_spend"),
        F.min_by("period_spend", "period").alias("first_spend"),
    ).withColumn("repeat_spend", F.col("total_spend") - F.col("first_spend"))
    as_of_period = period_index_of(as_of, time_unit)
    repeats = F.col("n_periods") - 1
    return summary.select(
        *KEYS,
        repeats.cast("double").alias("frequency"),
        (F.col("last_period") - F.col("first_period")).cast("double").alias("recency"),
        (F.lit(as_of_period) - F.col("first_period")).cast("double").alias("T"),
        F.when(repeats > 0, F.col("repeat_spend") / repeats).otherwise(F.lit(0.0)).cast("double").alias(
            "monetary_value"
        ),
        F.lit(time_unit).alias("time_unit"),
    )
