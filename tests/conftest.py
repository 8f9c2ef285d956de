"""One SparkSession for the whole test run: local[2], 2 shuffle partitions, Delta, UTC."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.jvm import INTERPRETED, SHORT_JVM_OPTIONS

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# tests keep MLflow under their temp lakes, never on a server or ./mlruns set by the caller
os.environ.pop("MLFLOW_TRACKING_URI", None)
# the short-lived JVMs use SHORT_JVM_OPTIONS (tests/jvm.py); the session JVM below does not
SHORT_JVMS_ONLY = "JDK_JAVA_OPTIONS" not in os.environ  # a caller's own setting applies to every JVM
os.environ.setdefault("JDK_JAVA_OPTIONS", SHORT_JVM_OPTIONS)


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


def pytest_collection_modifyitems(session, config, items):
    """Modules whose tests wait on a background job run last, in the order the jobs run (stable
    otherwise): the children then overlap with the in-process tests instead of being waited for."""
    from tests import background

    jobs: dict[str, set[str]] = {}
    for item in items:
        jobs.setdefault(item.nodeid.split("::")[0], set()).update(m.args[0] for m in item.iter_markers("background"))
    items.sort(key=lambda item: background.rank(jobs[item.nodeid.split("::")[0]]))


def pytest_collection_finish(session):
    """Start the background jobs of the selected tests (see tests/background.py)."""
    if session.config.option.collectonly:
        return
    from tests import background

    background.start({m.args[0] for item in session.items for m in item.iter_markers("background")})


def pytest_sessionfinish(session, exitstatus):
    from tests import background

    background.stop()
