"""The class-data-sharing archive of the driver JVM (ltv/cds.py): when it is used, and that it really is."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ltv import cds


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


def test_no_archive_no_settings(archive_dir, jars):
    assert cds.session_conf(jars, "-Duser.timezone=UTC") == {}


def test_an_archive_for_these_jars_is_used(archive_dir, jars):
    path = cds.archive_path(jars)
    assert path is not None and path.parent == archive_dir
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    conf = cds.session_conf(jars, "-Duser.timezone=UTC")
    assert conf["spark.driver.extraClassPath"] == os.pathsep.join(jars)
    options = conf["spark.driver.extraJavaOptions"]
    assert options.startswith("-Duser.timezone=UTC ") and f"-XX:SharedArchiveFile={path}" in options
    assert "-Xshare:auto" in options  # a stale archive is ignored, never fatal


def test_using_an_archive_keeps_it_from_pruning(archive_dir, jars, tmp_path):
    path = cds.archive_path(jars)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    os.utime(path, (1_000_000, 1_000_000))  # built long ago ...
    for name in ("x", "y", "z"):
        other = path.parent / f"ltv-driver-{name}.jsa"
        other.write_bytes(b"x")
        os.utime(other, (2_000_000, 2_000_000))  # ... others built since
    cds.session_conf(jars, "")  # ... but used now
    cds._prune(path.parent, keep=3)
    assert path.is_file()
    assert len(list(path.parent.glob("ltv-driver-*.jsa"))) == 3


def test_switched_off(archive_dir, jars, monkeypatch):
    path = cds.archive_path(jars)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    monkeypatch.setenv(cds.SWITCH, "0")
    assert cds.session_conf(jars, "") == {}


def test_the_name_follows_the_jars(archive_dir, jars):
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
    cds._prune(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ltv-driver-c.jsa", "ltv-driver-d.jsa", "ltv-driver-e.jsa", "other.txt"]


@pytest.mark.slow
def test_a_fresh_session_loads_spark_and_delta_from_the_archive(tmp_path):
    """`make setup` built the archive; a session ltv starts maps it (the JVM's class-load log says so)."""
    from ltv.jars import driver_jars

    archive = cds.archive_path(driver_jars(fetch=False))
    if archive is None or not archive.is_file():
        pytest.fail(f"no class-data-sharing archive at {archive}: `make setup` builds it (python -m ltv.cds)")
    log = tmp_path / "classes.log"
    child = textwrap.dedent("""
        import sys
        from ltv.config import SparkSettings
        from ltv.spark import get_spark
        spark = get_spark(SparkSettings(master="local[1]"), app_name="cds-check")
        assert spark.range(3).count() == 3
        spark.stop()
    """)
    env = {**os.environ, "JDK_JAVA_OPTIONS": f"-XX:+UseSerialGC -Xlog:class+load=info:file={log}"}
    env.pop(cds.SWITCH, None)
    env.pop(cds.DIR_VARIABLE, None)
    proc = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sources = {}
    for line in log.read_text().splitlines():
        if " source: " in line:
            name, source = line.split("] ", 1)[-1].split(" source: ", 1)
            sources[name.strip()] = source
    assert sources["io.delta.sql.DeltaSparkSessionExtension"] == "shared objects file (top)"
    assert sources["org.apache.spark.sql.SparkSession"] == "shared objects file (top)"
    assert sources["ltv.spark.LtvSparkExtensions"] == "shared objects file (top)"  # ltv's own jar (ltv/sparkext.py)
    # most of Spark's, Scala's and Delta's classes (lambdas and classes generated at run time are not archived)
    ours = [source for name, source in sources.items() if name.startswith(("org.apache.spark.", "scala.", "io.delta."))]
    archived = sum(source == "shared objects file (top)" for source in ours)
    assert archived / len(ours) > 0.5, (archived, len(ours))  # 0.70 measured; 0 without the archive


def test_a_failed_build_leaves_no_archive_and_does_not_raise(archive_dir, caplog):
    """`make setup` goes on without an archive when the build cannot finish (here: a timeout)."""
    with caplog.at_level("WARNING", logger="ltv.cds"):
        assert cds.build(timeout_s=0.01) is None
    assert "could not build the class-data-sharing archive" in caplog.text
    assert not list(archive_dir.glob("*"))
