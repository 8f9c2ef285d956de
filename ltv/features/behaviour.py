"""Behaviour and attribute features per customer, as of a date (pure DataFrame -> DataFrame).

Every quantity uses only rows with ``event_ts`` on or before the END of ``as_of`` (UTC).
Days are UTC calendar days; a *purchase day* is a day with at least one purchase, i.e. a row
that is not a refund (``amount >= 0``, see :func:`ltv.features.schema.is_purchase`).
Money is in the currency of ``transactions.amount``; gross spend counts purchases only,
refunds (``amount < 0``) are reported as a positive ``refund_total``.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ltv.errors import ConfigError
from ltv.features.schema import attribute_field, event_day, is_purchase, known_at

log = logging.getLogger(__name__)

KEYS = ("business_line", "customer_id")
CUSTOMER_META_COLUMNS = ("business_line", "customer_id", "updated_at", "valid_from")
TREND_DAYS = 90


def _days_window(day: Column, as_of: dt.date, start_days_ago: int, end_days_ago: int) -> Column:
    """``day`` in (as_of - start_days_ago, as_of - end_days_ago]."""
    upper = as_of - dt.timedelta(days=end_days_ago)
    lower = as_of - dt.timedelta(days=start_days_ago)
    return (day > F.lit(lower)) & (day <= F.lit(upper))


def behaviour_features(
    transactions: DataFrame, as_of: dt.date, windows_days: Sequence[int] = (30, 90, 365)
) -> DataFrame:
    """Spend, frequency and timing features for customers with a purchase on or before ``as_of``.

    Output columns (one row per business_line, customer_id):

    * ``first_purchase_date``, ``last_purchase_date`` (date)
    * ``tenure_days`` = as_of - first purchase day; ``days_since_last_purchase`` = as_of - last
      purchase day (int, days)
    * ``purchase_days_total`` (long), ``gross_spend_total``, ``refund_total`` (>= 0),
      ``net_spend_total`` = gross - refund, ``refund_share`` = refund_total / gross_spend_total
      (0 when gross spend is 0)
    * ``mean_interpurchase_days`` = (last - first) / (purchase days - 1) and
      ``last_interpurchase_days`` = last - previous purchase day (double, days; null with fewer
      than 2 purchase days)
    * ``spend_trend_90d`` = ln(1 + gross spend in the last 90 days) - ln(1 + gross spend in
      the 90 days before those): finite, 0 = flat, > 0 = growing
    * per window N in ``windows_days``: ``spend_<N>d`` (gross spend) and ``purchase_days_<N>d``
      over the N days ending at as_of, i.e. days in (as_of - N, as_of].
    """
    windows = [int(n) for n in windows_days]
    if any(n < 1 for n in windows):
        raise ConfigError(f"features.windows_days must be positive whole days, got {list(windows_days)}")
    day = F.col("day")
    daily = (
        transactions.where(known_at(as_of))
        .groupBy(*KEYS, event_day().alias("day"))
        .agg(
            F.sum(F.when(F.col("amount") > 0, F.col("amount")).otherwise(F.lit(0.0))).alias("gross"),
            F.sum(F.when(F.col("amount") < 0, -F.col("amount")).otherwise(F.lit(0.0))).alias("refund"),
            F.max(is_purchase().cast("int")).alias("is_purchase"),
        )
    )
    bought = F.col("is_purchase") == 1
    purchase_day = F.when(bought, day)
    earlier = Window.partitionBy(*KEYS).orderBy("day").rowsBetween(Window.unboundedPreceding, -1)
    daily = daily.withColumn(
        "gap", F.when(bought, F.datediff(day, F.last(purchase_day, ignorenulls=True).over(earlier)))
    )

    aggs = [
        F.min(purchase_day).alias("first_purchase_date"),
        F.max(purchase_day).alias("last_purchase_date"),
        F.sum("is_purchase").cast("long").alias("purchase_days_total"),
        F.sum("gross").alias("gross_spend_total"),
        F.sum("refund").alias("refund_total"),
        F.max_by("gap", purchase_day).alias("last_gap"),
        F.sum(F.when(_days_window(day, as_of, TREND_DAYS, 0), F.col("gross")).otherwise(0.0)).alias("_trend_now"),
        F.sum(
            F.when(_days_window(day, as_of, 2 * TREND_DAYS, TREND_DAYS), F.col("gross")).otherwise(0.0)
        ).alias("_trend_before"),
    ]
    for n in windows:
        in_window = _days_window(day, as_of, n, 0)
        aggs.append(F.sum(F.when(in_window, F.col("gross")).otherwise(0.0)).alias(f"spend_{n}d"))
        aggs.append(
            F.sum(F.when(in_window, F.col("is_purchase")).otherwise(0)).cast("long").alias(f"purchase_days_{n}d")
        )
    per_customer = daily.groupBy(*KEYS).agg(*aggs).where(F.col("purchase_days_total") > 0)

    as_of_lit = F.lit(as_of)
    several = F.col("purchase_days_total") >= 2
    return per_customer.select(
        *KEYS,
        "first_purchase_date",
        "last_purchase_date",
        F.datediff(as_of_lit, F.col("first_purchase_date")).alias("tenure_days"),
        F.datediff(as_of_lit, F.col("last_purchase_date")).alias("days_since_last_purchase"),
        "purchase_days_total",
        "gross_spend_total",
        "refund_total",
        (F.col("gross_spend_total") - F.col("refund_total")).alias("net_spend_total"),
        F.when(F.col("gross_spend_total") > 0, F.col("refund_total") / F.col("gross_spend_total"))
        .otherwise(F.lit(0.0))
        .alias("refund_share"),
        F.when(
            several,
            F.datediff(F.col("last_purchase_date"), F.col("first_purchase_date"))
            / (F.col("purchase_days_total") - 1),
        )
        .cast("double")
        .alias("mean_interpurchase_days"),
        F.when(several, F.col("last_gap")).cast("double").alias("last_interpurchase_days"),
        (F.log1p(F.col("_trend_now")) - F.log1p(F.col("_trend_before"))).alias("spend_trend_90d"),
        *[c for n in windows for c in (f"spend_{n}d", f"purchase_days_{n}d")],
    )


# -- customer attributes -------------------------------------------------------------------------
_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType, T.BooleanType)


def infer_attribute_kinds(customers_schema: T.StructType) -> dict[str, str]:
    """Attribute columns of a ``customers`` schema typed by their data: strings categorical,
    numbers and booleans numeric, dates and timestamps ``date``. Other types are skipped."""
    kinds: dict[str, str] = {}
    for field in customers_schema.fields:
        if field.name in CUSTOMER_META_COLUMNS:
            continue
        if isinstance(field.dataType, T.StringType):
            kinds[field.name] = "categorical"
        elif isinstance(field.dataType, _NUMERIC):
            kinds[field.name] = "numeric"
        elif isinstance(field.dataType, (T.DateType, T.TimestampType, T.TimestampNTZType)):
            kinds[field.name] = "date"
        else:
            log.warning("customer attribute %r of type %s is not used as a feature", field.name, field.dataType)
    return kinds


def resolve_attribute_kinds(
    customers_schema: T.StructType, attributes: Mapping[str, str] | None
) -> dict[str, str]:
    """Which attributes to use and how: ``attributes`` None = every attribute column by its data type;
    otherwise the configured ones (a date column configured ``numeric`` becomes days before as_of)."""
    inferred = infer_attribute_kinds(customers_schema)
    if attributes is None:
        return inferred
    present = {f.name: f.dataType for f in customers_schema.fields}
    missing = sorted(name for name in attributes if name not in present or name in CUSTOMER_META_COLUMNS)
    if missing:
        found = sorted(n for n in present if n not in CUSTOMER_META_COLUMNS)
        raise ConfigError(
            f"features.attributes names {missing} but the customers table has no such attribute columns "
            f"(found: {', '.join(found) or 'none'}); fix features.attributes or ingest them with "
            "`ltv ingest FILE --table customers`"
        )
    kinds: dict[str, str] = {}
    for name, kind in attributes.items():
        is_date = inferred.get(name) == "date"
        kinds[name] = "date" if (is_date and kind == "numeric") else kind
    return kinds


def attribute_features(
    customers: DataFrame, as_of: dt.date, attributes: Mapping[str, str] | None = None
) -> DataFrame:
    """Customer attribute columns as known at the end of ``as_of``, prefixed ``attr_``.

    Args:
        customers: the ``customers`` table (business_line, customer_id, updated_at, attributes).
        as_of: snapshot date.
        attributes: ``features.attributes`` (name -> categorical / numeric) or None for all.

    Returns business_line, customer_id and one column per attribute: categorical -> string
    ``attr_<name>``, numeric -> double ``attr_<name>``, date -> double ``attr_<name>_days`` =
    days from the date to as_of (negative if the date lies after as_of).

    Point in time: a row is used when its ``valid_from`` (since when its values hold, from the
    input) is null -- static attributes such as acquisition channel, country or signup date,
    true at every ``as_of`` -- or on or before the end of ``as_of``. ``updated_at`` (when ltv
    ingested the row) is lineage only: attributes loaded today describe customers in past
    snapshots too, which is what backfills and back-tests need.
    LIMITATION: ``customers`` keeps only the latest row per customer (an upsert), so a customer
    whose row has a ``valid_from`` after ``as_of`` gets nulls in older snapshots (the values
    that held before it are not kept).
    """
    kinds = resolve_attribute_kinds(customers.schema, attributes)
    if "valid_from" in customers.columns:
        known = customers.where(F.col("valid_from").isNull() | known_at(as_of, "valid_from"))
    else:  # a table written before valid_from existed: every row is static
        known = customers
    cols = []
    for name, kind in kinds.items():
        target = attribute_field(name, kind)
        source = F.col(f"`{name}`")
        if kind == "date":
            value = F.datediff(F.lit(as_of), F.to_date(source)).cast("double")
        elif kind == "numeric":
            value = source.try_cast("double")
        else:
            value = source.cast("string")
        cols.append(value.alias(target.name))
    return known.select(*KEYS, *cols)


def null_attribute_columns(attributes: Mapping[str, str] | None) -> list[Column]:
    """Typed all-null attribute columns, for when the ``customers`` table does not exist."""
    return [
        F.lit(None).cast(field.dataType).alias(field.name)
        for field in (attribute_field(name, kind) for name, kind in (attributes or {}).items())
    ]
