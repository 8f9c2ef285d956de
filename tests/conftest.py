"""One SparkSession for the whole test run: local[2], 2 shuffle partitions, Delta, UTC."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# tests keep MLflow under their temp lakes, never on a server or ./mlruns set by the caller
os.environ.pop("MLFLOW_TRACKING_URI", None)
# The short-lived JVMs the tests start (spark-submit's, the CLI subprocesses', the notebook
# kernels') work seconds to a minute on tiny data: the quick C1 JIT and the serial GC spend far
# less CPU warming up than C2 and G1 on this 2-core machine. The session JVM below lives for the
# whole run and is started without them, as ltv starts it for users (C2, parallel GC): on the
# Spark-heavy unit tests that took 184-188 s instead of 222-236 s. Test speed only.
SHORT_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SHORT_JVMS_ONLY = "JDK_JAVA_OPTIONS" not in os.environ  # a caller's own setting applies to every JVM
os.environ.setdefault("JDK_JAVA_OPTIONS", SHORT_JVM_OPTIONS)


# Spark generates and compiles Java for every new plan and, in each task, for every projection: on
# the suite's thousands of distinct tiny queries that was about half of the session JVM's CPU
# (measured with JFR). The session JVM evaluates expressions interpreted instead: Spark's other
# engine for the same operators, the one its own test suites check codegen against. Test speed
# only; every child process (the README tour, local-cluster, spark-submit, the CLI and notebook
# processes) runs Spark's defaults, so the generated-code path is tested end to end too.
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


@pytest.fixture(scope="session")
def spark():
    from ltv.config import SparkSettings
    from ltv.runtime.session import get_spark

    if SHORT_JVMS_ONLY:
        del os.environ["JDK_JAVA_OPTIONS"]  # read once, when the JVM starts
    try:
        session = get_spark(
            SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g"),
            app_name="ltv-tests",
            extra_conf={"spark.default.parallelism": "2", "spark.sql.adaptive.coalescePartitions.enabled": "true",
                        **INTERPRETED},
        )
    finally:
        os.environ.setdefault("JDK_JAVA_OPTIONS", SHORT_JVM_OPTIONS)
    yield session
    session.stop()


@pytest.fixture()
def lake(spark, tmp_path):
    from ltv.lake.io import Lake

    return Lake(spark, tmp_path / "lake")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


def pytest_collection_finish(session):
    """Start the background jobs of the selected tests (see tests/background.py)."""
    if session.config.option.collectonly:
        return
    from tests import background

    background.start({m.args[0] for item in session.items for m in item.iter_markers("background")})


def pytest_sessionfinish(session, exitstatus):
    from tests import background

    background.stop()
