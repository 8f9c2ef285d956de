"""Row rules for transactions: pure DataFrame -> DataFrame transforms.

:func:`classify` parses the canonical columns and gives every row either ``reason = null``
(valid) or the FIRST rule it breaks, in this order:

=====================================  =========================================================
reason                                 rule
=====================================  =========================================================
``missing_customer_id``                ``customer_id`` null or blank
``invalid_business_line``              not 1-64 of ``[A-Za-z0-9_.-]`` (it becomes a partition)
``invalid_event_ts``                   missing, or not ISO 8601 (``YYYY-MM-DD[(T| )hh:mm[:ss[.f]]][Z|±hh:mm]``)
``future_event_ts``                    later than the ingestion time (+ tolerance)
``invalid_amount``                     missing, non-numeric, NaN or infinite
``duplicate_transaction_id_in_batch``  a ``transaction_id`` seen earlier in the same input
``duplicate_transaction_id_in_table``  a ``transaction_id`` already in the table with other content
=====================================  =========================================================

A row whose ``transaction_id`` is already in the table *with the same content* is not an
error: it was ingested before, and re-ingesting skips it (idempotence).
"""
from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, NumericType, StringType, TimestampType

REASON_MISSING_CUSTOMER = "missing_customer_id"
REASON_BAD_LINE = "invalid_business_line"
REASON_BAD_TS = "invalid_event_ts"
REASON_FUTURE_TS = "future_event_ts"
REASON_BAD_AMOUNT = "invalid_amount"
REASON_DUP_BATCH = "duplicate_transaction_id_in_batch"
REASON_DUP_TABLE = "duplicate_transaction_id_in_table"
REASONS = (
    REASON_MISSING_CUSTOMER,
    REASON_BAD_LINE,
    REASON_BAD_TS,
    REASON_FUTURE_TS,
    REASON_BAD_AMOUNT,
    REASON_DUP_BATCH,
    REASON_DUP_TABLE,
)

ISO_TS_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
LINE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SEP = "\u001f"  # unit separator: cannot appear in ids after trimming


def raw_record(df: DataFrame) -> Column:
    """The row as received: JSON of every input column rendered as text (nulls kept)."""
    return F.to_json(
        F.struct(*[F.col(f"`{c}`").cast("string").alias(c) for c in df.columns]),
        {"ignoreNullFields": "false"},
    )


def _parse_ts(df: DataFrame, name: str = "event_ts") -> Column:
    """``name`` as a timestamp: timestamps/dates as they are, text only when ISO 8601 (else null)."""
    dtype = df.schema[name].dataType
    col = F.col(name)
    if isinstance(dtype, TimestampType):
        return col
    if isinstance(dtype, DateType):
        return col.cast("timestamp")
    text = F.trim(col.cast("string"))
    return F.when(text.rlike(ISO_TS_PATTERN), F.try_to_timestamp(F.regexp_replace(text, " ", "T")))


def _parse_amount(df: DataFrame) -> Column:
    dtype = df.schema["amount"].dataType
    if isinstance(dtype, NumericType):
        return F.col("amount").cast("double")
    return F.trim(F.col("amount").cast("string")).try_cast("double")


def _text(df: DataFrame, name: str) -> Column:
    if name not in df.columns:
        return F.lit(None).cast(StringType())
    return F.trim(F.col(name).cast("string"))


def classify(
    df: DataFrame,
    ingested_at: datetime,
    default_business_line: str = "default",
    future_tolerance_seconds: int = 0,
) -> DataFrame:
    """Parse and validate canonical columns; add ``reason`` / ``detail`` (null when valid).

    Args:
        df: input with canonical column names (after mapping); any other columns are kept
            only inside ``record``.
        ingested_at: the batch's ingestion time (UTC); rows after it are ``future_event_ts``.
        default_business_line: for rows without a business line.
        future_tolerance_seconds: clock-skew allowance for the future rule.

    Returns:
        columns ``record`` (JSON text), ``business_line``, ``customer_id``, ``event_ts``
        (timestamp, UTC), ``amount`` (double), ``given_transaction_id``, ``reason``, ``detail``.
    """
    record = raw_record(df)
    line_text = _text(df, "business_line")
    business_line = F.when(line_text.isNull() | (line_text == ""), F.lit(default_business_line)).otherwise(line_text)
    customer_id = _text(df, "customer_id")
    ts_raw = _text(df, "event_ts")
    event_ts = _parse_ts(df)
    amount_raw = _text(df, "amount")
    amount = _parse_amount(df)
    given_id = _text(df, "transaction_id")
    limit = F.lit(ingested_at).cast("timestamp") + F.expr(f"INTERVAL {int(future_tolerance_seconds)} SECONDS")

    staged = df.select(
        record.alias("record"),
        business_line.alias("business_line"),
        customer_id.alias("customer_id"),
        ts_raw.alias("_ts_raw"),
        event_ts.alias("event_ts"),
        amount_raw.alias("_amount_raw"),
        amount.alias("amount"),
        F.when(given_id != "", given_id).alias("given_transaction_id"),
    )
    reason = (
        F.when(F.col("customer_id").isNull() | (F.col("customer_id") == ""), F.lit(REASON_MISSING_CUSTOMER))
        .when(~F.col("business_line").rlike(LINE_PATTERN), F.lit(REASON_BAD_LINE))
        .when(F.col("event_ts").isNull(), F.lit(REASON_BAD_TS))
        .when(F.col("event_ts") > limit, F.lit(REASON_FUTURE_TS))
        .when(
            F.col("amount").isNull() | F.isnan("amount") | (F.abs(F.col("amount")) == float("inf")),
            F.lit(REASON_BAD_AMOUNT),
        )
    )
    detail = (
        F.when(F.col("customer_id").isNull() | (F.col("customer_id") == ""), F.lit("customer_id is empty"))
        .when(~F.col("business_line").rlike(LINE_PATTERN), F.concat(F.lit("business_line "), F.col("business_line")))
        .when(
            F.col("event_ts").isNull(),
            F.when(F.col("_ts_raw").isNull() | (F.col("_ts_raw") == ""), F.lit("event_ts is empty")).otherwise(
                F.concat(F.lit("cannot parse event_ts '"), F.col("_ts_raw"), F.lit("' as ISO 8601"))
            ),
        )
        .when(
            F.col("event_ts") > limit,
            F.concat(F.lit("event_ts "), F.col("event_ts").cast("string"), F.lit(" is after ingestion time")),
        )
        .when(
            F.col("amount").isNull() | F.isnan("amount") | (F.abs(F.col("amount")) == float("inf")),
            F.concat(F.lit("amount '"), F.coalesce(F.col("_amount_raw"), F.lit("")), F.lit("' is not a finite number")),
        )
    )
    return staged.withColumn("reason", reason).withColumn("detail", detail).drop("_ts_raw", "_amount_raw")


def _canonical_content(prefix: str = "") -> Column:
    """Text that identifies a transaction's content (line, customer, instant, amount)."""
    return F.concat_ws(
        _SEP,
        F.col(f"{prefix}business_line"),
        F.col(f"{prefix}customer_id"),
        F.date_format(F.col(f"{prefix}event_ts"), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"),
        F.format_number(F.col(f"{prefix}amount"), 6),
    )


def assign_transaction_ids(classified: DataFrame) -> DataFrame:
    """Give valid rows a ``transaction_id``: the given one, else a deterministic derived one.

    Derived ids hash the canonical content plus the row's occurrence number among identical
    rows of the input, so two identical purchases in one file stay two transactions while
    re-ingesting the same file yields the same ids (idempotent).
    """
    content = _canonical_content()
    occurrence = F.row_number().over(Window.partitionBy(content).orderBy(F.col("record")))
    derived = F.concat(F.lit("d-"), F.sha2(F.concat_ws(_SEP, content, occurrence.cast("string")), 256).substr(1, 32))
    return classified.withColumn(
        "transaction_id",
        F.when(F.col("reason").isNull(), F.coalesce(F.col("given_transaction_id"), derived)),
    )


def flag_batch_duplicates(df: DataFrame) -> DataFrame:
    """Second and later rows with the same (business_line, transaction_id) in one input."""
    w = Window.partitionBy("business_line", "transaction_id").orderBy(F.col("event_ts"), F.col("record"))
    rank = F.row_number().over(w)
    is_dup = F.col("reason").isNull() & (rank > 1)
    return df.withColumn("reason", F.when(is_dup, F.lit(REASON_DUP_BATCH)).otherwise(F.col("reason"))).withColumn(
        "detail",
        F.when(is_dup, F.concat(F.lit("transaction_id "), F.col("transaction_id"), F.lit(" repeated in this input")))
        .otherwise(F.col("detail")),
    )


def flag_table_duplicates(df: DataFrame, existing: DataFrame) -> DataFrame:
    """Compare valid rows with the table's rows of the same ``(business_line, transaction_id)``.

    Adds ``already_present`` (same id and same content: skip silently) and flags
    ``duplicate_transaction_id_in_table`` when the content differs.
    """
    known = existing.select(
        F.col("business_line").alias("_k_line"),
        F.col("transaction_id").alias("_k_id"),
        _canonical_content().alias("_k_content"),
    )
    joined = df.join(
        known,
        (F.col("business_line") == F.col("_k_line")) & (F.col("transaction_id") == F.col("_k_id")),
        "left",
    )
    valid = F.col("reason").isNull()
    hit = valid & F.col("_k_id").isNotNull()
    same = hit & (F.col("_k_content") == _canonical_content())
    conflict = hit & ~same
    return (
        joined.withColumn("already_present", F.coalesce(same, F.lit(False)))
        .withColumn("reason", F.when(conflict, F.lit(REASON_DUP_TABLE)).otherwise(F.col("reason")))
        .withColumn(
            "detail",
            F.when(
                conflict,
                F.concat(F.lit("transaction_id "), F.col("transaction_id"), F.lit(" already ingested with other content")),
            ).otherwise(F.col("detail")),
        )
        .drop("_k_line", "_k_id", "_k_content")
    )


def quarantine_ids(rejected: DataFrame) -> DataFrame:
    """Deterministic ``quarantine_id`` so re-ingesting a file does not duplicate quarantine rows."""
    key = F.concat_ws(_SEP, F.col("record"), F.col("reason"))
    occurrence = F.row_number().over(Window.partitionBy(key).orderBy(F.col("record")))
    return rejected.withColumn(
        "quarantine_id", F.sha2(F.concat_ws(_SEP, key, occurrence.cast("string")), 256).substr(1, 32)
    )
