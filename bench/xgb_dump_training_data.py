"""Dump one line's back-test TrainingData + evaluation snapshot to parquet for fast model iteration.

Usage: .venv/bin/python bench/xgb_dump_training_data.py LAKE LINE AS_OF HORIZON OUT_DIR

Writes OUT_DIR/{patterns,spend_patterns,examples,eval}.parquet and meta.json (time unit,
horizon, feature columns). ``eval`` is the snapshot at V = AS_OF - HORIZON with labels in
(V, AS_OF], exactly what ``ltv train`` scores candidates on.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from ltv.config import FeatureSettings, load_config
from ltv.lake.io import Lake
from ltv.runtime.session import get_spark
from ltv.training.data import KnownData, training_data


def main(lake_root: str, line: str, as_of_text: str, horizon_text: str, out_text: str) -> None:
    config = load_config(None)
    settings = config.line(line)
    spark = get_spark(config.spark)
    lake = Lake(spark, Path(lake_root))
    as_of, horizon, out = dt.date.fromisoformat(as_of_text), int(horizon_text), Path(out_text)
    out.mkdir(parents=True, exist_ok=True)
    tx = lake.read("transactions")
    customers = lake.read("customers") if lake.version("customers") is not None else None
    feature_settings = FeatureSettings(
        time_unit=settings.time_unit, windows_days=config.features.windows_days, attributes=config.features.attributes
    )
    known = KnownData.from_frames(line, as_of, tx, customers, feature_settings)
    cutoff = as_of - dt.timedelta(days=horizon)
    data = training_data(known, cutoff, horizon, True, n_cutoffs=settings.training_cutoffs,
                         step_days=settings.cutoff_step_days)
    data.patterns.to_parquet(out / "patterns.parquet")
    data.spend_patterns.to_parquet(out / "spend_patterns.parquet")
    data.examples.to_parquet(out / "examples.parquet")
    known.labelled(cutoff, horizon).toPandas().to_parquet(out / "eval.parquet")
    (out / "meta.json").write_text(json.dumps({
        "time_unit": data.time_unit, "horizon_days": horizon, "feature_columns": data.feature_columns,
        "extra": data.extra,
    }, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:6])
