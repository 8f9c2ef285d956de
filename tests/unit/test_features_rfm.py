"""RFM (BTYD summary) equals lifetimes' summary_data_from_transaction_data, and is point-in-time."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from ltv.features.rfm import event_period, period_index, period_index_of, rfm_summary
from ltv.features.schema import event_day

CDNOW = Path(__import__("lifetimes").__file__).parent / "datasets" / "CDNOW_master.txt"


def make_transactions(spark, rows):
    """rows: (business_line, customer_id, 'YYYY-MM-DD HH:MM:SS', amount) -> transactions-like DataFrame."""
    df = spark.createDataFrame(rows, "business_line string, customer_id string, ts string, amount double")
    return df.select("business_line", "customer_id", F.col("ts").cast("timestamp").alias("event_ts"), "amount")


def rfm_by_customer(df) -> dict[str, tuple[float, float, float, float]]:
    return {
        r["customer_id"]: (r["frequency"], r["recency"], r["T"], r["monetary_value"])
        for r in df.collect()
    }


@pytest.fixture(scope="module")
def cdnow_pandas() -> pd.DataFrame:
    raw = pd.read_csv(
        CDNOW, sep=r"\s+", header=0, names=["customer_id", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    raw["datetime"] = pd.to_datetime(raw["date"], format="%Y%m%d")  # midnight
    return raw


@pytest.fixture(scope="module")
def cdnow_spark(spark):
    lines = spark.read.text(str(CDNOW)).where(~F.col("value").contains("customer_id"))
    fields = F.split(F.trim(F.col("value")), r"\s+")
    df = lines.select(
        F.lit("cdnow").alias("business_line"),
        fields[0].alias("customer_id"),
        F.to_timestamp(fields[1], "yyyyMMdd").alias("event_ts"),
        fields[3].cast("double").alias("amount"),
    ).cache()
    assert df.count() == 69_659
    yield df
    df.unpersist()


@pytest.mark.parametrize("freq,time_unit", [("D", "days"), ("W", "weeks")])
@pytest.mark.parametrize("as_of", [dt.date(1997, 9, 30), dt.date(1998, 6, 30)])
def test_rfm_equals_lifetimes_on_full_cdnow(cdnow_pandas, cdnow_spark, freq, time_unit, as_of):
    from lifetimes.utils import summary_data_from_transaction_data

    # lifetimes keeps rows after the observation end that share its week (freq='W'): give it only
    # what was known at as_of, as our point-in-time transform sees it.
    known = cdnow_pandas[cdnow_pandas["datetime"] <= pd.Timestamp(as_of)]
    expected = summary_data_from_transaction_data(
        known, "customer_id", "datetime", monetary_value_col="amount",
        observation_period_end=pd.Timestamp(as_of), freq=freq,
    ).sort_index()
    if as_of == dt.date(1998, 6, 30):
        assert len(expected) == 23_570

    actual = rfm_summary(cdnow_spark, as_of, time_unit).toPandas().set_index("customer_id").sort_index()

    assert list(actual.index) == list(expected.index)  # every customer, no extra one
    assert (actual["time_unit"] == time_unit).all()
    for col in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(actual[col].to_numpy(), expected[col].to_numpy(), err_msg=col)
    np.testing.assert_allclose(
        actual["monetary_value"].to_numpy(), expected["monetary_value"].to_numpy(), rtol=1e-9, atol=0
    )


def test_week_periods_end_on_sunday():
    # 2024-01-07 is a Sunday, 2024-01-08 a Monday; pandas W = W-SUN
    sunday, monday = dt.date(2024, 1, 7), dt.date(2024, 1, 8)
    assert period_index_of(sunday, "weeks") == period_index_of(sunday - dt.timedelta(days=6), "weeks")
    assert period_index_of(monday, "weeks") == period_index_of(sunday, "weeks") + 1
    for day in pd.date_range("1969-12-01", "1970-02-01").date.tolist() + [sunday, monday]:
        ours = period_index_of(day, "weeks")
        theirs = pd.Period(day, freq="W").ordinal
        assert ours - period_index_of(dt.date(1970, 1, 1), "weeks") == theirs - pd.Period("1970-01-01", freq="W").ordinal


def test_event_period_is_the_utc_day_of_the_instant(spark):
    # the arithmetic period (epoch microseconds) against the date cast it replaces, and the
    # Python twin, at day and week edges, before the epoch and far from it
    stamps = [
        "1969-12-31 23:59:59.999999", "1970-01-01 00:00:00", "1969-12-28 00:00:00", "1960-02-29 12:00:00",
        "2024-01-07 23:59:59.999999", "2024-01-08 00:00:00", "2024-12-31 23:59:59.999999", "2199-06-30 00:00:01",
        "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999",
    ]
    df = spark.createDataFrame([(s,) for s in stamps], "ts string").select(F.col("ts").cast("timestamp").alias("event_ts"))
    for unit in ("days", "weeks"):
        rows = df.select(
            F.col("event_ts").cast("string").alias("ts"),
            event_period(unit).alias("ours"),
            period_index(event_day(), unit).alias("by_date"),
        ).collect()
        assert len(rows) == len(stamps)
        for row in rows:
            day = dt.date.fromisoformat(row["ts"][:10])
            assert row["ours"] == row["by_date"] == period_index_of(day, unit), (unit, row)


def test_event_period_does_not_depend_on_the_session_time_zone(spark):
    instant = dt.datetime(2024, 3, 10, 23, 30, tzinfo=dt.timezone.utc)  # 2024-03-11 05:00 in Kolkata
    micros = int(instant.timestamp()) * 1_000_000
    df = spark.range(1).select(F.timestamp_micros(F.lit(micros)).alias("event_ts"))
    spark.conf.set("spark.sql.session.timeZone", "Asia/Kolkata")
    try:
        row = df.select(event_period("days").alias("ours"), period_index(event_day(), "days").alias("by_date")).first()
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert row["ours"] == period_index_of(dt.date(2024, 3, 10), "days")
    assert row["by_date"] == row["ours"] + 1  # the date cast follows the session zone


def test_weeks_merge_purchases_of_the_same_week(spark):
    tx = make_transactions(
        spark,
        [
            ("a", "c1", "2024-01-01 10:00:00", 10.0),  # Monday, week 0
            ("a", "c1", "2024-01-08 10:00:00", 5.0),  # Monday, week 1
            ("a", "c1", "2024-01-14 23:00:00", 7.0),  # Sunday, still week 1
            ("a", "c1", "2024-01-15 01:00:00", 4.0),  # Monday, week 2
        ],
    )
    got = rfm_by_customer(rfm_summary(tx, dt.date(2024, 1, 21), "weeks"))  # Sunday of week 2
    assert got == {"c1": (2.0, 2.0, 2.0, (12.0 + 4.0) / 2)}


def test_refunds_create_no_period_and_stay_out_of_monetary_value(spark):
    tx = make_transactions(
        spark,
        [
            ("a", "c1", "2024-01-01 10:00:00", 10.0),
            ("a", "c1", "2024-01-03 10:00:00", 20.0),
            ("a", "c1", "2024-01-03 12:00:00", -5.0),  # refund on a purchase day
            ("a", "c1", "2024-01-05 10:00:00", -10.0),  # refund on its own day: no period
            ("a", "c2", "2024-01-02 10:00:00", 8.0),
        ],
    )
    got = rfm_by_customer(rfm_summary(tx, dt.date(2024, 1, 10), "days"))
    assert got == {"c1": (1.0, 2.0, 9.0, 20.0), "c2": (0.0, 0.0, 8.0, 0.0)}


def test_as_of_means_end_of_that_day(spark):
    tx = make_transactions(
        spark,
        [
            ("a", "c1", "2024-03-01 09:00:00", 10.0),
            ("a", "c1", "2024-03-10 23:59:59", 30.0),  # on as_of: counts
            ("a", "c1", "2024-03-11 00:00:00", 99.0),  # next day: does not
            ("a", "c2", "2024-03-11 00:00:00", 50.0),  # first purchase after as_of: no row
        ],
    )
    got = rfm_by_customer(rfm_summary(tx, dt.date(2024, 3, 10), "days"))
    assert got == {"c1": (1.0, 9.0, 9.0, 30.0)}
