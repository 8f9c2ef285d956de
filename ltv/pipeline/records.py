"""The ``pipeline_runs`` lake table: what each ``ltv run`` step did, and why.

One row per (run, step, business line): ``status`` is ``ran``, ``skipped`` or ``failed``,
``reason`` says why in words, ``seconds`` how long it took, ``versions`` (JSON text) what it read
or wrote (Delta versions, MLflow run, champion version). Steps that cover the whole lake
(``materialize``) use business line ``*``. Rows are written with one MERGE per date on
(``run_id``, ``step``, ``business_line``), so writing the same records twice keeps one copy.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ltv.lake.io import Lake
from ltv.lake.tables import TableSpec, register

ALL_LINES = "*"
STEPS = ("features", "train", "score", "materialize")
STATUSES = ("ran", "skipped", "failed")

PIPELINE_RUNS = register(
    TableSpec(
        name="pipeline_runs",
        schema=StructType(
            [
                StructField("run_id", StringType(), False),
                StructField("as_of", DateType(), False),
                StructField("step", StringType(), False),
                StructField("business_line", StringType(), False),
                StructField("status", StringType(), False),
                StructField("reason", StringType(), False),
                StructField("seconds", DoubleType(), False),
                StructField("versions", StringType(), False),
                StructField("forced", BooleanType(), False),
                StructField("recorded_at", TimestampType(), False),
            ]
        ),
        key=("run_id", "step", "business_line"),
        description="ltv run: one row per (run, step, business line): ran/skipped/failed, reason, seconds, versions",
    )
)


@dataclass
class StepRecord:
    """What one step did for one business line (``*`` = the whole lake) on one date."""

    as_of: dt.date
    step: str
    business_line: str
    status: str
    reason: str
    seconds: float = 0.0
    versions: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(), "step": self.step, "business_line": self.business_line,
            "status": self.status, "reason": self.reason, "seconds": round(self.seconds, 2),
            "versions": self.versions,
        }


def write_records(lake: Lake, run_id: str, records: list[StepRecord], forced: bool) -> None:
    """Add ``records`` of run ``run_id`` to ``pipeline_runs`` (one Delta commit)."""
    if not records:
        return
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = [
        (run_id, r.as_of, r.step, r.business_line, r.status, r.reason[:4000], float(r.seconds),
         json.dumps(r.versions, sort_keys=True, default=str), bool(forced), now)
        for r in records
    ]
    frame = lake.spark.createDataFrame(rows, PIPELINE_RUNS.schema)
    lake.merge_insert_new(PIPELINE_RUNS.name, frame)


def last_materialized(lake: Lake) -> list[dict[str, Any]]:
    """``versions`` (parsed) and ``as_of`` of every successful ``materialize`` step, newest first.

    Bounded: one row per pipeline run that materialized.
    """
    from pyspark.sql import functions as F

    if not lake.exists(PIPELINE_RUNS.name):
        return []
    rows = (
        lake.read(PIPELINE_RUNS.name)
        .where((F.col("step") == "materialize") & (F.col("status") == "ran"))
        .select("as_of", "versions", "recorded_at")
        .orderBy(F.col("recorded_at").desc())
        .collect()
    )
    return [{"as_of": r["as_of"], "versions": json.loads(r["versions"])} for r in rows]
