"""ltv's Spark extension: a Partial/Final pair of hash aggregations over clustered rows runs as one.

Every test compares the rule on and off (``spark.ltv.collapsePartialAggregates.enabled``) in the
real session: same rows, and the plan really changed (or, where the rule must not apply, did not).
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from ltv import sparkext
from ltv.spark import restored_conf


@contextmanager
def sql_conf(spark, **settings):
    with restored_conf(spark, settings):
        for key, value in settings.items():
            spark.conf.set(key, value)
        yield


def run(spark, build, collapse: bool, **settings):
    """Rows (sorted) and the executed plan of ``build()`` with the rule on or off."""
    with sql_conf(spark, **{sparkext.COLLAPSE_CONF: str(collapse).lower()}, **settings):
        df = build()
        rows = sorted(df.collect(), key=lambda row: tuple((v is None, str(v)) for v in row))
        plan = df._jdf.queryExecution().executedPlan().toString()
    return rows, plan.split("== Initial Plan ==")[0]  # with AQE: the plan that ran


def hash_aggregates(plan: str) -> int:
    # "HashAggregateWithControlledFallback" is how the node prints with testFallbackStartsAt set
    return len(re.findall(r"\bHashAggregate(?:\(|WithControlledFallback )", plan))


def normalized(plan: str) -> str:
    return re.sub(r"(#|plan_id=)\d+", r"\1", plan)


@pytest.fixture(scope="module")
def orders(spark):
    rng = random.Random(7)
    rows = []
    for i in range(3000):
        customer = None if i % 97 == 0 else f"c{rng.randrange(400)}"
        line = rng.choice(["grocery", "fashion", None])
        amount = None if i % 53 == 0 else round(rng.uniform(-20, 200), 2)
        rows.append((line, customer, dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(60)), amount))
    return spark.createDataFrame(rows, "line string, customer string, day date, amount double")


def per_customer(df):
    return df.groupBy("line", "customer").agg(
        F.sum("amount").alias("spend"),
        F.count(F.lit(1)).alias("rows"),
        F.count("amount").alias("amounts"),
        F.min("day").alias("first_day"),
        F.max("amount").alias("top"),
        F.avg("amount").alias("mean"),
        F.min_by("amount", "day").alias("first_amount"),
    )


def test_sessions_load_the_extension(spark):
    assert sparkext.EXTENSION_CLASS in spark.conf.get("spark.sql.extensions")
    jars = spark.sparkContext.getConf().get("spark.jars")
    assert str(sparkext.jar_path()) in jars.split(",")


def test_an_aggregation_after_a_repartition_on_its_keys_runs_once(spark, orders):
    def build():
        return per_customer(orders.repartition(3, "line", "customer"))

    on_rows, on_plan = run(spark, build, collapse=True)
    off_rows, off_plan = run(spark, build, collapse=False)
    assert hash_aggregates(off_plan) == 2 and "partial_sum" in off_plan
    assert hash_aggregates(on_plan) == 1 and "partial_" not in on_plan, on_plan
    assert on_rows == off_rows
    assert len(on_rows) > 400  # customers x lines, nulls included


def test_the_rfm_summary_aggregates_each_level_once(spark):
    from ltv.features.rfm import rfm_summary

    rng = random.Random(3)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
    tx = spark.createDataFrame(
        [("grocery", f"c{rng.randrange(60)}", start + dt.timedelta(hours=rng.randrange(24 * 400)),
          round(rng.uniform(-5, 80), 2)) for _ in range(2000)],
        "business_line string, customer_id string, event_ts timestamp, amount double",
    )
    on_rows, on_plan = run(spark, lambda: rfm_summary(tx, dt.date(2023, 12, 31), "weeks"), collapse=True)
    off_rows, off_plan = run(spark, lambda: rfm_summary(tx, dt.date(2023, 12, 31), "weeks"), collapse=False)
    assert (hash_aggregates(on_plan), hash_aggregates(off_plan)) == (2, 4)
    assert on_rows == off_rows


def test_an_aggregation_with_a_shuffle_between_its_halves_is_left_alone(spark, orders):
    _, plan = run(spark, lambda: per_customer(orders), collapse=True)
    assert hash_aggregates(plan) == 2 and "partial_sum" in plan and "Exchange hashpartitioning" in plan


@pytest.mark.parametrize(
    "aggregate",
    [
        lambda: F.count_distinct("amount").alias("distinct_amounts"),
        lambda: F.expr("sum(amount) FILTER (WHERE amount > 0)").alias("gross"),
    ],
    ids=["distinct", "filter"],
)
def test_distinct_and_filtered_aggregates_are_left_alone(spark, orders, aggregate):
    def build():
        return orders.repartition(3, "customer").groupBy("customer").agg(aggregate(), F.sum("amount"))

    on_rows, on_plan = run(spark, build, collapse=True)
    off_rows, off_plan = run(spark, build, collapse=False)
    assert normalized(on_plan) == normalized(off_plan) and "partial_" in on_plan
    assert on_rows == off_rows


@pytest.mark.parametrize("empty", [False, True])
def test_a_global_aggregate_over_one_partition(spark, orders, empty):
    def build():
        source = orders.where(F.col("amount") > (1e9 if empty else -1e9)).coalesce(1)
        return source.agg(F.sum("amount").alias("spend"), F.count(F.lit(1)).alias("rows"))

    on_rows, on_plan = run(spark, build, collapse=True)
    off_rows, _ = run(spark, build, collapse=False)
    assert hash_aggregates(on_plan) == 1, on_plan
    assert on_rows == off_rows
    assert (on_rows[0]["spend"] is None, on_rows[0]["rows"] == 0) == (empty, empty)


@pytest.mark.parametrize(
    "settings",
    [
        {"spark.sql.adaptive.enabled": "false"},
        {"spark.sql.codegen.wholeStage": "false"},
        # the hash map spills every 200 keys and merges sorted runs (as when memory runs out)
        {"spark.sql.TungstenAggregate.testFallbackStartsAt": "100, 200"},
    ],
    ids=["without-aqe", "interpreted", "sort-fallback"],
)
def test_same_rows_on_every_execution_path(spark, orders, settings):
    def build():
        days = orders.repartition(4, "customer").groupBy("customer", "day").agg(F.sum("amount").alias("day_spend"))
        return days.groupBy("customer").agg(
            F.count(F.lit(1)).alias("days"), F.sum("day_spend").alias("spend"), F.min_by("day_spend", "day")
        )

    on_rows, on_plan = run(spark, build, collapse=True, **settings)
    off_rows, off_plan = run(spark, build, collapse=False, **settings)
    assert (hash_aggregates(on_plan), hash_aggregates(off_plan)) == (2, 4), on_plan
    assert on_rows == off_rows


def test_switched_off_by_the_environment(monkeypatch, tmp_path):
    from ltv.jars import driver_jars

    monkeypatch.setenv(sparkext.DIR_VARIABLE, str(tmp_path))
    monkeypatch.setenv(sparkext.SWITCH, "0")
    assert sparkext.extension_jar() is None
    assert not any(sparkext.JAR_PREFIX in jar for jar in driver_jars(fetch=False))


def test_the_jar_is_built_once_and_named_after_its_sources(monkeypatch, tmp_path):
    monkeypatch.setenv(sparkext.DIR_VARIABLE, str(tmp_path))
    jar = sparkext.build()
    assert jar is not None and jar.parent == tmp_path
    import zipfile

    names = set(zipfile.ZipFile(jar).namelist())
    assert {"ltv/spark/LtvSparkExtensions.class", "ltv/spark/CollapsePartialAggregates.class"} <= names
    built = jar.stat().st_mtime_ns
    assert sparkext.extension_jar() == jar and jar.stat().st_mtime_ns == built  # not rebuilt
    sources = sparkext._sources()
    monkeypatch.setattr(sparkext, "_sources", lambda: [(n, t + b"\n// changed\n") for n, t in sources])
    assert sparkext.jar_path() != jar


def test_without_a_compiler_there_is_no_jar_and_no_error(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv(sparkext.DIR_VARIABLE, str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sparkext, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="ltv.sparkext"):
        assert sparkext.extension_jar() is None
    assert "no `javac`" in caplog.text
    assert not list(Path(tmp_path).glob("*.jar"))
