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
# Every JVM the tests start (this session's, spark-submit's, the CLI's and the notebook kernels')
# works minutes on tiny data: the quick C1 JIT and the serial GC spend far less CPU warming up
# than C2 and G1 on this 2-core machine. Test speed only; ltv itself sets no JIT flags.
os.environ.setdefault("JDK_JAVA_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="session")
def spark():
    from ltv.config import SparkSettings
    from ltv.spark import get_spark

    session = get_spark(
        SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g"),
        app_name="ltv-tests",
        extra_conf={"spark.default.parallelism": "2", "spark.sql.adaptive.coalescePartitions.enabled": "true"},
    )
    yield session
    session.stop()


@pytest.fixture()
def lake(spark, tmp_path):
    from ltv.lake.io import Lake

    return Lake(spark, tmp_path / "lake")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
