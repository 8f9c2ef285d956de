"""The ``customer_features`` lake table: one point-in-time snapshot row per customer and ``as_of``.

Layout
------
* Partitioned by (``business_line``, ``as_of``); key (``business_line``, ``customer_id``, ``as_of``).
* ``entity_key`` = ``"<business_line>:<customer_id>"``: the ONE surrogate join key Feast uses.
* ``event_timestamp`` = the last representable instant of ``as_of`` in UTC,
  ``as_of 23:59:59.999999``. A snapshot describes everything up to the END of ``as_of``
  (CLI_CONTRACT: ``DATE`` means the end of that day), so it must only become visible to
  Feast's point-in-time join (``feature.event_timestamp <= entity.event_timestamp``) once
  that day is over: an entity row stamped ``as_of 23:59:59.999999`` or later gets the
  ``as_of`` snapshot; one stamped earlier on ``as_of`` gets the previous snapshot.
  Convention for callers: stamp an entity row for cutoff ``D`` with :func:`end_of_day` ``(D)``.

Columns
-------
The fixed columns are :data:`FEATURES_SCHEMA` (explicit types, checked on every write).
Two families of columns depend on the configuration, so the table is ``open_schema``
(extra columns are added by Delta schema evolution on write, see ``Lake.replace_where``):

* trailing windows, one pair per ``features.windows_days`` entry ``N``:
  ``spend_<N>d`` (double, gross purchase spend in the ``N`` days ending at ``as_of``) and
  ``purchase_days_<N>d`` (long); see :func:`window_columns`.
* customer attributes, prefixed ``attr_``: categorical -> string, numeric -> double,
  dates -> ``attr_<name>_days`` (double, days from the date to ``as_of``); see
  :mod:`ltv.features.behaviour`.

Units: ``frequency`` / ``recency`` / ``T`` are in the snapshot's ``time_unit`` (``days`` or
``weeks``, pandas ``W-SUN`` weeks exactly as ``lifetimes`` counts them); every ``*_days``
column is in days; money is in the currency of ``transactions.amount``.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ltv.lake.tables import TableSpec, register

TABLE_NAME = "customer_features"
ATTRIBUTE_PREFIX = "attr_"
KEY_COLUMNS = ("business_line", "customer_id", "as_of")

FEATURES_SCHEMA = StructType(
    [
        # key and Feast plumbing
        StructField("business_line", StringType(), False),
        StructField("customer_id", StringType(), False),
        StructField("as_of", DateType(), False),
        StructField("entity_key", StringType(), False),
        StructField("event_timestamp", TimestampType(), False),
        StructField("time_unit", StringType(), False),
        # BTYD sufficient statistics (lifetimes' summary_data_from_transaction_data), in time_unit
        StructField("frequency", DoubleType(), False),
        StructField("recency", DoubleType(), False),
        StructField("T", DoubleType(), False),
        StructField("monetary_value", DoubleType(), False),
        # behaviour (days and money)
        StructField("first_purchase_date", DateType(), False),
        StructField("last_purchase_date", DateType(), False),
        StructField("tenure_days", IntegerType(), False),
        StructField("days_since_last_purchase", IntegerType(), False),
        StructField("purchase_days_total", LongType(), False),
        StructField("gross_spend_total", DoubleType(), False),
        StructField("refund_total", DoubleType(), False),
        StructField("net_spend_total", DoubleType(), False),
        StructField("refund_share", DoubleType(), False),
        StructField("mean_interpurchase_days", DoubleType(), True),
        StructField("last_interpurchase_days", DoubleType(), True),
        StructField("spend_trend_90d", DoubleType(), False),
        # lineage
        StructField("computed_at", TimestampType(), False),
    ]
)

CUSTOMER_FEATURES = register(
    TableSpec(
        name=TABLE_NAME,
        schema=FEATURES_SCHEMA,
        partition_by=("business_line", "as_of"),
        key=KEY_COLUMNS,
        open_schema=True,
        description=(
            "point-in-time customer features: one row per (business_line, customer_id, as_of) for every "
            "customer with a purchase on or before as_of; window (spend_<N>d, purchase_days_<N>d) and "
            "attribute (attr_*) columns follow the config"
        ),
    )
)


def window_columns(windows_days: list[int] | tuple[int, ...]) -> list[StructField]:
    """The configuration-dependent trailing-window columns, in order."""
    fields: list[StructField] = []
    for days in windows_days:
        fields.append(StructField(f"spend_{int(days)}d", DoubleType(), False))
        fields.append(StructField(f"purchase_days_{int(days)}d", LongType(), False))
    return fields


def snapshot_schema(windows_days: list[int] | tuple[int, ...], attributes: list[StructField] | None = None) -> StructType:
    """Full schema of a snapshot for a config: fixed columns, window columns, attribute columns."""
    return StructType(list(FEATURES_SCHEMA.fields) + window_columns(windows_days) + list(attributes or []))


def model_feature_columns(columns: list[str]) -> list[str]:
    """Of a snapshot's ``columns``, those usable as model inputs (no keys, lineage or raw dates)."""
    excluded = set(KEY_COLUMNS) | {
        "entity_key",
        "event_timestamp",
        "time_unit",
        "computed_at",
        "first_purchase_date",
        "last_purchase_date",
    }
    return [c for c in columns if c not in excluded]


def end_of_day(day: dt.date) -> dt.datetime:
    """``day`` 23:59:59.999999 UTC (timezone-aware): the ``event_timestamp`` of the ``day`` snapshot."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=dt.timezone.utc)


def attribute_field(name: str, kind: str) -> StructField:
    """The snapshot column for customer attribute ``name`` of ``kind`` (categorical / numeric / date)."""
    if kind == "categorical":
        return StructField(f"{ATTRIBUTE_PREFIX}{name}", StringType(), True)
    if kind == "date":
        return StructField(f"{ATTRIBUTE_PREFIX}{name}_days", DoubleType(), True)
    return StructField(f"{ATTRIBUTE_PREFIX}{name}", DoubleType(), True)


# -- time conventions shared by every transform ------------------------------------------------
def day_start(day: dt.date):
    """Spark timestamp literal ``day 00:00:00`` UTC (parsed in the session time zone, which is UTC)."""
    from pyspark.sql import functions as F

    return F.lit(f"{day.isoformat()} 00:00:00").cast("timestamp")


def known_at(as_of: dt.date, ts_col: str = "event_ts"):
    """Condition: the row happened on or before the END of ``as_of`` (``ts < as_of + 1 day``)."""
    from pyspark.sql import functions as F

    return F.col(ts_col) < day_start(as_of + dt.timedelta(days=1))


def event_day(ts_col: str = "event_ts"):
    """The UTC calendar day of a timestamp column."""
    from pyspark.sql import functions as F

    return F.to_date(F.col(ts_col))


MICROS_PER_DAY = 86_400_000_000


def event_day_index(ts_col: str = "event_ts"):
    """The UTC calendar day of a timestamp column as a day count since 1970-01-01 (a long).

    The same day as :func:`event_day` (under ltv's UTC session), computed with integer
    arithmetic on the epoch microseconds: it needs no time-zone rules per row (a date cast
    converts every value through the session zone) and does not depend on the session zone.
    Floor division, so instants before the epoch fall on the day they belong to.
    """
    from pyspark.sql import functions as F

    micros = F.unix_micros(F.col(ts_col))
    whole_days = micros - F.pmod(micros, F.lit(MICROS_PER_DAY))
    # An exact multiple of a day, k * 2**13 * 10546875 with |k| < 2**30 for every timestamp Spark
    # can hold, so it and the day length are exact doubles and their quotient is exactly k.
    return (whole_days / F.lit(MICROS_PER_DAY)).cast("long")


def is_purchase(amount_col: str = "amount"):
    """Condition: the row is a purchase, i.e. not a refund (``amount >= 0``).

    Zero-amount rows (free items, promotions) are purchases: they are orders, and lifetimes
    counts them (CDNOW has 80 such rows, some customers' only orders). Refunds (``amount < 0``)
    never count as purchases.
    """
    from pyspark.sql import functions as F

    return F.col(amount_col) >= 0
