"""The one SparkSession builder for ltv.

Every entry point (CLI, jobs, notebooks, tests) gets its session here, so Delta, the UTC
session time zone and laptop-friendly defaults are always set the same way. Stock Spark and
Delta only: ``spark.sql.extensions`` is Delta's plus whatever the user or the launcher
configured.

* Run by ``spark-submit`` (``./spark-submit.sh``): master, jars and conf come from the
  launcher; we only add what is missing.
* Run as a plain Python process: ``local[*]`` (or ``--master`` / config); the Delta jars
  fetched once by :mod:`ltv.runtime.jars` (Maven) go on the classpath with ``spark.jars``,
  and a local driver JVM starts from the class-data-sharing archive when one was built
  (:mod:`ltv.runtime.cds`, a start-up cache only).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ltv.config import SparkSettings
from ltv.runtime import cds
from ltv.runtime.jars import DELTA_VERSION, fetch_jars

log = logging.getLogger(__name__)

SPARK_BINARY = "4.2"
SCALA_BINARY = "2.13"
DELTA_PACKAGE = f"io.delta:delta-spark_{SPARK_BINARY}_{SCALA_BINARY}:{DELTA_VERSION}"
DEFAULT_MASTER = "local[*]"
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"

# Settings every ltv session must have, whoever launched it.
REQUIRED_CONF: dict[str, str] = {
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
}

# Defaults for every session ltv starts itself (not under spark-submit).
SESSION_DEFAULTS: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "static",
    # feature snapshots are wide: print their plans whole instead of warning about truncation
    "spark.sql.debug.maxToStringFields": "500",
    # ltv aggregates per customer (and per customer-day): almost every key is new, so the small
    # "fast" first-level hash map of partial aggregation only adds a lookup and an overflow per
    # row. Off, the 10M-row RFM summary took 18 s instead of 23 s (bench/README.md).
    "spark.sql.codegen.aggregate.map.twolevel.enabled": "false",
}

# Extra defaults for one machine (master local*): no UI server, loopback only, small
# Delta state reconstruction (the default 50 snapshot partitions is tuned for clusters).
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.databricks.delta.snapshotPartitions": "4",
    # shuffle files stay on this machine's disk (and mostly in its page cache): compressing them
    # costs CPU the few local cores need for the query itself. Disk use is ~3x larger.
    "spark.shuffle.compress": "false",
    "spark.shuffle.spill.compress": "false",
}

# The throughput collector for the one JVM of a local batch job, unless the environment already
# chose a collector (two choices make the JVM refuse to start).
LOCAL_GC_OPTION = "-XX:+UseParallelGC"
JAVA_OPTION_VARIABLES = ("JDK_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS")
_LOG4J = Path(__file__).resolve().parent.parent / "data" / "log4j2.properties"


def _collector_chosen(java_options: str) -> bool:
    """True when ``java_options`` or the JVM's option variables already select a garbage collector."""
    chosen = " ".join([java_options, *(os.environ.get(name, "") for name in JAVA_OPTION_VARIABLES)])
    return re.search(r"-XX:\+Use\w*GC\b", chosen) is not None


def _joined(*class_lists: str) -> str:
    """Comma-separated class names of every list, each once, in order of first appearance."""
    names: list[str] = []
    for class_list in class_lists:
        for name in (class_list or "").split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return ",".join(names)


def launched_by_spark_submit() -> bool:
    """True when this Python process was started by ``spark-submit`` (gateway already up)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def planned_conf(
    settings: SparkSettings,
    master: str | None,
    under_submit: bool,
    extra_conf: Mapping[str, str] | None = None,
    launcher_extensions: str = "",
) -> dict[str, str]:
    """The ``spark.*`` settings :func:`get_spark` gives a new session (no JVM is started here).

    Args:
        settings: ``spark`` block of ``ltv.yaml``.
        master: the master the session will have (None: the launcher's, under spark-submit).
        under_submit: started by ``spark-submit``: jars, memory and defaults are the launcher's.
        extra_conf: the caller's settings; they win over everything but :data:`REQUIRED_CONF`.
        launcher_extensions: ``spark.sql.extensions`` as spark-submit set it.

    ``spark.sql.extensions`` adds up: Delta's (required), then the launcher's and the caller's.
    Outside spark-submit Delta's jars are fetched once (Maven) when missing.
    """
    conf: dict[str, str] = {}
    if not under_submit:
        conf.update(SESSION_DEFAULTS)
        # executors' Python workers must run the interpreter that has ltv and its dependencies
        conf["spark.pyspark.python"] = os.environ.get("PYSPARK_PYTHON", sys.executable)
        if _LOG4J.exists():
            conf["spark.driver.extraJavaOptions"] += f" -Dlog4j2.configurationFile=file:{_LOG4J}"
        session_jars = fetch_jars()
        conf["spark.jars"] = ",".join(session_jars)
        conf["spark.driver.memory"] = settings.driver_memory
    if (master or "").startswith("local"):
        conf.update(LOCAL_DEFAULTS)
        if not under_submit:
            if not _collector_chosen(conf["spark.driver.extraJavaOptions"]):
                conf["spark.driver.extraJavaOptions"] += f" {LOCAL_GC_OPTION}"
            # the class-data-sharing archive of `python -m ltv.runtime.cds`, when built: start-up only
            conf.update(cds.session_conf(session_jars, conf["spark.driver.extraJavaOptions"]))
    conf["spark.sql.shuffle.partitions"] = str(settings.shuffle_partitions)
    conf.update(settings.conf)
    conf.update(extra_conf or {})
    requested = _joined(launcher_extensions, conf.get("spark.sql.extensions", ""))
    conf.update(REQUIRED_CONF)
    conf["spark.sql.extensions"] = _joined(DELTA_EXTENSION, requested)
    return conf


def get_spark(
    settings: SparkSettings | None = None,
    master: str | None = None,
    app_name: str = "ltv",
    extra_conf: Mapping[str, str] | None = None,
):
    """Return the active SparkSession or build one configured for ltv.

    Args:
        settings: ``spark`` block of ``ltv.yaml``.
        master: overrides ``settings.master``; ignored under spark-submit unless given.
        app_name: Spark application name.
        extra_conf: more ``spark.*`` settings (win over everything else).

    An already-active session is returned as-is after checking it has Delta and UTC set
    (Feast and notebooks reuse it); a mismatch is an error rather than a silent surprise.
    """
    from pyspark.sql import SparkSession

    settings = settings or SparkSettings()
    active = SparkSession.getActiveSession()
    if active is not None:
        _check_session(active)
        return active

    under_submit = launched_by_spark_submit()
    chosen_master = master or settings.master or (None if under_submit else DEFAULT_MASTER)
    launcher_extensions = ""
    if under_submit:
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()  # attach to the launcher's JVM, whose spark.* settings SparkConf reads
        launcher_extensions = SparkConf().get("spark.sql.extensions", "") or ""
    if not under_submit:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if (chosen_master or "").startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf = planned_conf(settings, chosen_master, under_submit, extra_conf, launcher_extensions)

    builder = SparkSession.builder.appName(app_name)
    if chosen_master:
        builder = builder.master(chosen_master)
    for key, value in conf.items():
        if under_submit and key == "spark.sql.shuffle.partitions" and not (settings.conf or extra_conf):
            continue  # keep the launcher's value
        builder = builder.config(key, value)
    log.info("starting Spark (master=%s)", chosen_master or "from spark-submit")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _check_session(spark)
    return spark


def _check_session(spark) -> None:
    conf = spark.conf
    if conf.get("spark.sql.session.timeZone", None) != "UTC":
        conf.set("spark.sql.session.timeZone", "UTC")
    extensions = conf.get("spark.sql.extensions", "") or ""
    if "DeltaSparkSessionExtension" not in extensions:
        raise RuntimeError(
            "the active SparkSession has no Delta extension; start it with ltv.runtime.session.get_spark() "
            f"or pass --packages {DELTA_PACKAGE} --conf spark.sql.extensions={DELTA_EXTENSION}"
        )


@contextlib.contextmanager
def restored_conf(spark, keys: Iterable[str]) -> Iterator[None]:
    """Put the session settings ``keys`` back as they were on exit (unset when they were unset)."""
    saved = {key: spark.conf.get(key, None) for key in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def stop_spark() -> None:
    """Stop the active session, if any."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
