"""The session ltv starts: its settings, and the collector choice that must not clash with the environment's."""
from __future__ import annotations

import pytest

from ltv import spark as ltv_spark


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
    for name in ltv_spark.JAVA_OPTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ltv_spark._collector_chosen(options) is chosen


def test_the_running_session_has_ltvs_settings(spark):
    conf = spark.conf
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    # Delta, and ltv's own extension (ltv/sparkext.py; compiled by make setup)
    assert conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension,ltv.spark.LtvSparkExtensions"
    assert conf.get("spark.sql.codegen.aggregate.map.twolevel.enabled") == "false"
    assert spark.sparkContext.getConf().get("spark.shuffle.compress") == "false"  # local master
    # ltv adds the parallel collector unless the environment chose one when the JVM started
    # (tests/conftest.py starts this JVM without its short-JVM options): it is really in use
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert "-Duser.timezone=UTC" in options
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    collectors = {bean.getName() for bean in beans}
    assert (ltv_spark.LOCAL_GC_OPTION in options) == ("PS Scavenge" in collectors), collectors
    from tests.conftest import SHORT_JVMS_ONLY

    if SHORT_JVMS_ONLY:
        assert "PS Scavenge" in collectors, collectors


def test_extensions_add_up_in_order_each_once():
    """Delta's extension, the caller's or spark-submit's, and ltv's own are all kept (ltv.spark._joined)."""
    joined = ltv_spark._joined(
        "io.delta.sql.DeltaSparkSessionExtension",
        "com.example.Ext, io.delta.sql.DeltaSparkSessionExtension,ltv.spark.LtvSparkExtensions",
        "",
        "ltv.spark.LtvSparkExtensions",
    )
    assert joined == "io.delta.sql.DeltaSparkSessionExtension,com.example.Ext,ltv.spark.LtvSparkExtensions"
