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
    assert conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf.get("spark.sql.codegen.aggregate.map.twolevel.enabled") == "false"
    assert spark.sparkContext.getConf().get("spark.shuffle.compress") == "false"  # local master
    # tests/conftest.py's JDK_JAVA_OPTIONS choose the serial collector, so ltv adds none (else
    # the JVM would have refused to start); with no collector in the environment it adds its own
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions")
    assert "-Duser.timezone=UTC" in options
    assert (ltv_spark.LOCAL_GC_OPTION in options) is not ltv_spark._collector_chosen("")
