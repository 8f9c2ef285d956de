"""Behaviour features by hand, point-in-time property, attributes, and the Delta pipeline."""
from __future__ import annotations

import datetime as dt
import math
import shutil

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from ltv.config import FeatureSettings, LTVConfig
from ltv.errors import ConfigError
from ltv.features.behaviour import behaviour_features
from ltv.features.pipeline import (
    build_features,
    build_features_range,
    build_snapshot,
    condense_patterns,
    condense_spend,
    training_examples,
)
from ltv.features.schema import FEATURES_SCHEMA, TABLE_NAME, end_of_day

AS_OF = dt.date(2024, 12, 31)
COMPUTED_AT = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)

ROWS = [
    # c1: 4 purchase days, one refund
    ("a", "c1", "2023-06-01 08:00:00", 50.0),
    ("a", "c1", "2024-10-01 08:00:00", 100.0),  # 91 days before as_of: outside the 90-day window
    ("a", "c1", "2024-12-20 08:00:00", 60.0),
    ("a", "c1", "2024-12-21 08:00:00", -30.0),  # refund
    ("a", "c1", "2024-12-31 23:59:59", 40.0),  # last second of as_of: counts
    # c2: one purchase day; a purchase after as_of
    ("a", "c2", "2024-12-01 12:00:00", 25.5),  # 30 days before as_of: outside the 30-day window
    ("a", "c2", "2025-01-01 00:00:00", 999.0),  # first instant after as_of: ignored
    # c3 (line b): two purchases on one day, another day later
    ("b", "c3", "2024-11-15 09:00:00", 10.0),
    ("b", "c3", "2024-11-15 18:00:00", 15.0),
    ("b", "c3", "2024-11-20 09:00:00", 5.0),
    # c4: only a refund -> no snapshot row
    ("a", "c4", "2024-12-10 09:00:00", -5.0),
]


def make_transactions(spark, rows):
    df = spark.createDataFrame(rows, "business_line string, customer_id string, ts string, amount double")
    return df.select("business_line", "customer_id", F.col("ts").cast("timestamp").alias("event_ts"), "amount")


def lake_transactions(spark, rows):
    """The same rows with every column of the lake's ``transactions`` table."""
    tx = make_transactions(spark, rows)
    return tx.select(
        F.sha2(F.concat_ws("|", "business_line", "customer_id", F.col("event_ts").cast("string"), "amount"), 256)
        .alias("transaction_id"),
        "business_line",
        "customer_id",
        "event_ts",
        F.to_date("event_ts").alias("event_date"),
        "amount",
        F.lit("test").alias("source"),
        F.lit("2025-06-01 00:00:00").cast("timestamp").alias("ingested_at"),
    )


@pytest.fixture()
def transactions(spark):
    return make_transactions(spark, ROWS)


def test_behaviour_features_by_hand(transactions):
    got = {r["customer_id"]: r.asDict() for r in behaviour_features(transactions, AS_OF, [30, 90, 365]).collect()}
    assert set(got) == {"c1", "c2", "c3"}

    c1 = got["c1"]
    assert (c1["first_purchase_date"], c1["last_purchase_date"]) == (dt.date(2023, 6, 1), dt.date(2024, 12, 31))
    assert (c1["tenure_days"], c1["days_since_last_purchase"], c1["purchase_days_total"]) == (579, 0, 4)
    assert (c1["gross_spend_total"], c1["refund_total"], c1["net_spend_total"]) == (250.0, 30.0, 220.0)
    assert c1["refund_share"] == pytest.approx(0.12)
    assert c1["mean_interpurchase_days"] == pytest.approx(579 / 3)
    assert c1["last_interpurchase_days"] == 11.0
    assert (c1["spend_30d"], c1["purchase_days_30d"]) == (100.0, 2)
    assert (c1["spend_90d"], c1["purchase_days_90d"]) == (100.0, 2)  # 2024-10-01 is 91 days back
    assert (c1["spend_365d"], c1["purchase_days_365d"]) == (200.0, 3)
    assert c1["spend_trend_90d"] == pytest.approx(0.0)  # 100 in the last 90 days, 100 in the 90 before

    c2 = got["c2"]
    assert (c2["tenure_days"], c2["days_since_last_purchase"], c2["purchase_days_total"]) == (30, 30, 1)
    assert (c2["gross_spend_total"], c2["refund_total"], c2["refund_share"]) == (25.5, 0.0, 0.0)
    assert c2["mean_interpurchase_days"] is None and c2["last_interpurchase_days"] is None
    assert (c2["spend_30d"], c2["purchase_days_30d"]) == (0.0, 0)
    assert (c2["spend_90d"], c2["spend_365d"]) == (25.5, 25.5)
    assert c2["spend_trend_90d"] == pytest.approx(math.log1p(25.5))

    c3 = got["c3"]
    assert c3["business_line"] == "b"
    assert (c3["tenure_days"], c3["days_since_last_purchase"], c3["purchase_days_total"]) == (46, 41, 2)
    assert c3["gross_spend_total"] == 30.0
    assert (c3["mean_interpurchase_days"], c3["last_interpurchase_days"]) == (5.0, 5.0)
    assert (c3["spend_30d"], c3["spend_90d"], c3["purchase_days_90d"]) == (0.0, 30.0, 2)


def test_snapshot_ignores_everything_after_as_of(spark, transactions):
    later = make_transactions(
        spark,
        [
            ("a", "c1", "2025-01-01 00:00:00", 70.0),
            ("a", "c1", "2025-02-01 00:00:00", -40.0),
            ("a", "c3", "2025-01-05 10:00:00", 12.0),  # c3 in another line
            ("a", "new", "2025-01-01 00:00:01", 15.0),
            ("b", "c3", "2026-01-01 00:00:00", 1.0),
        ],
    )
    for unit in ("days", "weeks"):
        settings = FeatureSettings(time_unit=unit)
        before = build_snapshot(transactions, AS_OF, settings, computed_at=COMPUTED_AT)
        after = build_snapshot(transactions.unionByName(later), AS_OF, settings, computed_at=COMPUTED_AT)
        assert before.count() == 3
        assertDataFrameEqual(after, before)


def test_snapshot_columns_and_feast_keys(transactions):
    snapshot = build_snapshot(transactions, AS_OF, FeatureSettings(), computed_at=COMPUTED_AT)
    fixed = [f.name for f in FEATURES_SCHEMA.fields]
    assert snapshot.columns[: len(fixed)] == fixed
    assert snapshot.columns[len(fixed):] == [
        "spend_30d", "purchase_days_30d", "spend_90d", "purchase_days_90d", "spend_365d", "purchase_days_365d"
    ]
    row = snapshot.where("customer_id = 'c1'").select(
        "*", F.date_format("event_timestamp", "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("event_ts_utc")
    ).first()
    assert row["entity_key"] == "a:c1"
    assert row["event_ts_utc"] == end_of_day(AS_OF).strftime("%Y-%m-%d %H:%M:%S.%f") == "2024-12-31 23:59:59.999999"
    assert row["as_of"] == AS_OF and row["time_unit"] == "days"
    assert (row["frequency"], row["recency"], row["T"], row["monetary_value"]) == (3.0, 579.0, 579.0, 200 / 3)


# -- lake pipeline ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source_lake(spark, tmp_path_factory):
    """transactions + customers written once per module; each test gets a copy (Delta tables are folders)."""
    from ltv.lake.io import Lake

    lake = Lake(spark, tmp_path_factory.mktemp("source") / "lake")
    lake.merge_insert_new("transactions", lake_transactions(spark, ROWS))
    customers = spark.createDataFrame(
        [
            # ingested long after as_of, no valid_from: static attributes, true at every as_of
            ("a", "c1", "2026-01-01 00:00:00", None, "web", 34, "2023-05-01"),
            ("a", "c2", "2025-03-01 00:00:00", "2025-03-01 00:00:00", "store", 51, "2024-11-01"),  # valid after as_of
            ("b", "c3", "2025-01-05 00:00:00", "2024-12-31 23:00:00", None, None, "2024-11-10"),  # valid on as_of
        ],
        "business_line string, customer_id string, updated_at string, valid_from string, channel string, age int, "
        "signup string",
    ).select(
        "business_line", "customer_id", F.col("updated_at").cast("timestamp").alias("updated_at"),
        F.col("valid_from").cast("timestamp").alias("valid_from"),
        "channel", "age", F.col("signup").cast("date").alias("signup_date"),
    )
    lake.upsert("customers", customers)
    return lake


@pytest.fixture()
def filled_lake(source_lake, lake):
    shutil.copytree(source_lake.root, lake.root)
    return lake


def snapshot_rows(lake, as_of):
    return lake.read(TABLE_NAME).where(F.col("as_of") == F.lit(as_of))


def test_build_features_is_idempotent_and_keeps_other_dates(spark, filled_lake):
    config = LTVConfig()
    first = build_features(spark, filled_lake, config, AS_OF)
    assert first.rows == {"a": 2, "b": 1} and first.version is not None
    second = build_features(spark, filled_lake, config, AS_OF)
    assert second.rows == first.rows and second.version > first.version
    assert snapshot_rows(filled_lake, AS_OF).count() == 3  # one copy

    earlier = dt.date(2024, 11, 30)
    build_features(spark, filled_lake, config, earlier)
    table = filled_lake.read(TABLE_NAME)
    assert {r["as_of"]: r["count"] for r in table.groupBy("as_of").count().collect()} == {AS_OF: 3, earlier: 2}
    assert table.where("customer_id = 'c2' AND as_of = DATE'2024-11-30'").count() == 0  # first buys 12-01


def test_build_features_business_line_filter(spark, filled_lake):
    config = LTVConfig()
    build_features(spark, filled_lake, config, AS_OF, ["a"])
    assert {r["business_line"] for r in filled_lake.read(TABLE_NAME).select("business_line").distinct().collect()} == {"a"}
    result = build_features(spark, filled_lake, config, AS_OF, ["b"])
    assert result.rows == {"b": 1}
    assert snapshot_rows(filled_lake, AS_OF).count() == 3  # line a untouched
    with pytest.raises(ConfigError, match="business line"):
        build_features(spark, filled_lake, config, AS_OF, ["a' OR '1'='1"])


def test_attributes_are_joined_point_in_time(spark, filled_lake):
    build_features(spark, filled_lake, LTVConfig(), AS_OF)
    got = {r["customer_id"]: r for r in snapshot_rows(filled_lake, AS_OF).collect()}
    assert (got["c1"]["attr_channel"], got["c1"]["attr_age"]) == ("web", 34.0)
    assert got["c1"]["attr_signup_date_days"] == float((AS_OF - dt.date(2023, 5, 1)).days)
    assert (got["c2"]["attr_channel"], got["c2"]["attr_age"], got["c2"]["attr_signup_date_days"]) == (None, None, None)
    assert (got["c3"]["attr_channel"], got["c3"]["attr_age"]) == (None, None)
    assert got["c3"]["attr_signup_date_days"] == 51.0

    retyped = LTVConfig.model_validate({"features": {"attributes": {"age": "categorical", "signup_date": "numeric"}}})
    with pytest.raises(ConfigError, match="attr_age"):  # stored as double: refuse before writing
        build_features(spark, filled_lake, retyped, AS_OF)
    snapshot = build_snapshot(
        filled_lake.read("transactions"), AS_OF, retyped.features, filled_lake.read("customers"), COMPUTED_AT
    )
    assert [c for c in snapshot.columns if c.startswith("attr_")] == ["attr_age", "attr_signup_date_days"]
    row = snapshot.where("customer_id = 'c1'").first()
    assert (row["attr_age"], row["attr_signup_date_days"]) == ("34", 610.0)

    bad = LTVConfig.model_validate({"features": {"attributes": {"colour": "categorical"}}})
    with pytest.raises(ConfigError, match="colour"):
        build_features(spark, filled_lake, bad, AS_OF)


def test_condense_and_training_examples(spark, filled_lake):
    config = LTVConfig()
    build_features(spark, filled_lake, config, AS_OF)
    features = snapshot_rows(filled_lake, AS_OF).where("business_line = 'a'")
    patterns = condense_patterns(features)
    assert patterns.to_dict("records") == [
        {"frequency": 0.0, "recency": 0.0, "T": 30.0, "weight": 1},
        {"frequency": 3.0, "recency": 579.0, "T": 579.0, "weight": 1},
    ]
    assert condense_spend(features).to_dict("records") == [{"frequency": 3.0, "monetary_value": 66.67, "weight": 1}]

    examples = training_examples(spark, filled_lake, config, "a", AS_OF, 31)  # stored snapshot
    got = {r["customer_id"]: (r["label_spend"], r["label_purchases"]) for r in examples.collect()}
    assert got == {"c1": (0.0, 0), "c2": (999.0, 1)}
    in_memory = training_examples(spark, filled_lake, config, "a", dt.date(2024, 12, 15), 30)
    got = {r["customer_id"]: (r["label_spend"], r["label_purchases"]) for r in in_memory.collect()}
    assert got == {"c1": (60.0 - 30.0 + 40.0, 2), "c2": (999.0, 1)}  # window 12-16 .. 01-14


def test_build_features_range(spark, filled_lake):
    results = build_features_range(
        spark, filled_lake, LTVConfig(), dt.date(2024, 11, 20), dt.date(2024, 12, 31), step_days=40
    )
    assert [r.as_of for r in results] == [dt.date(2024, 11, 20), dt.date(2024, 12, 30)]
    assert [r.rows for r in results] == [{"a": 1, "b": 1}, {"a": 2, "b": 1}]
    with pytest.raises(ConfigError):
        build_features_range(spark, filled_lake, LTVConfig(), AS_OF, AS_OF, step_days=0)
