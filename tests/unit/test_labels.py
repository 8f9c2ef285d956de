"""Labels: window (cutoff, cutoff + horizon], refunds netted, zero for inactive customers."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from ltv.features.labels import attach_labels, compute_labels

CUTOFF = dt.date(2024, 6, 30)
HORIZON = 10  # window: 2024-07-01 .. 2024-07-10, whole days


def make_transactions(spark, rows):
    df = spark.createDataFrame(rows, "business_line string, customer_id string, ts string, amount double")
    return df.select("business_line", "customer_id", F.col("ts").cast("timestamp").alias("event_ts"), "amount")


@pytest.fixture()
def transactions(spark):
    return make_transactions(
        spark,
        [
            ("a", "c1", "2024-06-01 10:00:00", 50.0),
            ("a", "c1", "2024-06-30 23:59:59", 100.0),  # on the cutoff day: a feature, not a label
            ("a", "c1", "2024-07-01 00:00:00", 20.0),  # first instant of the window
            ("a", "c1", "2024-07-01 15:00:00", 5.0),  # same purchase day
            ("a", "c1", "2024-07-05 12:00:00", -8.0),  # refund: netted
            ("a", "c1", "2024-07-10 23:59:59", 7.0),  # last instant of the window
            ("a", "c1", "2024-07-11 00:00:00", 1000.0),  # after the window
            ("a", "c2", "2024-06-10 09:00:00", 30.0),
            ("a", "c2", "2024-07-03 09:00:00", -15.0),  # only a refund in the window
            ("a", "c3", "2024-06-01 09:00:00", 40.0),  # inactive in the window
            ("b", "c1", "2024-07-02 09:00:00", 3.0),  # same customer id, other business line
        ],
    )


def test_compute_labels_window_and_netting(transactions):
    got = {
        (r["business_line"], r["customer_id"]): r.asDict()
        for r in compute_labels(transactions, CUTOFF, HORIZON).collect()
    }
    assert set(got) == {("a", "c1"), ("a", "c2"), ("b", "c1")}  # c3 had no activity
    c1 = got[("a", "c1")]
    assert c1["label_spend"] == pytest.approx(20.0 + 5.0 - 8.0 + 7.0)
    assert c1["label_purchases"] == 2  # 07-01 and 07-10
    assert (c1["cutoff"], c1["horizon_days"]) == (CUTOFF, HORIZON)
    assert got[("a", "c2")]["label_spend"] == pytest.approx(-15.0)
    assert got[("a", "c2")]["label_purchases"] == 0
    assert got[("b", "c1")]["label_spend"] == pytest.approx(3.0)


def test_attach_labels_left_joins_and_zero_fills(spark, transactions):
    features = spark.createDataFrame(
        [("a", "c1", CUTOFF, 1.0), ("a", "c2", CUTOFF, 2.0), ("a", "c3", CUTOFF, 3.0)],
        "business_line string, customer_id string, as_of date, frequency double",
    )
    labelled = attach_labels(features, transactions, HORIZON)
    got = {r["customer_id"]: (r["frequency"], r["horizon_days"], r["label_spend"], r["label_purchases"])
           for r in labelled.collect()}
    assert got == {
        "c1": (1.0, HORIZON, pytest.approx(24.0), 2),
        "c2": (2.0, HORIZON, pytest.approx(-15.0), 0),
        "c3": (3.0, HORIZON, 0.0, 0),
    }


def test_attach_labels_uses_each_rows_own_as_of(spark, transactions):
    later = dt.date(2024, 7, 4)  # window 07-05 .. 07-14
    features = spark.createDataFrame(
        [("a", "c1", CUTOFF), ("a", "c1", later)], "business_line string, customer_id string, as_of date"
    )
    got = {r["as_of"]: (r["label_spend"], r["label_purchases"])
           for r in attach_labels(features, transactions, HORIZON).collect()}
    assert got == {CUTOFF: (pytest.approx(24.0), 2), later: (pytest.approx(-8.0 + 7.0 + 1000.0), 2)}


def test_horizon_must_be_positive(transactions):
    with pytest.raises(ValueError, match="horizon_days"):
        compute_labels(transactions, CUTOFF, 0)
