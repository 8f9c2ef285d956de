"""Back-test candidate models on a dump from bench/xgb_dump_training_data.py, in pure pandas.

Usage: .venv/bin/python bench/xgb_models.py DUMP_DIR [model[:key=value;...] ...]
Prints gini / rmse / bias / coverage per model, side by side (same metrics as ``ltv train``).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

from ltv.evaluation.metrics import evaluate
from ltv.models.base import TrainingData
from ltv.models.registry import create_model


def parse(spec: str) -> tuple[str, dict]:
    name, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return name, params


def main(dump: str, specs: list[str]) -> None:
    root = Path(dump)
    meta = json.loads((root / "meta.json").read_text())
    data = TrainingData(
        time_unit=meta["time_unit"], horizon_days=meta["horizon_days"],
        patterns=pd.read_parquet(root / "patterns.parquet"),
        spend_patterns=pd.read_parquet(root / "spend_patterns.parquet"),
        examples=pd.read_parquet(root / "examples.parquet"),
        feature_columns=meta["feature_columns"],
    )
    evaluation = pd.read_parquet(root / "eval.parquet")
    actual = evaluation["label_spend"].to_numpy(dtype=float)
    rows = []
    for spec in specs or ["baseline", "bgnbd_gg", "xgboost", "hybrid"]:
        name, params = parse(spec)
        start = time.time()
        model = create_model(name, **params).fit(data)
        out = model.predict(evaluation, meta["horizon_days"])
        m = evaluate(actual, out["predicted_ltv"].to_numpy(float), out["predicted_ltv_p10"].to_numpy(float),
                     out["predicted_ltv_p90"].to_numpy(float))
        rows.append({"model": spec[:60], **{k: m[k] for k in ("gini", "rmse", "mae", "bias", "spearman") if k in m},
                     **{k: v for k, v in m.items() if "coverage" in k}, "seconds": round(time.time() - start, 1)})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
