"""Wiring: read the lake, compute a feature snapshot, write ``customer_features``; training sets.

The transforms themselves (:mod:`rfm`, :mod:`behaviour`, :mod:`labels`) never read or write;
this module does the I/O through :class:`ltv.lake.io.Lake`.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ltv.config import FeatureSettings, LTVConfig, validate_name
from ltv.errors import ConfigError
from ltv.features.behaviour import attribute_features, behaviour_features, null_attribute_columns
from ltv.features.labels import attach_labels
from ltv.features.rfm import rfm_summary
from ltv.features.schema import FEATURES_SCHEMA, TABLE_NAME, day_start
from ltv.lake.io import Lake

log = logging.getLogger(__name__)

KEYS = ("business_line", "customer_id")


@dataclass(frozen=True)
class FeatureBuildResult:
    """What :func:`build_features` wrote: rows per business line, Delta version of the write,
    and each line's time unit (``time_unit`` names them: one unit, or ``line=unit`` pairs)."""

    as_of: dt.date
    time_unit: str
    rows: dict[str, int] = field(default_factory=dict)
    version: int | None = None
    time_units: dict[str, str] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


# -- pure: snapshot from DataFrames ------------------------------------------------------------
def build_snapshot(
    transactions: DataFrame,
    as_of: dt.date,
    settings: FeatureSettings | None = None,
    customers: DataFrame | None = None,
    computed_at: dt.datetime | None = None,
) -> DataFrame:
    """The ``customer_features`` rows for ``as_of`` (pure; reads nothing, writes nothing).

    One row per customer with a purchase on or before the end of ``as_of``: RFM in
    ``settings.time_unit``, behaviour features, attributes (left-joined, null when unknown),
    ``entity_key``, ``event_timestamp`` (as_of 23:59:59.999999 UTC) and ``computed_at``
    (``computed_at`` or, if None, the epoch -- pass the real time when writing).
    """
    settings = settings or FeatureSettings()
    rfm = rfm_summary(transactions, as_of, settings.time_unit)
    behaviour = behaviour_features(transactions, as_of, settings.windows_days)
    snapshot = rfm.join(behaviour, list(KEYS), "inner")
    if customers is not None:
        snapshot = snapshot.join(attribute_features(customers, as_of, settings.attributes), list(KEYS), "left")
    else:
        snapshot = snapshot.select("*", *null_attribute_columns(settings.attributes))

    stamp = computed_at or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.timezone.utc).replace(tzinfo=None)
    snapshot = snapshot.select(
        "*",
        F.lit(as_of).alias("as_of"),
        F.concat_ws(":", F.col("business_line"), F.col("customer_id")).alias("entity_key"),
        (day_start(as_of + dt.timedelta(days=1)) - F.expr("INTERVAL 1 MICROSECOND")).alias("event_timestamp"),
        F.lit(stamp.isoformat(sep=" ")).cast("timestamp").alias("computed_at"),
    )
    fixed = [f.name for f in FEATURES_SCHEMA.fields]
    rest = [c for c in snapshot.columns if c not in fixed]
    return snapshot.select(*fixed, *rest)


# -- I/O: build and write -----------------------------------------------------------------------
def _lines_to_build(transactions: DataFrame, business_lines: Sequence[str] | None) -> list[str]:
    if business_lines is not None:
        return sorted({validate_name(line, "business line") for line in business_lines})
    found = [r["business_line"] for r in transactions.select("business_line").distinct().collect()]
    return sorted(validate_name(line, "business line") for line in found)


def _line_filter(lines: Sequence[str]):
    return F.col("business_line").isin(list(lines))


def _snapshot_predicate(lines: Sequence[str], as_of: dt.date) -> str:
    quoted = ", ".join(f"'{validate_name(line, 'business line')}'" for line in lines)
    return f"business_line IN ({quoted}) AND as_of = DATE'{as_of.isoformat()}'"


def _read_inputs(lake: Lake, lines: Sequence[str] | None) -> tuple[DataFrame, DataFrame | None]:
    transactions = lake.read("transactions")
    customers = lake.read("customers") if lake.exists("customers") else None
    if lines is not None:
        transactions = transactions.where(_line_filter(lines))
        customers = customers.where(_line_filter(lines)) if customers is not None else None
    return transactions, customers


def _check_column_types(lake: Lake, snapshot: DataFrame) -> None:
    """Fail before writing when a config-dependent column would change type in the stored table."""
    if not lake.exists(TABLE_NAME):
        return
    fixed = {f.name for f in FEATURES_SCHEMA.fields}
    stored = {f.name.lower(): f.dataType for f in lake.read(TABLE_NAME).schema.fields}
    clashes = [
        f"{f.name} ({stored[f.name.lower()].simpleString()} stored, {f.dataType.simpleString()} now)"
        for f in snapshot.schema.fields
        if f.name not in fixed and f.name.lower() in stored and stored[f.name.lower()] != f.dataType
    ]
    if clashes:
        raise ConfigError(
            f"customer_features already has {', '.join(clashes)}: features.attributes or the customers "
            f"data changed a column's type. Restore the old typing, or move {lake.path(TABLE_NAME)} aside "
            "and rebuild the snapshots (`ltv features --as-of DATE` per date)"
        )


def build_features(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    as_of: dt.date,
    business_lines: list[str] | None = None,
) -> FeatureBuildResult:
    """Build the ``as_of`` snapshot from the lake and write it to ``customer_features``.

    Reads ``transactions`` (and ``customers`` when it exists), computes :func:`build_snapshot`
    and replaces the (business line, as_of) partitions in one Delta commit, so re-running the
    same ``as_of`` leaves a single copy. ``business_lines`` None = every line in
    ``transactions``. A requested line without customers ends up with no rows for ``as_of``.
    """
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise ConfigError(f"as_of must be a date (YYYY-MM-DD), got {as_of!r}")
    transactions, _ = _read_inputs(lake, None)
    lines = _lines_to_build(transactions, business_lines)
    if not lines:
        log.warning("no business lines to build features for (transactions is empty?)")
        return FeatureBuildResult(as_of=as_of, time_unit=config.features.time_unit, version=lake.version(TABLE_NAME))
    transactions, customers = _read_inputs(lake, lines)
    computed_at = dt.datetime.now(dt.timezone.utc)
    units = {line: line_feature_settings(config, line).time_unit for line in lines}
    snapshot = None
    for unit in sorted(set(units.values())):  # one unit per line (its own, else features.time_unit)
        members = [line for line in lines if units[line] == unit]
        part = build_snapshot(
            transactions.where(F.col("business_line").isin(members)), as_of,
            line_feature_settings(config, members[0]),
            customers.where(F.col("business_line").isin(members)) if customers is not None else None, computed_at)
        snapshot = part if snapshot is None else snapshot.unionByName(part, allowMissingColumns=True)
    _check_column_types(lake, snapshot)
    predicate = _snapshot_predicate(lines, as_of)
    log.info("writing customer_features for %s, lines %s", as_of, lines)
    lake.replace_where(TABLE_NAME, snapshot, predicate)
    version = lake.version(TABLE_NAME)
    counts = lake.rows_added(TABLE_NAME, version, "business_line")
    if counts is None:  # no per-file statistics in the commit: count the written partitions
        counts = {
            r["business_line"]: int(r["count"])
            for r in lake.read(TABLE_NAME, version=version).where(predicate).groupBy("business_line").count().collect()
        }
    rows = {line: counts.get(line, 0) for line in lines}
    log.info("customer_features %s: %s rows (Delta version %s)", as_of, rows, version)
    return FeatureBuildResult(as_of=as_of, time_unit=_unit_names(units), rows=rows, version=version, time_units=units)


def line_feature_settings(config: LTVConfig, line: str) -> FeatureSettings:
    """The feature settings of one line: the store's windows and attributes, the line's time unit."""
    return FeatureSettings(time_unit=config.line(line).time_unit, windows_days=config.features.windows_days,
                           attributes=config.features.attributes)


def _unit_names(units: dict[str, str]) -> str:
    distinct = sorted(set(units.values()))
    return distinct[0] if len(distinct) == 1 else ", ".join(f"{line}={unit}" for line, unit in sorted(units.items()))


def build_features_range(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    start: dt.date,
    end: dt.date,
    step_days: int = 7,
    business_lines: list[str] | None = None,
) -> list[FeatureBuildResult]:
    """Backfill: one snapshot every ``step_days`` from ``start`` up to and including ``end``."""
    if step_days < 1:
        raise ConfigError(f"step_days must be >= 1, got {step_days}")
    if end < start:
        raise ConfigError(f"backfill end {end} is before start {start}")
    results = []
    as_of = start
    while as_of <= end:
        results.append(build_features(spark, lake, config, as_of, business_lines))
        as_of += dt.timedelta(days=step_days)
    return results


# -- model inputs ---------------------------------------------------------------------------------
def condense_patterns(features: DataFrame) -> pd.DataFrame:
    """Distinct (frequency, recency, T) patterns with their customer count ``weight``.

    Pass ONE snapshot of ONE business line. The result is bounded (at most the number of
    distinct patterns, ~T^2/2 for T periods), so it is collected to the driver for BTYD fitting.
    """
    rows = (
        features.groupBy("frequency", "recency", "T")
        .agg(F.count(F.lit(1)).alias("weight"))
        .orderBy("frequency", "recency", "T")
        .toPandas()
    )
    return rows.astype({"frequency": "float64", "recency": "float64", "T": "float64", "weight": "int64"})


def condense_spend(features: DataFrame) -> pd.DataFrame:
    """(frequency, monetary_value rounded to cents, weight) over repeat customers, for Gamma-Gamma.

    Only customers with frequency > 0 and monetary_value > 0. Pass ONE snapshot of ONE line.
    """
    rows = (
        features.where((F.col("frequency") > 0) & (F.col("monetary_value") > 0))
        .groupBy("frequency", F.round("monetary_value", 2).alias("monetary_value"))
        .agg(F.count(F.lit(1)).alias("weight"))
        .orderBy("frequency", "monetary_value")
        .toPandas()
    )
    return rows.astype({"frequency": "float64", "monetary_value": "float64", "weight": "int64"})


def condense_refunds(features: DataFrame) -> pd.DataFrame:
    """One row: ``gross_spend_total`` and ``refund_total`` summed over the snapshot's customers,
    for the net share of spend forecasts (:func:`ltv.models.base.net_share`). Pass ONE snapshot of ONE line."""
    rows = features.agg(
        F.coalesce(F.sum("gross_spend_total"), F.lit(0.0)).cast("double").alias("gross_spend_total"),
        F.coalesce(F.sum("refund_total"), F.lit(0.0)).cast("double").alias("refund_total"),
    ).toPandas()
    return rows.astype({"gross_spend_total": "float64", "refund_total": "float64"})


@dataclass
class StoredSnapshots:
    """One line's ``customer_features`` snapshots in one time unit, at one pinned Delta version.

    The one feature path: training, scoring and the notebooks read a snapshot from here when
    the store has it and build a missing one with :func:`build_snapshot` (the same code that
    wrote the store), never writing it.
    """

    line: str
    time_unit: str
    version: int | None
    frame: DataFrame | None = None
    dates: frozenset[dt.date] = frozenset()

    @classmethod
    def read(cls, lake: Lake, line: str, time_unit: str, version: int | None = None) -> StoredSnapshots:
        """The line's stored snapshot dates in ``time_unit`` at ``version`` (None: the latest); one small query."""
        validate_name(line, "business line")
        if version is None:
            version = lake.version(TABLE_NAME)
        if version is None:
            return cls(line, time_unit, None)
        frame = lake.read(TABLE_NAME, version=version).where(
            (F.col("business_line") == line) & (F.col("time_unit") == time_unit))
        dates = frozenset(r[0] for r in frame.select("as_of").distinct().collect())
        return cls(line, time_unit, version, frame, dates)

    def get(self, as_of: dt.date) -> DataFrame | None:
        """The stored ``as_of`` snapshot, or None when the store has none for it."""
        if as_of not in self.dates:
            return None
        return self.frame.where(F.col("as_of") == F.lit(as_of))

    def source(self, as_of: dt.date) -> str:
        """Where the ``as_of`` snapshot comes from, for lineage."""
        return f"customer_features v{self.version}" if as_of in self.dates else "built from transactions"


def training_examples(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    line: str,
    cutoff: dt.date,
    horizon_days: int,
) -> DataFrame:
    """Snapshot features of ``line`` at ``cutoff`` with labels from ``(cutoff, cutoff + horizon]``.

    Uses the stored ``customer_features`` snapshot when it exists for (line, cutoff, the line's
    time unit), else builds it in memory (nothing is written). Labels need transactions up to
    ``cutoff + horizon_days``; later windows are silently short.
    """
    validate_name(line, "business line")
    transactions, customers = _read_inputs(lake, [line])
    settings = line_feature_settings(config, line)
    features = StoredSnapshots.read(lake, line, settings.time_unit).get(cutoff)
    if features is None:
        log.info("no stored snapshot for %s at %s: building it in memory", line, cutoff)
        features = build_snapshot(transactions, cutoff, settings, customers, dt.datetime.now(dt.timezone.utc))
    return attach_labels(features, transactions, horizon_days)
