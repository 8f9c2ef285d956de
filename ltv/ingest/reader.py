"""Read a raw input (CSV, Parquet or Delta) into a DataFrame, or reject it as a whole.

Whole-input problems (missing file, unreadable file, no rows, missing required column)
raise :class:`ltv.errors.InputRejected` before anything is written.
"""
from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from ltv.errors import InputRejected

log = logging.getLogger(__name__)

FORMATS = ("csv", "parquet", "delta")
_EXTENSIONS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def infer_format(path: Path) -> str:
    """``csv`` / ``parquet`` / ``delta`` from the file name or folder contents."""
    if path.is_dir():
        if (path / "_delta_log").is_dir():
            return "delta"
        if any(path.glob("*.parquet")):
            return "parquet"
        if any(path.glob("*.csv")):
            return "csv"
        raise InputRejected(f"cannot tell the format of folder {path}; pass --format csv|parquet|delta")
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise InputRejected(f"cannot tell the format of {path.name}; pass --format csv|parquet|delta")
    return fmt


def read_source(spark: SparkSession, source: str | Path, fmt: str | None = None, delimiter: str = ",") -> DataFrame:
    """Read ``source``; CSV columns stay strings (parsing is the validator's job).

    Raises:
        InputRejected: the path is missing, unreadable, empty, or has no rows.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise InputRejected(f"input {path} not found")
    fmt = fmt or infer_format(path)
    if fmt not in FORMATS:
        raise InputRejected(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if path.is_file() and path.stat().st_size == 0:
        raise InputRejected(f"input {path} is empty (0 bytes)")
    try:
        if fmt == "csv":
            df = (
                spark.read.option("header", True)
                .option("inferSchema", False)
                .option("sep", delimiter)
                .option("mode", "PERMISSIVE")
                .option("multiLine", False)
                .csv(str(path))
            )
        elif fmt == "parquet":
            df = _read_parquet(spark, path)
        else:
            df = spark.read.format("delta").load(str(path))
        columns = df.columns
        has_rows = bool(df.take(1))
    except InputRejected:
        raise
    except Exception as exc:  # Spark raises many types for unreadable input
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InputRejected(f"cannot read {path} as {fmt}: {message}") from exc
    if not columns:
        raise InputRejected(f"input {path} has no columns (is it empty?)")
    if not has_rows:
        raise InputRejected(f"input {path} has a header but no rows")
    renamed = {c: c.strip() for c in columns if c != c.strip()}
    for old, new in renamed.items():
        df = df.withColumnRenamed(old, new)
    log.info("read %s (%s): columns %s", path, fmt, df.columns)
    return df


def _nanosecond_timestamp_columns(path: Path) -> list[str]:
    """Columns stored as nanosecond timestamps (pandas' default), which Spark cannot read as such."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sample = path if path.is_file() else next(iter(sorted(path.rglob("*.parquet"))), None)
    if sample is None:
        return []
    schema = pq.read_schema(sample)
    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]


def _read_parquet(spark: SparkSession, path: Path) -> DataFrame:
    """Parquet, with nanosecond timestamps (as pandas writes them) read as UTC microseconds."""
    from pyspark.sql import functions as F

    nanos = _nanosecond_timestamp_columns(path)
    if not nanos:
        return spark.read.parquet(str(path))
    # Spark can only read TIMESTAMP(NANOS) as a long count of nanoseconds; convert it back.
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    df = spark.read.parquet(str(path))
    for name in nanos:
        df = df.withColumn(name, F.timestamp_micros(F.floor(F.col(f"`{name}`") / 1000).cast("long")))
    log.info("read nanosecond timestamp column(s) %s of %s as UTC", nanos, path)
    return df


def apply_mapping(df: DataFrame, mapping: dict[str, str]) -> DataFrame:
    """Rename source columns to canonical names (``{source: canonical}``).

    A mapping whose source column is absent is ignored when the canonical column is already
    there; otherwise the missing-column check reports it.
    """
    for source_col, target in mapping.items():
        if source_col in df.columns and source_col != target:
            if target in df.columns:
                raise InputRejected(
                    f"column mapping {source_col} -> {target} clashes with an existing {target!r} column"
                )
            df = df.withColumnRenamed(source_col, target)
    return df


def require_columns(df: DataFrame, required: tuple[str, ...], source: str | Path, mapping: dict[str, str]) -> None:
    """Reject the input when a required column is missing, naming what was found."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        hint = ""
        if not mapping:
            hint = " (map source names in ltv.yaml: ingest: {column_mapping: {your_name: customer_id}})"
        raise InputRejected(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(f'`{m}`' for m in missing)} missing from "
            f"{Path(source).name} (found: {', '.join(df.columns)}){hint}"
        )
