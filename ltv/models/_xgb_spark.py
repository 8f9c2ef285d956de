"""Distributed training of the boosted models (``xgboost``, ``hybrid``) with ``xgboost.spark``.

Used by :meth:`ltv.models.xgb._BoostedLTV.fit` when ``TrainingData.example_frame`` is set (the
training set is larger than the line's ``distributed_min_rows``; see
:func:`ltv.training.data.training_data`). Nothing customer-sized reaches the driver:

1. input columns and category levels from the Spark schema (``distinct`` of each categorical
   column: bounded by its number of levels);
2. ``hybrid``: the per-(cutoff, group) BTYD models are fitted on patterns condensed by Spark
   (``groupBy`` + count: bounded, as for the BTYD candidates; spend rounded to cents), the
   scoring BTYD(s) on ``TrainingData.patterns`` as in the local path;
3. the design matrix is built on the executors (``mapInPandas``) by the SAME pandas code as the
   local path (:meth:`_BoostedLTV._design`), rebuilt there from JSON (hyperparameters, levels,
   BTYD parameters; nothing pickled), with categorical columns as their category codes
   (NaN = missing / unseen), persisted once;
4. each booster (spend, purchases, and the p10/p90 multi-quantile booster -- the same
   ``reg:quantileerror`` objective, so intervals get the same distributed treatment) is trained
   by ``SparkXGBRegressor`` with the local path's parameters, ``feature_names`` and
   ``feature_types`` (``c`` for categoricals), ``base_margin_col`` for the hybrid's anchor, on
   ``num_workers`` Spark tasks; ``get_booster()`` gives a plain :class:`xgboost.Booster`, stored
   in XGBoost's JSON format exactly like a locally trained one, so predict / save / load do not
   know the difference;
5. ``hybrid`` with ``anchor="btyd_total"``: the boosters' and the BTYD's totals over the
   examples (per group) are summed on the executors for the level factors.

Results differ slightly from the local path (XGBoost's distributed histogram sketch, row
order); the tests check they are close, not identical.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ltv.models.base import TrainingData

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ltv.models.xgb import _BoostedLTV

log = logging.getLogger(__name__)

TARGET_PREFIX = "__target_"
MARGIN_PREFIX = "__margin_"
GROUP_COLUMN = "__group"
#: rows of the examples used on the driver to learn the design's column names and types
PROBE_ROWS = 20


def fit_distributed(model: _BoostedLTV, data: TrainingData) -> _BoostedLTV:
    """Fit ``model``'s boosters on ``data.example_frame`` with ``xgboost.spark`` (see module docstring)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, DoubleType, NumericType, StringType, StructField, StructType

    frame: DataFrame = data.example_frame
    spark = frame.sparkSession
    columns = list(frame.columns)
    model._check_data(data, columns)
    types = {f.name: f.dataType for f in frame.schema.fields}

    def is_numeric(col: str) -> bool:
        return isinstance(types[col], (NumericType, BooleanType))

    def levels(col: str) -> list[str]:
        rows = frame.where(F.col(col).isNotNull()).select(F.col(col).cast("string").alias("v")).distinct().collect()
        return sorted(r["v"] for r in rows)

    model._start_fit(data, columns, is_numeric, levels)
    model._fit_scoring_extra(data)
    keys = model._example_keys(columns)
    example_models = model._fit_example_models(condense_examples_spark(frame, keys, data)) if keys is not None else {}
    shell = {
        "model": model.name,
        "params": model.get_params(),
        "time_unit": model.time_unit_,
        "horizon_days": model.horizon_days_,
        "feature_columns": model.feature_columns_,
        "categories": model.categories_,
        "keys": keys,
        "example_models": model._example_model_states(example_models),
    }
    probe = design_rows(shell, frame.limit(PROBE_ROWS).toPandas(), with_targets=True)
    names = [c for c in probe.columns if not c.startswith("__")]
    feature_types = ["c" if c in model.categories_ and model.categories_[c] else "float" for c in names]
    schema = StructType([
        StructField(c, StringType() if c == GROUP_COLUMN else DoubleType(), True) for c in probe.columns
    ])
    shell_json = json.dumps(shell, default=_json_default)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        document = json.loads(shell_json)
        for batch in batches:
            if len(batch):
                yield design_rows(document, batch, with_targets=True)[list(schema.names)]

    design = frame.mapInPandas(run, schema).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_rows = design.count()
        workers = int(data.spark_workers or spark.sparkContext.defaultParallelism)
        workers = max(1, min(workers, n_rows))
        log.info("%s: training on %d examples with xgboost.spark (%d workers)", model.name, n_rows, workers)
        margins = {c[len(MARGIN_PREFIX):] for c in schema.names if c.startswith(MARGIN_PREFIX)}
        model.boosters_ = {}
        for part in ("spend", "purchases", "interval"):
            params, rounds = model._booster_params(part)
            model.boosters_[part] = _train_booster(
                design, names, feature_types, f"{TARGET_PREFIX}{part}",
                f"{MARGIN_PREFIX}{part}" if part in margins else None, params, rounds, workers,
            )
            model.boosters_[part].set_param({"nthread": int(model.nthread)})
        model._set_level_factors(_spark_totals(model, design, names, feature_types))
    finally:
        design.unpersist()
    model.trained_distributed_ = True
    return model


def _train_booster(design, names: list[str], feature_types: list[str], label: str, margin: str | None,
                   params: dict[str, Any], rounds: int, workers: int):
    """One ``SparkXGBRegressor`` fit; returns its :class:`xgboost.Booster`."""
    from xgboost.spark import SparkXGBRegressor

    booster_params = {k: v for k, v in params.items() if k != "nthread"}  # xgboost.spark: nthread = spark.task.cpus
    estimator = SparkXGBRegressor(
        features_col=names, label_col=label, base_margin_col=margin, num_workers=workers,
        feature_names=names, feature_types=feature_types, n_estimators=int(rounds), missing=float("nan"),
        **booster_params,
    )
    return estimator.fit(design).get_booster()


def design_rows(shell: dict[str, Any], rows: pd.DataFrame, with_targets: bool) -> pd.DataFrame:
    """Example ``rows`` -> numeric design columns (categoricals as codes, NaN = missing), targets, margins, group.

    Runs on the executors; ``shell`` is the JSON description of the model being fitted.
    """
    from ltv.models.registry import get_model_class

    model = get_model_class(shell["model"])(**shell["params"])
    model.time_unit_ = shell["time_unit"]
    model.horizon_days_ = int(shell["horizon_days"])
    model.feature_columns_ = list(shell["feature_columns"])
    model.categories_ = {k: list(v) for k, v in shell["categories"].items()}
    rows = rows.reset_index(drop=True)
    keys = shell["keys"]
    if keys is None:
        extra = pd.DataFrame(index=rows.index)
    else:
        extra = model._example_extra(rows, model._example_models_from_states(shell["example_models"]), keys)
    matrix = model._design(rows, extra)
    out = pd.DataFrame(index=rows.index)
    for col in matrix.columns:
        values = matrix[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy(dtype=float)
            out[col] = np.where(codes < 0, np.nan, codes)
        else:
            out[col] = values.to_numpy(dtype=float)
    if with_targets:
        for part, target in model._targets(rows).items():
            out[f"{TARGET_PREFIX}{part}"] = target
        for part, margin in model._margins(extra).items():
            if margin is not None:
                out[f"{MARGIN_PREFIX}{part}"] = margin
        for col in model._level_targets().values():
            out[f"__level_{col}"] = extra[col].to_numpy(dtype=float)
    out[GROUP_COLUMN] = model._group_values(rows)
    return out


def _spark_totals(model: _BoostedLTV, design, names: list[str], feature_types: list[str]) -> pd.DataFrame | None:
    """Per group: boosters' total forecast and the level target columns' totals (summed by Spark)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    targets = model._level_targets()
    if not targets:
        return None
    boosters = {part: bytes(model.boosters_[part].save_raw("json")).decode() for part in targets}
    shipped = design.sparkSession.sparkContext.broadcast(boosters)
    out_schema = StructType([StructField(GROUP_COLUMN, StringType(), True)]
                            + [StructField(part, DoubleType(), True) for part in targets]
                            + [StructField(col, DoubleType(), True) for col in targets.values()])

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import xgboost as xgb

        loaded = {}
        for part, text in shipped.value.items():
            loaded[part] = xgb.Booster()
            loaded[part].load_model(bytearray(text.encode()))
            loaded[part].set_param({"nthread": 1})
        for batch in batches:
            if not len(batch):
                continue
            result = pd.DataFrame({GROUP_COLUMN: batch[GROUP_COLUMN]})
            features = batch[names].to_numpy(dtype=float)
            for part, target in targets.items():
                margin = batch[f"{MARGIN_PREFIX}{part}"].to_numpy(dtype=float) if f"{MARGIN_PREFIX}{part}" in batch else None
                dmatrix = xgb.DMatrix(features, base_margin=margin, feature_names=names, feature_types=feature_types,
                                      enable_categorical=True, missing=np.nan)
                result[part] = loaded[part].predict(dmatrix).astype(float)
                result[target] = batch[f"__level_{target}"].to_numpy(dtype=float)
            yield result

    sums = (
        design.mapInPandas(run, out_schema)
        .groupBy(GROUP_COLUMN)
        .agg(*[F.sum(c).alias(c) for c in out_schema.names if c != GROUP_COLUMN])
        .toPandas()
    )
    return sums.fillna({GROUP_COLUMN: ""}).set_index(GROUP_COLUMN)


def condense_examples_spark(frame, keys: list[str], data: TrainingData) -> dict[str, TrainingData]:
    """Per example key: condensed BTYD patterns counted by Spark (spend rounded to cents)."""
    from pyspark.sql import functions as F

    from ltv.models.xgb import HISTORY, condensed_by_key

    key_cols = [F.col(k).cast("string").alias(k) for k in keys]
    history = frame.select(*key_cols, *[F.coalesce(F.col(c).cast("double"), F.lit(0.0)).alias(c) for c in HISTORY])
    patterns = history.groupBy(*keys, "frequency", "recency", "T").agg(F.count(F.lit(1)).alias("weight")).toPandas()
    spend = (
        history.where((F.col("frequency") > 0) & (F.col("monetary_value") > 0))
        .groupBy(*keys, "frequency", F.round("monetary_value", 2).alias("monetary_value"))
        .agg(F.count(F.lit(1)).alias("weight"))
        .toPandas()
    )
    sort = [*keys, "frequency", "recency", "T"]
    patterns = patterns.sort_values(sort).reset_index(drop=True)
    spend = spend.sort_values([*keys, "frequency", "monetary_value"]).reset_index(drop=True)
    return condensed_by_key(patterns, spend, keys, data.time_unit, data.horizon_days)


def _json_default(value: Any) -> Any:
    from ltv.models.base import _json_default as base_default

    return base_default(value)
