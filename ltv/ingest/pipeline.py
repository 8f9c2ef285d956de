"""Ingestion wiring: read -> classify -> MERGE valid rows into ``transactions`` and rejected
rows into ``transactions_quarantine``; and the ``customers`` attribute upsert.

Guarantees:

* counts are conserved: rows read = accepted (new + already present) + quarantined;
* re-ingesting the same input adds nothing (MERGE on the key; deterministic derived ids and
  quarantine ids);
* each table changes in one atomic Delta commit; the ``transactions`` commit comes first, and
  an ingest killed between the two commits is repaired by re-running it.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, NumericType, TimestampType

from ltv.config import IngestSettings
from ltv.errors import InputRejected
from ltv.ingest import rules
from ltv.ingest.reader import apply_mapping, read_source, require_columns
from ltv.lake.io import Lake
from ltv.lake.tables import CUSTOMERS, QUARANTINE, TRANSACTIONS
from ltv.runtime import faults

log = logging.getLogger(__name__)

REQUIRED_TRANSACTION_COLUMNS = ("customer_id", "event_ts", "amount")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass
class IngestResult:
    """What one ingest did; ``rows_read == accepted + quarantined_total`` always holds."""

    table: str
    source: str
    rows_read: int = 0
    accepted_new: int = 0
    already_present: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    accepted_by_line: dict[str, int] = field(default_factory=dict)
    table_version: int | None = None
    quarantine_version: int | None = None
    seconds: float = 0.0

    @property
    def accepted(self) -> int:
        return self.accepted_new + self.already_present

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def conserved(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined_total

    def as_dict(self) -> dict:
        return {
            "table": self.table,
            "source": self.source,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "accepted_new": self.accepted_new,
            "already_present": self.already_present,
            "quarantined": self.quarantined_total,
            "quarantined_by_reason": dict(sorted(self.quarantined.items())),
            "accepted_by_business_line": dict(sorted(self.accepted_by_line.items())),
            "table_version": self.table_version,
            "quarantine_version": self.quarantine_version,
            "seconds": round(self.seconds, 2),
        }


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _open(spark, source, fmt, settings, ingested_at, required):
    """Shared start of every ingest: defaults, read (or reject) the input, map and check columns."""
    settings = settings or IngestSettings()
    ingested_at = ingested_at or _now()
    source_name = str(Path(source).expanduser().resolve())
    raw = read_source(spark, source, fmt, settings.csv_delimiter)
    mapped = apply_mapping(raw, settings.column_mapping)
    require_columns(mapped, required, source, settings.column_mapping)
    return settings, ingested_at, source_name, raw, mapped


def ingest_transactions(
    spark: SparkSession,
    lake: Lake,
    source: str | Path,
    fmt: str | None = None,
    settings: IngestSettings | None = None,
    ingested_at: datetime | None = None,
) -> IngestResult:
    """Validate ``source`` and append it to ``transactions`` (idempotent), quarantining bad rows.

    Args:
        ingested_at: naive UTC ingestion time (default now); rows after it are "future".

    Raises:
        InputRejected: the input as a whole is unusable; nothing was written.
    """
    started = time.monotonic()
    settings, ingested_at, source_name, raw, mapped = _open(
        spark, source, fmt, settings, ingested_at, REQUIRED_TRANSACTION_COLUMNS
    )

    classified = rules.classify(
        mapped, ingested_at, settings.default_business_line, settings.future_tolerance_seconds
    )
    checked = rules.flag_batch_duplicates(rules.assign_transaction_ids(classified))
    if lake.exists(TRANSACTIONS.name):
        existing = lake.read(TRANSACTIONS.name).select("business_line", "transaction_id", "customer_id", "event_ts", "amount")
        checked = rules.flag_table_duplicates(checked, existing)
    else:
        checked = checked.withColumn("already_present", F.lit(False))

    checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        result = IngestResult(table=TRANSACTIONS.name, source=source_name)
        for row in checked.groupBy("reason", "already_present", "business_line").count().collect():
            if row["reason"] is not None:
                result.quarantined[row["reason"]] = result.quarantined.get(row["reason"], 0) + row["count"]
            elif row["already_present"]:
                result.already_present += row["count"]
            else:
                result.accepted_new += row["count"]
                result.accepted_by_line[row["business_line"]] = row["count"]
        result.rows_read = raw.count()
        if not result.conserved:  # cannot happen unless a rule drops rows: refuse to write
            raise RuntimeError(f"row counts not conserved: {result.as_dict()}")

        new_rows = checked.where(F.col("reason").isNull() & ~F.col("already_present")).select(
            "transaction_id",
            "business_line",
            "customer_id",
            "event_ts",
            F.to_date("event_ts").alias("event_date"),
            "amount",
            F.lit(source_name).alias("source"),
            F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
        )
        lake.ensure(TRANSACTIONS.name)
        if result.accepted_new:
            # a reliability test can stop the tasks writing these rows here (ltv.runtime.faults; inert otherwise)
            lake.merge_insert_new(TRANSACTIONS.name, faults.in_tasks(new_rows, "ingest.transactions.write"))
        result.table_version = lake.version(TRANSACTIONS.name)

        rejected = checked.where(F.col("reason").isNotNull())
        lake.ensure(QUARANTINE.name)
        if result.quarantined_total:
            _write_quarantine(lake, rejected, TRANSACTIONS.name, source_name, ingested_at)
        result.quarantine_version = lake.version(QUARANTINE.name)
    finally:
        checked.unpersist()
    result.seconds = time.monotonic() - started
    log.info("ingested %s: %s", source_name, result.as_dict())
    return result


def _write_quarantine(lake: Lake, rejected: DataFrame, target: str, source_name: str, ingested_at: datetime) -> None:
    rows = rules.quarantine_ids(rejected).select(
        "quarantine_id",
        F.lit(target).alias("target_table"),
        "record",
        "reason",
        "detail",
        F.lit(source_name).alias("source"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
    )
    lake.merge_insert_new(QUARANTINE.name, rows)


# -- customers --------------------------------------------------------------------------
REASON_MISSING_CUSTOMER = rules.REASON_MISSING_CUSTOMER
REASON_DUP_CUSTOMER = "duplicate_customer_in_batch"
REASON_BAD_VALID_FROM = "invalid_valid_from"
#: columns of ``customers`` that are not attributes (``valid_from`` is optional in the input)
CUSTOMER_META = ("customer_id", "business_line", "updated_at", "valid_from")


def ingest_customers(
    spark: SparkSession,
    lake: Lake,
    source: str | Path,
    fmt: str | None = None,
    settings: IngestSettings | None = None,
    ingested_at: datetime | None = None,
) -> IngestResult:
    """Upsert customer attributes (one row per ``(business_line, customer_id)``) into ``customers``.

    Attribute columns keep their type: numeric text becomes double, ISO dates become dates,
    the rest stays text. New attribute columns extend the table's schema.
    """
    started = time.monotonic()
    settings, ingested_at, source_name, raw, mapped = _open(spark, source, fmt, settings, ingested_at, ("customer_id",))
    attributes = [c for c in mapped.columns if c not in CUSTOMER_META]
    bad = [c for c in attributes if not _ATTRIBUTE_NAME.match(c)]
    if bad:
        raise InputRejected(
            f"attribute column name(s) {bad} in {Path(source).name} are not identifiers; "
            "rename them (letters, digits, _) or map them in ltv.yaml"
        )

    line_text = rules._text(mapped, "business_line")
    customer = rules._text(mapped, "customer_id")
    staged = mapped.select(
        rules.raw_record(mapped).alias("record"),
        F.when(line_text.isNull() | (line_text == ""), F.lit(settings.default_business_line))
        .otherwise(line_text)
        .alias("business_line"),
        customer.alias("customer_id"),
        (rules._parse_ts(mapped, "valid_from") if "valid_from" in mapped.columns
         else F.lit(None).cast("timestamp")).alias("valid_from"),
        (rules._text(mapped, "valid_from") if "valid_from" in mapped.columns
         else F.lit(None).cast("string")).alias("_valid_from_raw"),
        *[_typed_attribute(mapped, c).alias(c) for c in attributes],
    )
    from pyspark.sql import Window

    rank = F.row_number().over(Window.partitionBy("business_line", "customer_id").orderBy(F.col("record").desc()))
    staged = staged.withColumn(
        "reason",
        F.when(F.col("customer_id").isNull() | (F.col("customer_id") == ""), F.lit(REASON_MISSING_CUSTOMER))
        .when(~F.col("business_line").rlike(rules.LINE_PATTERN), F.lit(rules.REASON_BAD_LINE))
        .when(F.col("valid_from").isNull() & F.col("_valid_from_raw").isNotNull() & (F.col("_valid_from_raw") != ""),
              F.lit(REASON_BAD_VALID_FROM))
        .when(rank > 1, F.lit(REASON_DUP_CUSTOMER)),
    ).withColumn(
        "detail",
        F.when(F.col("reason") == REASON_DUP_CUSTOMER, F.lit("customer repeated in this input; another row kept"))
        .when(F.col("reason") == REASON_BAD_VALID_FROM,
              F.concat(F.lit("cannot parse valid_from '"), F.col("_valid_from_raw"), F.lit("' as ISO 8601"))),
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        result = IngestResult(table=CUSTOMERS.name, source=source_name)
        for row in staged.groupBy("reason", "business_line").count().collect():
            if row["reason"] is None:
                result.accepted_new += row["count"]
                result.accepted_by_line[row["business_line"]] = row["count"]
            else:
                result.quarantined[row["reason"]] = result.quarantined.get(row["reason"], 0) + row["count"]
        result.rows_read = raw.count()
        valid = staged.where(F.col("reason").isNull()).select(
            "business_line", "customer_id", F.lit(ingested_at).cast("timestamp").alias("updated_at"), "valid_from",
            *attributes,
        )
        lake.upsert(CUSTOMERS.name, valid)
        result.table_version = lake.version(CUSTOMERS.name)
        lake.ensure(QUARANTINE.name)
        if result.quarantined_total:
            _write_quarantine(lake, staged.where(F.col("reason").isNotNull()), CUSTOMERS.name, source_name, ingested_at)
        result.quarantine_version = lake.version(QUARANTINE.name)
    finally:
        staged.unpersist()
    result.seconds = time.monotonic() - started
    return result


def _typed_attribute(df: DataFrame, name: str):
    """Numeric and date columns keep their type; text is typed by what every value parses as."""
    dtype = df.schema[name].dataType
    col = F.col(f"`{name}`")
    if isinstance(dtype, (NumericType, DateType, TimestampType)):
        return col.cast("double") if isinstance(dtype, NumericType) else col
    text = F.trim(col.cast("string"))
    present = df.where(text.isNotNull() & (text != ""))
    stats = present.agg(
        F.count("*").alias("n"),
        F.count(text.try_cast("double")).alias("numeric"),
        F.count(F.when(text.rlike(r"^\d{4}-\d{2}-\d{2}$"), F.try_to_date(text))).alias("dates"),
    ).first()
    if stats["n"] and stats["numeric"] == stats["n"]:
        return text.try_cast("double")
    if stats["n"] and stats["dates"] == stats["n"]:
        return F.try_to_date(text)
    return F.when(text != "", text)
