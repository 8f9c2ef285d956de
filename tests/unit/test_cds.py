"""The class-data-sharing archive of the driver JVM (ltv/runtime/cds.py): when it is used, that it
really is, and that it is a start-up cache only (same results with and without it)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ltv.runtime import cds
from ltv.runtime.jars import spark_jars
from tests import background


@pytest.fixture()
def jars(tmp_path):
    folder = tmp_path / "jars"
    folder.mkdir()
    paths = []
    for name in ("delta-spark_2.13-4.4.0.jar", "delta-storage-4.4.0.jar"):
        (folder / name).write_bytes(b"PK" + name.encode())
        paths.append(str(folder / name))
    return paths


@pytest.fixture()
def archive_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cds"
    monkeypatch.setenv(cds.DIR_VARIABLE, str(folder))
    monkeypatch.delenv(cds.SWITCH, raising=False)
    monkeypatch.delenv(cds.DUMP_VARIABLE, raising=False)
    return folder


@pytest.fixture()
def java(jars):
    if cds.archive_path(jars) is None:
        pytest.skip("no `java` on this machine (JAVA_HOME or PATH): there is no archive to name")


def test_no_archive_no_settings(archive_dir, jars):
    assert cds.session_conf(jars, "-Duser.timezone=UTC") == {}


def test_an_archive_for_these_jars_is_used(archive_dir, jars, java):
    path = cds.archive_path(jars)
    assert path.parent == archive_dir
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    conf = cds.session_conf(jars, "-Duser.timezone=UTC")
    assert set(conf) == {"spark.driver.extraClassPath", "spark.driver.extraJavaOptions"}
    assert conf["spark.driver.extraClassPath"] == os.pathsep.join(jars)
    options = conf["spark.driver.extraJavaOptions"]
    assert options.startswith("-Duser.timezone=UTC ") and f"-XX:SharedArchiveFile={path}" in options
    # a start-up cache only: where classes come from and what is logged, nothing else
    added = options.removeprefix("-Duser.timezone=UTC ").split()
    assert added == [f"-XX:SharedArchiveFile={path}", "-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def test_using_an_archive_keeps_it_from_pruning(archive_dir, jars, java):
    path = cds.archive_path(jars)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    os.utime(path, (1_000_000, 1_000_000))  # built long ago ...
    for name in ("x", "y", "z"):
        other = path.parent / f"ltv-driver-{name}.jsa"
        other.write_bytes(b"x")
        os.utime(other, (2_000_000, 2_000_000))  # ... others built since
    cds.session_conf(jars, "")  # ... but used now
    cds.prune(path.parent, keep=3)
    assert path.is_file()
    assert len(list(path.parent.glob("ltv-driver-*.jsa"))) == 3


def test_switched_off(archive_dir, jars, monkeypatch, java):
    path = cds.archive_path(jars)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    monkeypatch.setenv(cds.SWITCH, "0")
    assert cds.session_conf(jars, "") == {}


def test_the_name_follows_the_jars(archive_dir, jars, java):
    before = cds.archive_path(jars)
    Path(jars[0]).write_bytes(b"PK another build of the same jar")
    assert cds.archive_path(jars) != before
    assert cds.archive_path(jars[:1]) != cds.archive_path(jars)


def test_the_build_process_records_instead(archive_dir, jars, monkeypatch, tmp_path):
    monkeypatch.setenv(cds.DUMP_VARIABLE, str(tmp_path / "new.jsa"))
    options = cds.session_conf(jars, "-Da=b")["spark.driver.extraJavaOptions"]
    assert f"-XX:ArchiveClassesAtExit={tmp_path / 'new.jsa'}" in options
    assert "SharedArchiveFile" not in options


def test_only_the_newest_archives_are_kept(tmp_path):
    for age, name in enumerate(["a", "b", "c", "d", "e"]):
        path = tmp_path / f"ltv-driver-{name}.jsa"
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    (tmp_path / "other.txt").write_text("not an archive")
    cds.prune(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ltv-driver-c.jsa", "ltv-driver-d.jsa", "ltv-driver-e.jsa", "other.txt"]


def test_using_the_archive_never_starts_a_session():
    """ltv.runtime.cds names the archive and its options; only the build's child process needs Spark."""
    probe = "import sys, ltv.runtime.cds; print(sorted(m for m in sys.modules if m.startswith(('ltv.', 'pyspark'))))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout
    assert "ltv.runtime.session" not in loaded and "ltv.runtime.cds_build" not in loaded and "pyspark" not in loaded


def test_the_recording_workload_refuses_to_run_outside_a_build(monkeypatch):
    from ltv.runtime import cds_build

    monkeypatch.delenv(cds.DUMP_VARIABLE, raising=False)
    assert cds_build.main() == 2


_CHILD = textwrap.dedent("""
    import json, sys
    from ltv.config import SparkSettings
    from ltv.runtime.session import get_spark
    from pyspark.sql import functions as F
    spark = get_spark(SparkSettings(master="local[1]", shuffle_partitions=2), app_name="cds-check")
    rows = [(f"c{i % 7}", float(i % 11) - 3.0, i) for i in range(500)]
    frame = spark.createDataFrame(rows, "customer_id string, amount double, n long")
    frame.write.format("delta").save(sys.argv[1])
    summary = (spark.read.format("delta").load(sys.argv[1]).groupBy("customer_id")
               .agg(F.sum("amount"), F.max("n"), F.count(F.lit(1))).orderBy("customer_id"))
    print(json.dumps([list(r) for r in summary.collect()]))
    spark.stop()
""")


def _expected_summary() -> list[list]:
    """What _CHILD's query must return, computed here without Spark (the amounts are whole
    numbers, so the sums are exact whatever the order of addition)."""
    groups: dict[str, list] = {}
    for i in range(500):
        key, amount = f"c{i % 7}", float(i % 11) - 3.0
        total, largest, count = groups.get(key, [0.0, -1, 0])
        groups[key] = [total + amount, max(largest, i), count + 1]
    return [[key, *values] for key, values in sorted(groups.items())]


@background.job("cds_fresh_session")
def _fresh_session_job(workdir: Path) -> background.Job | str:
    """_CHILD in a fresh JVM with the archive switched on, logging where each class came from."""
    jars = spark_jars()
    if not jars:
        return "Delta's jars are not fetched yet: `make setup` (python -m ltv.runtime.jars) fetches them"
    archive = cds.archive_path(jars)
    if archive is None or not archive.is_file():
        return (f"no class-data-sharing archive at {archive} (optional start-up cache): "
                "`make setup` builds it (python -m ltv.runtime.cds)")
    env = {**os.environ, "JDK_JAVA_OPTIONS": f"-XX:+UseSerialGC -Xlog:class+load=info:file={workdir / 'classes.log'}",
           cds.SWITCH: "1"}
    env.pop(cds.DIR_VARIABLE, None)
    return background.Job([sys.executable, "-c", _CHILD, str(workdir / "delta")], cwd=workdir, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.background("cds_fresh_session")
def test_a_fresh_session_loads_spark_and_delta_from_the_archive_and_gets_the_same_results():
    """`make setup` built the archive; a session ltv starts maps it (the JVM's class-load log says so),
    and a Delta write + aggregation through it gives exactly the rows computed without Spark.
    (That LTV_CDS=0 adds no JVM option is test_switched_off's: one JVM here, not two.)
    The fresh JVM is a background job (tests/background.py) that runs beside the other tests."""
    outcome = background.result("cds_fresh_session")
    proc, log = outcome.completed, outcome.workdir / "classes.log"
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == _expected_summary()
    sources = {}
    for line in log.read_text().splitlines():
        if " source: " in line:
            name, source = line.split("] ", 1)[-1].split(" source: ", 1)
            sources[name.strip()] = source
    shared = "shared objects file (top)"
    assert sources["io.delta.sql.DeltaSparkSessionExtension"] == shared
    assert sources["org.apache.spark.sql.SparkSession"] == shared
    # most of Spark's, Scala's and Delta's classes (lambdas and classes generated at run time are not archived)
    ours = [source for name, source in sources.items() if name.startswith(("org.apache.spark.", "scala.", "io.delta."))]
    archived = sum(source == shared for source in ours)
    assert archived / len(ours) > 0.5, (archived, len(ours))  # ~0.7 measured; 0 without the archive


def test_a_failed_build_leaves_no_archive_and_does_not_raise(archive_dir, caplog):
    """`make setup` goes on without an archive when the build cannot finish (here: a timeout)."""
    if not spark_jars():
        pytest.skip("Delta's jars are not fetched yet (`make setup`): a build would first run Maven")
    if cds.archive_path(spark_jars()) is None:
        pytest.skip("no `java` on this machine (JAVA_HOME or PATH): nothing to build")
    with caplog.at_level("WARNING", logger="ltv.runtime.cds"):
        assert cds.build(timeout_s=0.01) is None
    assert "could not build the class-data-sharing archive" in caplog.text
    assert not list(archive_dir.glob("*"))
