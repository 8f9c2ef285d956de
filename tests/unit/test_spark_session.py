"""The session ltv starts: stock Spark + Delta, its settings, and the collector choice that must not clash."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from ltv.config import SparkSettings
from ltv.runtime import jars as runtime_jars
from ltv.runtime import session

DELTA = "io.delta.sql.DeltaSparkSessionExtension"


@pytest.mark.parametrize(
    ("options", "env", "chosen"),
    [
        ("-Duser.timezone=UTC", {}, False),
        ("-Duser.timezone=UTC -XX:+UseG1GC", {}, True),
        ("-Duser.timezone=UTC", {"JDK_JAVA_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}, True),
        ("-Duser.timezone=UTC", {"JAVA_TOOL_OPTIONS": "-XX:+UseZGC"}, True),
        ("-Duser.timezone=UTC", {"JDK_JAVA_OPTIONS": "-XX:-UseCompressedOops"}, False),
    ],
)
def test_a_collector_is_added_only_when_none_is_chosen(monkeypatch, options, env, chosen):
    for name in session.JAVA_OPTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert session._collector_chosen(options) is chosen


def test_the_running_session_has_ltvs_settings(spark):
    conf = spark.conf
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.extensions") == DELTA  # stock Spark + Delta, nothing of ltv's own
    assert conf.get("spark.sql.codegen.aggregate.map.twolevel.enabled") == "false"
    assert spark.sparkContext.getConf().get("spark.shuffle.compress") == "false"  # local master
    # ltv adds the parallel collector unless the environment chose one when the JVM started
    # (tests/conftest.py starts this JVM without its short-JVM options): it is really in use
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert "-Duser.timezone=UTC" in options
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    collectors = {bean.getName() for bean in beans}
    assert (session.LOCAL_GC_OPTION in options) == ("PS Scavenge" in collectors), collectors
    from tests.conftest import SHORT_JVMS_ONLY

    if SHORT_JVMS_ONLY:
        assert "PS Scavenge" in collectors, collectors


def test_the_running_session_loads_only_stock_jars(spark):
    """Every jar ltv put on the session's classpath is one Maven fetched for Delta (no jar of ltv's own)."""
    added = [jar for jar in spark.sparkContext.getConf().get("spark.jars", "").split(",") if jar]
    assert added, "ltv starts its sessions with Delta's jars in spark.jars"
    fetched = set(runtime_jars.spark_jars())
    assert {str(Path(jar.removeprefix("file:"))) for jar in added} <= fetched, added
    assert all(Path(jar).parent == runtime_jars.jar_dir() for jar in fetched), fetched


@pytest.mark.parametrize("under_submit", [False, True])
def test_extensions_are_deltas_plus_what_the_user_asked_for(under_submit):
    """Delta's extension, then the launcher's (spark-submit) and the caller's, each once; nothing else."""
    plain = session.planned_conf(SparkSettings(master="local[1]"), "local[1]", under_submit)
    assert plain["spark.sql.extensions"] == DELTA
    asked = session.planned_conf(
        SparkSettings(conf={"spark.sql.extensions": "com.example.FromConfig"}), "local[1]", under_submit,
        extra_conf={"spark.sql.extensions": f"com.example.Ext, {DELTA}"},
        launcher_extensions="com.example.FromLauncher",
    )
    assert asked["spark.sql.extensions"] == f"{DELTA},com.example.FromLauncher,com.example.Ext"
    assert asked["spark.sql.session.timeZone"] == "UTC"  # required settings win over the caller's


def test_extensions_add_up_in_order_each_once():
    joined = session._joined(DELTA, f"com.example.Ext, {DELTA},com.example.Other", "", "com.example.Ext")
    assert joined == f"{DELTA},com.example.Ext,com.example.Other"


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ("ltv.spark", "ltv.runtime.session", ["get_spark", "restored_conf", "stop_spark", "launched_by_spark_submit",
                                               "DEFAULT_MASTER", "REQUIRED_CONF"]),
        ("ltv.jars", "ltv.runtime.jars", ["DELTA_VERSION", "fetch_jars", "spark_jars", "jar_dir", "main"]),
        ("ltv.cds", "ltv.runtime.cds", ["session_conf", "archive_path", "build", "enabled", "main", "SWITCH"]),
    ],
)
def test_the_old_import_paths_still_work_and_warn(monkeypatch, old, new, names):
    """For one release `ltv.spark`, `ltv.jars` and `ltv.cds` re-export the new modules' names, with a warning."""
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated.*use {new}"):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(target, name), name


def test_the_old_jars_list_is_deltas(monkeypatch):
    monkeypatch.delitem(sys.modules, "ltv.jars", raising=False)
    with pytest.warns(DeprecationWarning):
        old = importlib.import_module("ltv.jars")
    assert old.driver_jars(fetch=False) == runtime_jars.spark_jars()


@pytest.mark.parametrize("module", ["ltv.jars", "ltv.cds"])
def test_the_old_commands_still_run(module):
    """`python -m ltv.jars` and `python -m ltv.cds` are documented commands: they run the new ones."""
    import subprocess

    argv = ["--driver-options"] if module == "ltv.cds" else []
    proc = subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"python -m {module} is deprecated" in proc.stderr
    if module == "ltv.jars":
        assert proc.stdout.strip().split("\n")[-1] == ",".join(runtime_jars.spark_jars())
