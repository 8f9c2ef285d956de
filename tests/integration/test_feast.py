"""Feast on real Spark + Delta in a temp lake: point-in-time retrieval, materialize + lookup, feast CLI.

The lake is written once per module with hand-made snapshot rows (values derived from one number
per row, so every (customer, as_of) is distinguishable), three month-end snapshots, two lines.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ltv.cli import main
from ltv.features.schema import TABLE_NAME as FEATURES_TABLE
from ltv.serving.definitions import FEATURE_FIELDS, SCORE_FIELDS, window_fields
from tests.conftest import INTERPRETED

AS_OFS = ("2024-01-31", "2024-02-29", "2024-03-31")
# (business_line, customer_id, as_of, base): c3 stops after February, c4 starts in March.
SNAPSHOTS = [
    (line, cid, as_of, float(10 * i + j + (100 if line == "web" else 0)))
    for line in ("retail", "web")
    for i, cid in enumerate(("c1", "c2", "c3", "c4"))
    for j, as_of in enumerate(AS_OFS)
    if not (cid == "c3" and as_of == "2024-03-31") and not (cid == "c4" and as_of != "2024-03-31")
]
# scores for February only, and not for c2
SCORES = [(line, cid, as_of, base) for line, cid, as_of, base in SNAPSHOTS if as_of == "2024-02-29" and cid != "c2"]
FEATURE_NAMES = [n for n, _ in FEATURE_FIELDS] + [f.name for f in window_fields((30, 90, 365))]
SCORE_NAMES = [n for n, _ in SCORE_FIELDS]

# (entity_key, cutoff): at the end of an as_of day, 1 µs before it, between snapshots, before the
# first, after the last, a customer who stopped, one who started later, an unknown customer. The
# latest cutoff is exactly the newest snapshot's timestamp, so a time range Feast computed in the
# wrong zone (too early by the zone's offset west of UTC) would drop the March snapshots.
CUTOFFS = [
    ("retail:c1", "2024-01-31 23:59:59.999999"),
    ("retail:c1", "2024-01-31 23:59:59.999998"),
    ("retail:c1", "2024-02-15 08:00:00"),
    ("retail:c1", "2024-02-29 23:59:59.999999"),
    ("retail:c1", "2024-03-01 00:00:00"),
    ("retail:c1", "2024-03-31 23:59:59.999999"),
    ("retail:c2", "2024-01-15 00:00:00"),
    ("retail:c3", "2024-03-31 12:00:00"),
    ("retail:c4", "2024-03-31 23:59:59.999998"),
    ("retail:c4", "2024-03-31 23:59:59.999999"),
    ("web:c1", "2024-02-29 23:59:59.999999"),
    ("web:c2", "2024-03-31 23:59:59.999999"),
    ("retail:nobody", "2024-03-31 23:59:59.999999"),
]


def snapshot_frame(spark) -> DataFrame:
    """customer_features rows for SNAPSHOTS, every column a function of ``base``."""
    df = spark.createDataFrame(SNAPSHOTS, "business_line string, customer_id string, as_of_s string, base double")
    base = F.col("base")
    cols = {
        "as_of": F.to_date("as_of_s"),
        "entity_key": F.concat_ws(":", "business_line", "customer_id"),
        "event_timestamp": F.to_timestamp(F.concat("as_of_s", F.lit(" 23:59:59.999999"))),
        "time_unit": F.lit("days"),
        "frequency": base,
        "recency": base * 2,
        "T": base * 3,
        "monetary_value": base * 10 + 0.25,
        "first_purchase_date": F.to_date(F.lit("2023-06-01")),
        "last_purchase_date": F.to_date("as_of_s"),
        "tenure_days": (base * 4).cast("int"),
        "days_since_last_purchase": (base + 1).cast("int"),
        "purchase_days_total": (base + 2).cast("long"),
        "gross_spend_total": base * 11,
        "refund_total": -base,
        "net_spend_total": base * 10,
        "refund_share": base / 1000,
        "mean_interpurchase_days": F.when(base % 2 == 0, None).otherwise(base * 1.5),
        "last_interpurchase_days": base * 1.25,
        "spend_trend_90d": base / 7,
        "computed_at": F.to_timestamp(F.lit("2024-04-01 00:00:00")),
    }
    for n, days in enumerate((30, 90, 365)):
        cols[f"spend_{days}d"] = base * (n + 1) + 0.5
        cols[f"purchase_days_{days}d"] = (base + n).cast("long")
    return df.select("business_line", "customer_id", *[v.alias(k) for k, v in cols.items()])


def scores_frame(spark) -> DataFrame:
    df = spark.createDataFrame(SCORES, "business_line string, customer_id string, as_of_s string, base double")
    base = F.col("base")
    return df.select(
        "business_line",
        "customer_id",
        F.to_date("as_of_s").alias("as_of"),
        F.lit(365).alias("horizon_days"),
        (base * 100).alias("predicted_ltv"),
        (base * 50).alias("predicted_ltv_p10"),
        (base * 150).alias("predicted_ltv_p90"),
        (base / 3).alias("predicted_purchases"),
        F.lit(0.75).alias("p_alive"),
        F.lit(None).cast("double").alias("discounted_ltv"),
        F.lit("bgnbd").alias("model_name"),
        F.lit("v7").alias("model_version"),
        F.lit(1).cast("long").alias("features_version"),
        F.to_timestamp(F.lit("2024-03-01 06:00:00")).alias("scored_at"),
        F.concat_ws(":", "business_line", "customer_id").alias("entity_key"),
        F.to_timestamp(F.concat("as_of_s", F.lit(" 23:59:59.999999"))).alias("event_timestamp"),
        F.lit("confirmed").alias("model_status"),
        (base * 90).alias("predicted_ltv_p50"),
        F.lit(0.6).alias("prob_purchase"),
        (base * 400).alias("predicted_ltv_variance"),
        F.array(base * 60, base * 40).alias("predicted_ltv_by_period"),
        F.lit(None).cast("double").alias("discounted_profit"),
    )


def entity_frame(spark) -> DataFrame:
    return spark.createDataFrame(CUTOFFS, "entity_key string, ts string").select(
        "entity_key", F.to_timestamp("ts").alias("event_timestamp")
    )


def epoch_micros(text: str) -> int:
    """``YYYY-MM-DD HH:MM:SS[.ffffff]`` read as UTC -> epoch microseconds."""
    stamp = dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)
    return (stamp - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def keyed(df: DataFrame, names: list[str]) -> dict[tuple[str, int], tuple]:
    """{(entity_key, cutoff in epoch µs): feature values}; µs so no local time zone is involved."""
    rows = df.select("entity_key", F.unix_micros("event_timestamp").alias("us"), *names).collect()
    return {(r["entity_key"], r["us"]): tuple(r[n] for n in names) for r in rows}


def as_of_join(features: DataFrame, entities: DataFrame) -> DataFrame:
    """Reference: for each entity row, the snapshot with the largest event_timestamp <= its cutoff."""
    f = features.select(*[F.col(c).alias(f"f_{c}") for c in ["entity_key", "event_timestamp", *FEATURE_NAMES]])
    joined = entities.join(
        f, (F.col("entity_key") == F.col("f_entity_key")) & (F.col("f_event_timestamp") <= F.col("event_timestamp")), "left"
    )
    rank = F.row_number().over(Window.partitionBy("entity_key", "event_timestamp").orderBy(F.col("f_event_timestamp").desc()))
    return joined.withColumn("rk", rank).where("rk = 1").select(
        "entity_key", "event_timestamp", *[F.col(f"f_{n}").alias(n) for n in FEATURE_NAMES]
    )


@pytest.fixture(scope="module")
def feast_lake(spark, tmp_path_factory):
    """A lake with customer_features (3 snapshots) and customer_ltv, Feast applied, materialized."""
    from ltv.lake.io import Lake

    root = tmp_path_factory.mktemp("feast") / "lake"
    lake = Lake(spark, root)
    lake.replace_where(FEATURES_TABLE, snapshot_frame(spark), "as_of >= DATE'2000-01-01'")
    lake.replace_where("customer_ltv", scores_frame(spark), "as_of >= DATE'2000-01-01'")
    return lake


@pytest.fixture(scope="module")
def store(feast_lake, spark):
    from ltv.serving.store import feature_store

    return feature_store(feast_lake.root, spark)


def test_historical_retrieval_is_point_in_time(store, spark, feast_lake, zone_run):
    from ltv.serving.historical import historical_features

    entities = entity_frame(spark)
    got = keyed(historical_features(store, spark, entities), FEATURE_NAMES)
    want = keyed(as_of_join(feast_lake.read(FEATURES_TABLE), entities), FEATURE_NAMES)
    assert len(got) == len(CUTOFFS)
    assert got == want
    # spot checks against the hand-made values (frequency == base == 10*i + j [+100 for web])
    freq = FEATURE_NAMES.index("frequency")
    by_cut = {(k, ts): got[(k, epoch_micros(ts))][freq] for k, ts in CUTOFFS}
    assert by_cut[("retail:c1", "2024-01-31 23:59:59.999999")] == 0.0  # the as_of day is over: its snapshot
    assert by_cut[("retail:c1", "2024-01-31 23:59:59.999998")] is None  # 1 µs before: nothing yet
    assert by_cut[("retail:c1", "2024-02-15 08:00:00")] == 0.0  # between: the earlier one
    assert by_cut[("retail:c1", "2024-03-01 00:00:00")] == 1.0
    assert by_cut[("retail:c3", "2024-03-31 12:00:00")] == 21.0  # stopped after February
    assert by_cut[("retail:c4", "2024-03-31 23:59:59.999998")] is None
    assert by_cut[("retail:c4", "2024-03-31 23:59:59.999999")] == 32.0
    assert by_cut[("web:c2", "2024-03-31 23:59:59.999999")] == 112.0
    assert by_cut[("retail:nobody", "2024-03-31 23:59:59.999999")] is None


ZONE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from pyspark.sql import functions as F
    from ltv.config import SparkSettings
    from ltv.runtime.session import get_spark

    lake_root, registry_copy, cutoffs_json, out = sys.argv[1:5]
    INTERPRETED = INTERPRETED_CONF
    java_zone = "-Duser.timezone=" + os.environ["TZ"]
    spark = get_spark(SparkSettings(master="local[1]", shuffle_partitions=1, driver_memory="1g"),
                      extra_conf={"spark.driver.extraJavaOptions": java_zone, "spark.executor.extraJavaOptions": java_zone,
                                  **INTERPRETED})  # as the session's (tests/conftest.py): this child tests time zones
    from feast import FeatureStore
    from feast.repo_config import RepoConfig
    from ltv.serving.historical import historical_features
    from ltv.serving.store import raw_config

    raw = raw_config(lake_root)
    raw["registry"]["path"] = registry_copy  # the parent process may write the registry meanwhile
    store = FeatureStore(repo_path=os.path.dirname(registry_copy), config=RepoConfig(**raw))
    names = [f.name for f in store.get_feature_service("ltv_training").feature_view_projections[0].features
             if f.name != "features_as_of"]  # a date here; the reference join compares the Delta columns
    entities = spark.createDataFrame(json.loads(cutoffs_json), "entity_key string, ts string").select(
        "entity_key", F.to_timestamp("ts").alias("event_timestamp"))
    results = {"jvm_zone": spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID()}
    for zone in (os.environ["TZ"], "America/Los_Angeles"):  # Python's local zone east, then west of UTC
        os.environ["TZ"] = zone
        time.tzset()
        df = historical_features(store, spark, entities)
        rows = df.select("entity_key", F.unix_micros("event_timestamp").alias("us"), *names).collect()
        results[zone] = sorted([[r["entity_key"], r["us"], [r[n] for n in names]] for r in rows])
    results["names"] = names
    with open(out, "w") as fh:
        json.dump(results, fh)
    """
).replace("INTERPRETED_CONF", repr(INTERPRETED))


def latest_rows(df: DataFrame, names: list[str]) -> dict[str, dict]:
    rank = F.row_number().over(Window.partitionBy("entity_key").orderBy(F.col("event_timestamp").desc()))
    rows = df.withColumn("rk", rank).where("rk = 1").collect()
    return {r["entity_key"]: {n: r[n] for n in names} | {"as_of": r["as_of"].isoformat()} for r in rows}


def test_materialize_then_lookup_via_cli(store, feast_lake, capsys):
    root = str(feast_lake.root)
    assert main(["--lake", root, "-q", "materialize", "--json"]) == 0
    pushed = json.loads(capsys.readouterr().out)
    assert pushed["rows"] == {"customer_features": 8, "customer_ltv": 4}
    assert pushed["online_store"] == f"sqlite {feast_lake.root / 'feast' / 'online.db'}"
    assert (feast_lake.root / "feast" / "online.db").is_file()

    features = latest_rows(feast_lake.read(FEATURES_TABLE), FEATURE_NAMES)
    scores = latest_rows(feast_lake.read("customer_ltv"), SCORE_NAMES)
    for key in ("retail:c1", "retail:c2", "retail:c3", "web:c4"):
        line, cid = key.split(":")
        assert main(["--lake", root, "-q", "lookup", cid, "--business-line", line, "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert {n: got[n] for n in FEATURE_NAMES} == {n: features[key][n] for n in FEATURE_NAMES}, key
        assert got["features_as_of"] == features[key]["as_of"]
        if key in scores:
            assert {n: got[n] for n in SCORE_NAMES} == {n: scores[key][n] for n in SCORE_NAMES}, key
            assert got["scores_as_of"] == scores[key]["as_of"]
        else:
            assert all(got[n] is None for n in SCORE_NAMES), key
    assert features["retail:c3"]["as_of"] == "2024-02-29"  # latest per customer, not the latest date

    assert main(["--lake", root, "lookup", "c1", "--business-line", "retail"]) == 0
    text = capsys.readouterr().out
    assert "predicted_ltv" in text and "features as of 2024-03-31" in text

    assert main(["--lake", root, "lookup", "nobody", "--business-line", "retail"]) == 1
    err = capsys.readouterr().err
    assert "customer nobody not found in business line retail online store; run `ltv materialize`" in err
    # the default business line is `default`, which this lake does not have
    assert main(["--lake", root, "lookup", "c1"]) == 1
    assert "business line default" in capsys.readouterr().err


@pytest.fixture(scope="module")
def zone_run(store, feast_lake, tmp_path_factory):
    """Start the TZ=Asia/Kolkata subprocess early; it runs while the in-process tests do."""
    work = tmp_path_factory.mktemp("zone")
    registry_copy = work / "registry.db"
    shutil.copy(feast_lake.root / "feast" / "registry.db", registry_copy)
    (work / "zone.py").write_text(ZONE_SCRIPT)
    env = {**os.environ, "TZ": "Asia/Kolkata", "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.Popen(
        [sys.executable, str(work / "zone.py"), str(feast_lake.root), str(registry_copy), json.dumps(CUTOFFS),
         str(work / "zone.json")],
        env=env, stdout=subprocess.DEVNULL, stderr=open(work / "stderr.txt", "w"),
    )
    yield proc, work
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_historical_retrieval_does_not_depend_on_local_time_zone(zone_run, spark, feast_lake):
    proc, work = zone_run
    assert proc.wait(timeout=600) == 0, (work / "stderr.txt").read_text()[-4000:]
    results = json.loads((work / "zone.json").read_text())
    assert results["jvm_zone"] == "Asia/Kolkata"
    names = results["names"]
    want = keyed(as_of_join(feast_lake.read(FEATURES_TABLE), entity_frame(spark)), names)
    for zone in ("Asia/Kolkata", "America/Los_Angeles"):
        got = {(k, us): tuple(values) for k, us, values in results[zone]}
        assert got == want, zone


@pytest.mark.slow
def test_feast_cli_apply_in_feature_repo(repo_root, tmp_path):
    lake_root = tmp_path / "lake"
    env = {**os.environ, "LTV_LAKE": str(lake_root), "PYSPARK_PYTHON": sys.executable}
    feast = Path(sys.executable).parent / "feast"
    proc = subprocess.run(
        [str(feast), "apply"], cwd=repo_root / "feature_repo", env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Created feature view customer_features" in proc.stdout
    assert (lake_root / "feast" / "registry.db").is_file()

    from ltv.serving.store import feature_store, quiet_feast

    registered = feature_store(lake_root, apply=False)
    with quiet_feast():
        assert {v.name for v in registered.list_feature_views()} == {"customer_features", "customer_ltv"}
        assert {s.name for s in registered.list_feature_services()} == {"ltv_training", "ltv_online"}
        assert [e.join_key for e in registered.list_entities()] == ["entity_key"]
