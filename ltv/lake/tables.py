"""Every lake table's name, schema and layout, in one place.

Schemas are explicit ``StructType``s: a Delta reader without ``ltv`` sees the same
columns, and a write with a wrong type fails loudly instead of evolving the table.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


@dataclass(frozen=True)
class TableSpec:
    """A lake table: name (= folder under the lake), schema, partition columns, properties.

    ``open_schema`` tables keep their key columns fixed but accept extra columns
    (customer attributes differ per company).
    """

    name: str
    schema: StructType
    partition_by: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    open_schema: bool = False
    description: str = ""


TRANSACTIONS = TableSpec(
    name="transactions",
    schema=StructType(
        [
            StructField("transaction_id", StringType(), False),
            StructField("business_line", StringType(), False),
            StructField("customer_id", StringType(), False),
            StructField("event_ts", TimestampType(), False),
            StructField("event_date", DateType(), False),
            StructField("amount", DoubleType(), False),
            StructField("source", StringType(), True),
            StructField("ingested_at", TimestampType(), False),
        ]
    ),
    partition_by=("business_line",),
    key=("business_line", "transaction_id"),
    description="bronze: validated transactions and refunds (amount < 0), one row per transaction_id",
)

QUARANTINE = TableSpec(
    name="transactions_quarantine",
    schema=StructType(
        [
            StructField("quarantine_id", StringType(), False),
            StructField("target_table", StringType(), False),
            StructField("record", StringType(), False),
            StructField("reason", StringType(), False),
            StructField("detail", StringType(), True),
            StructField("source", StringType(), True),
            StructField("ingested_at", TimestampType(), False),
        ]
    ),
    key=("target_table", "quarantine_id"),
    description="rejected input rows as received (JSON of every column as text) with the reason",
)

CUSTOMERS = TableSpec(
    name="customers",
    schema=StructType(
        [
            StructField("business_line", StringType(), False),
            StructField("customer_id", StringType(), False),
            StructField("updated_at", TimestampType(), False),
            # since when the row's attribute values hold; null = static (true at every as_of)
            StructField("valid_from", TimestampType(), True),
        ]
    ),
    partition_by=(),
    key=("business_line", "customer_id"),
    open_schema=True,
    description="customer attributes, one row per (business_line, customer_id); attribute columns vary",
)

CUSTOMER_LTV = TableSpec(
    name="customer_ltv",
    schema=StructType(
        [
            StructField("business_line", StringType(), False),
            StructField("customer_id", StringType(), False),
            StructField("as_of", DateType(), False),
            StructField("horizon_days", IntegerType(), False),
            StructField("predicted_ltv", DoubleType(), False),
            StructField("predicted_ltv_p10", DoubleType(), True),
            StructField("predicted_ltv_p90", DoubleType(), True),
            StructField("predicted_purchases", DoubleType(), True),
            StructField("p_alive", DoubleType(), True),
            StructField("discounted_ltv", DoubleType(), True),
            StructField("model_name", StringType(), False),
            StructField("model_version", StringType(), False),
            StructField("features_version", LongType(), True),
            StructField("scored_at", TimestampType(), False),
            StructField("entity_key", StringType(), False),
            StructField("event_timestamp", TimestampType(), False),
            # added in 0.3 (tables written before get it on their next write, null in old rows):
            # the champion's status, "confirmed" or "provisional" (see docs/concepts.md, the gate)
            StructField("model_status", StringType(), True),
            # added in 0.4 (idem): the median of the spend forecast's distribution and the
            # probability of at least one purchase in the horizon; null where the model gives none
            StructField("predicted_ltv_p50", DoubleType(), True),
            StructField("prob_purchase", DoubleType(), True),
            # added in 0.5 (idem): the predictive variance of the horizon's spend (+inf where the
            # model's distribution has no second moment) and the expected spend per period of
            # ceil(horizon_days / 30) equal periods; totals over customers add both up
            StructField("predicted_ltv_variance", DoubleType(), True),
            StructField("predicted_ltv_by_period", ArrayType(DoubleType()), True),
            # added in 0.5 (idem): discounted_ltv x the line's margin_rate; null without one
            StructField("discounted_profit", DoubleType(), True),
        ]
    ),
    partition_by=("business_line", "as_of"),
    key=("business_line", "customer_id", "as_of"),
    properties={"delta.enableChangeDataFeed": "true"},
    description="scores: one row per (business_line, customer_id, as_of)",
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (TRANSACTIONS, QUARANTINE, CUSTOMERS, CUSTOMER_LTV)
}


def register(spec: TableSpec) -> TableSpec:
    """Add a table defined by another module (e.g. features) to the catalogue."""
    TABLES[spec.name] = spec
    return spec


def spec_for(name: str) -> TableSpec:
    """Look a table up by name; unknown names are an error (names reach paths)."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown lake table {name!r}; known: {sorted(TABLES)}") from None
