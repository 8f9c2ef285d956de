"""Ingestion on real Spark + Delta in temp folders: rules, counts, idempotence, atomicity, formats."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from ltv.cli import main
from ltv.config import IngestSettings
from ltv.errors import InputRejected
from ltv.ingest.pipeline import ingest_customers, ingest_transactions
from ltv.runtime import cds, faults
from ltv.runtime.jars import spark_jars
from tests import background

INGESTED_AT = datetime(2025, 1, 1, 12, 0, 0)

GOOD = """transaction_id,customer_id,event_ts,amount,business_line
t1,c1,2024-01-05,10.50,retail
t2,c1,2024-01-06T10:00:00Z,20,retail
t3,c2,2024-02-01T10:00:00+05:30,-3.5,retail
t4,c3,2024-03-01 08:15:00,7,
"""

ONE_RULE_EACH = """transaction_id,customer_id,event_ts,amount,business_line
b1,,2024-01-05,10.0,retail
b2,c9,05/01/2024,10.0,retail
b3,c9,,10.0,retail
b4,c9,2025-06-01,10.0,retail
b5,c9,2024-01-05,abc,retail
b6,c9,2024-01-05,NaN,retail
b7,c9,2024-01-05,Infinity,retail
b8,c9,2024-01-05,,retail
b9,c9,2024-01-05,1.0,bad line
b10,c9,2024-01-05,1.0,retail
b10,c9,2024-01-06,2.0,retail
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def quarantine_reasons(lake) -> dict[str, str]:
    rows = lake.read("transactions_quarantine").collect()
    return {json.loads(r["record"])["transaction_id"]: r["reason"] for r in rows}


def test_valid_rows_land_with_canonical_types(lake, tmp_path):
    result = ingest_transactions(lake.spark, lake, write(tmp_path, "good.csv", GOOD), ingested_at=INGESTED_AT)
    assert (result.rows_read, result.accepted_new, result.quarantined_total) == (4, 4, 0)
    rows = {r["transaction_id"]: r for r in lake.read("transactions").collect()}
    assert rows["t2"]["event_ts"] == datetime(2024, 1, 6, 10, 0)
    assert rows["t3"]["event_ts"] == datetime(2024, 2, 1, 4, 30)  # +05:30 converted to UTC
    assert rows["t3"]["amount"] == -3.5  # refunds are kept
    assert rows["t4"]["business_line"] == "default"
    assert str(rows["t1"]["event_date"]) == "2024-01-05"


def test_every_rule_quarantines_with_its_reason(lake, tmp_path):
    result = ingest_transactions(lake.spark, lake, write(tmp_path, "bad.csv", ONE_RULE_EACH), ingested_at=INGESTED_AT)
    reasons = quarantine_reasons(lake)
    assert reasons == {
        "b1": "missing_customer_id",
        "b2": "invalid_event_ts",
        "b3": "invalid_event_ts",
        "b4": "future_event_ts",
        "b5": "invalid_amount",
        "b6": "invalid_amount",
        "b7": "invalid_amount",
        "b8": "invalid_amount",
        "b9": "invalid_business_line",
        "b10": "duplicate_transaction_id_in_batch",
    }
    # the first b10 (earliest event) is kept, the later one quarantined
    kept = lake.read("transactions").collect()
    assert [(r["transaction_id"], r["amount"]) for r in kept] == [("b10", 1.0)]
    assert result.rows_read == 11 and result.accepted == 1 and result.quarantined_total == 10
    detail = lake.read("transactions_quarantine").where("reason = 'invalid_event_ts'").collect()
    assert any("05/01/2024" in r["detail"] for r in detail)
    record = json.loads(lake.read("transactions_quarantine").where("reason = 'invalid_amount'").first()["record"])
    assert set(record) == {"transaction_id", "customer_id", "event_ts", "amount", "business_line"}


def test_counts_are_conserved_and_match_the_tables(lake, tmp_path):
    text = GOOD + "\n".join(ONE_RULE_EACH.splitlines()[1:]) + "\n"
    result = ingest_transactions(lake.spark, lake, write(tmp_path, "mixed.csv", text), ingested_at=INGESTED_AT)
    assert result.rows_read == 15
    assert result.rows_read == result.accepted + result.quarantined_total
    assert lake.read("transactions").count() == result.accepted_new == 5
    assert lake.read("transactions_quarantine").count() == result.quarantined_total == 10


def test_reingest_is_idempotent_and_conflicts_are_quarantined(lake, tmp_path):
    source = write(tmp_path, "mixed.csv", GOOD + "\n".join(ONE_RULE_EACH.splitlines()[1:]) + "\n")
    first = ingest_transactions(lake.spark, lake, source, ingested_at=INGESTED_AT)
    second = ingest_transactions(lake.spark, lake, source, ingested_at=INGESTED_AT)
    assert second.accepted_new == 0 and second.already_present == first.accepted_new
    assert lake.read("transactions").count() == first.accepted_new
    assert lake.read("transactions_quarantine").count() == first.quarantined_total

    conflict = write(tmp_path, "conflict.csv", "transaction_id,customer_id,event_ts,amount,business_line\n"
                                               "t1,c1,2024-01-05,99.0,retail\nt2,c1,2024-01-06T10:00:00Z,20,retail\n")
    third = ingest_transactions(lake.spark, lake, conflict, ingested_at=INGESTED_AT)
    assert third.quarantined == {"duplicate_transaction_id_in_table": 1}
    assert third.already_present == 1
    amounts = {r["transaction_id"]: r["amount"] for r in lake.read("transactions").collect()}
    assert amounts["t1"] == 10.5  # the original is untouched


def test_derived_ids_keep_identical_purchases_and_are_stable(lake, tmp_path):
    text = "customer_id,event_ts,amount\nc1,2024-01-05,10\nc1,2024-01-05,10\nc2,2024-01-05,10\n"
    source = write(tmp_path, "noid.csv", text)
    first = ingest_transactions(lake.spark, lake, source, ingested_at=INGESTED_AT)
    assert first.accepted_new == 3  # two identical purchases stay two transactions
    ids = sorted(r["transaction_id"] for r in lake.read("transactions").collect())
    assert len(set(ids)) == 3
    second = ingest_transactions(lake.spark, lake, source, ingested_at=INGESTED_AT)
    assert second.accepted_new == 0 and second.already_present == 3
    assert sorted(r["transaction_id"] for r in lake.read("transactions").collect()) == ids


def test_column_mapping_from_config(lake, tmp_path):
    config = write(tmp_path, "ltv.yaml", "ingest:\n  column_mapping: {cust: customer_id, ts: event_ts, amt: amount}\n")
    source = write(tmp_path, "mapped.csv", "cust,ts,amt,extra\nc1,2024-01-05,10,x\nc2,2024-01-06,5,y\n")
    code = main(["--lake", str(lake.root), "--config", str(config), "-q", "ingest", str(source)])
    assert code == 0
    assert sorted(r["customer_id"] for r in lake.read("transactions").collect()) == ["c1", "c2"]


def test_parquet_and_delta_inputs(lake, tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": ["p1", "p2", "p3"],
            "event_ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00", "2024-01-03 00:00"]),
            "amount": [1.0, float("nan"), 3.0],
            "business_line": ["web", "web", "web"],
        }
    )
    parquet = tmp_path / "tx.parquet"
    frame.to_parquet(parquet, index=False)
    result = ingest_transactions(lake.spark, lake, parquet, ingested_at=INGESTED_AT)
    assert (result.accepted_new, result.quarantined) == (2, {"invalid_amount": 1})

    delta_dir = tmp_path / "delta_in"
    lake.spark.createDataFrame(
        [("d1", "2024-02-01", 4.0, "store")], "customer_id string, event_ts string, amount double, business_line string"
    ).write.format("delta").save(str(delta_dir))
    result = ingest_transactions(lake.spark, lake, delta_dir, ingested_at=INGESTED_AT)
    assert result.accepted_new == 1
    assert lake.read("transactions").where("business_line = 'store'").count() == 1


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "not found"),
        ("empty.csv", "", "empty"),
        ("header_only.csv", "customer_id,event_ts,amount\n", "no rows"),
        ("no_amount.csv", "customer_id,event_ts\nc1,2024-01-01\n", "`amount` missing"),
        ("garbage.parquet", "this is not parquet", "cannot read"),
    ],
)
def test_whole_input_failures_exit_3_and_write_nothing(lake, tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputRejected, match=message):
        ingest_transactions(lake.spark, lake, path, ingested_at=INGESTED_AT)
    code = main(["--lake", str(lake.root), "-q", "ingest", str(path)])
    assert code == 3
    assert message.split()[0].strip("`") in capsys.readouterr().err
    assert not lake.root.exists() or not any(lake.root.iterdir())


def test_customers_upsert_types_and_quarantine(lake, tmp_path):
    first = write(tmp_path, "cust1.csv", "customer_id,business_line,channel,age,signup_date\n"
                                         "c1,retail,paid,31,2023-01-02\nc2,retail,organic,45,2023-02-03\n,retail,x,1,2023-01-01\n")
    result = ingest_customers(lake.spark, lake, first, ingested_at=INGESTED_AT)
    assert (result.rows_read, result.accepted_new, result.quarantined) == (3, 2, {"missing_customer_id": 1})
    schema = {f.name: f.dataType.simpleString() for f in lake.read("customers").schema.fields}
    assert schema["channel"] == "string" and schema["age"] == "double" and schema["signup_date"] == "date"
    second = write(tmp_path, "cust2.csv", "customer_id,business_line,channel,age,signup_date\n"
                                          "c1,retail,referral,32,2023-01-02\n")
    ingest_customers(lake.spark, lake, second, ingested_at=INGESTED_AT)
    rows = {r["customer_id"]: r for r in lake.read("customers").collect()}
    assert len(rows) == 2 and rows["c1"]["channel"] == "referral" and rows["c2"]["channel"] == "organic"
    assert lake.read("transactions_quarantine").where("target_table = 'customers'").count() == 1


def test_customers_valid_from_is_parsed_or_quarantined(lake, tmp_path):
    source = write(tmp_path, "cust.csv", "customer_id,business_line,segment,valid_from\n"
                                         "c1,retail,gold,2024-03-01T00:00:00Z\nc2,retail,silver,\n"
                                         "c3,retail,bronze,yesterday\n")
    result = ingest_customers(lake.spark, lake, source, ingested_at=INGESTED_AT)
    assert (result.accepted_new, result.quarantined) == (2, {"invalid_valid_from": 1})
    rows = {r["customer_id"]: r for r in lake.read("customers").collect()}
    assert str(rows["c1"]["valid_from"]) == "2024-03-01 00:00:00" and rows["c2"]["valid_from"] is None
    detail = lake.read("transactions_quarantine").where("target_table = 'customers'").first()["detail"]
    assert "yesterday" in detail


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def test_a_failed_write_leaves_table_at_previous_version(lake, tmp_path):
    ingest_transactions(lake.spark, lake, write(tmp_path, "first.csv", GOOD), ingested_at=INGESTED_AT)
    version_before = lake.version("transactions")
    second = write(tmp_path, "second.csv", "transaction_id,customer_id,event_ts,amount,business_line\n"
                                           "n1,c7,2024-05-01,3.5,retail\nn2,c8,2024-05-02,4.5,retail\n")
    with faults.installed({"ingest.transactions.write": faults.Fault("raise")}):
        with pytest.raises(Exception, match="fault injected at ingest.transactions.write"):
            ingest_transactions(lake.spark, lake, second, ingested_at=INGESTED_AT)
    assert lake.version("transactions") == version_before
    assert ingest_transactions(lake.spark, lake, second, ingested_at=INGESTED_AT).accepted_new == 2


@pytest.mark.slow
def test_kill_during_write_leaves_table_at_previous_version(lake, tmp_path):
    ingest_transactions(lake.spark, lake, write(tmp_path, "first.csv", GOOD), ingested_at=INGESTED_AT)
    version_before = lake.version("transactions")
    count_before = lake.read("transactions").count()

    rows = "\n".join(f"k{i},c{i % 50},2024-05-{1 + i % 28:02d},{i % 97 + 1}.5,retail" for i in range(2000))
    second = write(tmp_path, "second.csv", "transaction_id,customer_id,event_ts,amount,business_line\n" + rows + "\n")
    marker = tmp_path / "paused"
    # the child installs this plan, then runs `ltv ingest`: its write tasks touch the marker and wait
    plan = {"ingest.transactions.write": faults.Fault("pause", marker=str(marker))}
    proc = subprocess.Popen(
        faults.command(plan, ["--lake", str(lake.root), "--master", "local[1]", "-q", "ingest", str(second)]),
        env=_subprocess_env(), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "ingest never reached the write"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert lake.version("transactions") == version_before
    assert lake.read("transactions").count() == count_before

    result = ingest_transactions(lake.spark, lake, second, ingested_at=INGESTED_AT)
    assert result.accepted_new == 2000
    assert lake.read("transactions").count() == count_before + 2000


# the first job, done in about 30 s: its module keeps its place
@background.job("spark_submit_ingest", wait_last=False)
def _spark_submit_job(workdir: Path) -> background.Job:
    """``./spark-submit.sh jobs/ingest_transactions.py`` on a small CSV, each JVM logging where its classes came from."""
    source = write(workdir, "good.csv", GOOD)
    env = _subprocess_env()
    logs = workdir / "jvm"
    logs.mkdir()
    env["JDK_JAVA_OPTIONS"] = f"{env.get('JDK_JAVA_OPTIONS', '')} -Xlog:class+load=info:file={logs}/classes-%p.log"
    argv = ["./spark-submit.sh", "jobs/ingest_transactions.py", "--master", "local[2]", str(source),
            "--lake", str(workdir / "lake"), "--json", "-q"]
    return background.Job(argv, cwd=Path(__file__).resolve().parents[2], env=env, timeout=400)


@pytest.mark.slow
@pytest.mark.background("spark_submit_ingest")
def test_spark_submit_runs_the_ingest_job():
    outcome = background.result("spark_submit_ingest")
    proc, lake_dir, logs = outcome.completed, outcome.workdir / "lake", outcome.workdir / "jvm"
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert counts["rows_read"] == 4 and counts["accepted_new"] == 4
    assert (lake_dir / "transactions" / "_delta_log").is_dir()
    loaded = [line for log in logs.glob("classes-*.log") for line in log.read_text().splitlines()]
    # stock Spark + Delta: Delta's extension is loaded, and no JVM class of ltv's own
    delta = [line for line in loaded if " io.delta.sql.DeltaSparkSessionExtension source: " in line]
    assert len(delta) == 1, delta
    assert not [line for line in loaded if "] ltv." in line]
    # on a local master the driver maps ltv's class-data-sharing archive (ltv/runtime/cds.py), when built
    archive = cds.archive_path(spark_jars())
    if archive is None or not archive.is_file():
        pytest.skip(f"the job ran; not checked whether it used the class-data-sharing archive: none at {archive} "
                    "(an optional start-up cache, built by `make setup`)")
    assert delta[0].endswith("source: shared objects file (top)"), delta
