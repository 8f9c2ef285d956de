"""``ltv export scores``: one ``customer_ltv`` snapshot as a single CSV or Parquet file.

Written by Spark (one partition, then moved into place), so nothing customer-sized passes
through the driver's Python process. CSV has no arrays: there ``predicted_ltv_by_period`` is a
JSON list (``[12.5,9.75,...]``); Parquet keeps it a list of doubles.
"""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from pyspark.sql import functions as F

from ltv.errors import ConfigError, LTVError
from ltv.lake.io import Lake
from ltv.lake.tables import CUSTOMER_LTV

EXPORT_COLUMNS = [
    f.name for f in CUSTOMER_LTV.schema.fields if f.name not in ("entity_key", "event_timestamp")
]


def export_scores(lake: Lake, as_of: dt.date, out: str | Path, business_lines: list[str] | None = None) -> int:
    """Write the ``as_of`` scores to ``out`` (``.csv`` or ``.parquet``); return the row count."""
    out = Path(out).expanduser().resolve()
    fmt = {".csv": "csv", ".parquet": "parquet"}.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(f"--out must end in .csv or .parquet, got {out.name}")
    if not lake.exists(CUSTOMER_LTV.name):
        raise LTVError("no customer_ltv table yet; run `ltv score --as-of DATE` first")
    frame = lake.read(CUSTOMER_LTV.name).where(F.col("as_of") == F.lit(as_of))
    if business_lines:
        frame = frame.where(F.col("business_line").isin(business_lines))
    rows = frame.count()
    if rows == 0:
        raise LTVError(f"no scores for as_of {as_of}; run `ltv score --as-of {as_of}` first")
    frame = frame.select(*EXPORT_COLUMNS)
    if fmt == "csv":
        arrays = [f.name for f in frame.schema.fields if f.dataType.typeName() == "array"]
        frame = frame.withColumns({name: F.to_json(name) for name in arrays})
    frame = frame.orderBy("business_line", "customer_id").coalesce(1)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        target = Path(tmp) / "spark"
        writer = frame.write.mode("overwrite")
        if fmt == "csv":
            writer.option("header", True).csv(str(target))
        else:
            writer.parquet(str(target))
        parts = sorted(target.glob(f"part-*.{fmt}")) or sorted(target.glob("part-*"))
        if len(parts) != 1:
            raise LTVError(f"expected one output file from Spark, found {len(parts)}")
        shutil.move(str(parts[0]), out)
    return rows
