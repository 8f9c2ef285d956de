"""Distributed training of the boosted models (``xgboost``, ``hybrid``) with ``xgboost.spark``.

Used by :meth:`ltv.models.boosted.boosters._BoostedLTV.fit` when ``TrainingData.example_frame``
is set (the training set is larger than the line's ``distributed_min_rows``; see
:func:`ltv.training.data.training_data`). Nothing customer-sized reaches the driver:

1. input columns and category levels from the Spark schema (``distinct`` of each categorical
   column: bounded by its number of levels);
2. ``hybrid``: the per-(cutoff, group) BTYD models are fitted on patterns condensed by Spark
   (``groupBy`` + count: bounded, as for the BTYD candidates; spend rounded to cents), the
   scoring BTYD(s) on ``TrainingData.patterns`` as in the local path;
3. the design matrix is built on the executors (``mapInPandas``) by the SAME pandas code as the
   local path (:mod:`ltv.models.boosted.encoding`, through the model's ``_design``): the model is
   rebuilt there from its class and a JSON description (hyperparameters, levels, BTYD
   parameters; no fitted state pickled), with categorical columns as their category codes
   (NaN = missing / unseen), persisted once;
4. each booster (spend, purchases, and the p10/p90 multi-quantile booster -- the same
   ``reg:quantileerror`` objective, so intervals get the same distributed treatment) is trained
   by ``SparkXGBRegressor`` with the local path's parameters, ``feature_names`` and
   ``feature_types`` (``c`` for categoricals), ``base_margin_col`` for the hybrid's anchor, on
   ``num_workers`` Spark tasks; ``get_booster()`` gives a plain :class:`xgboost.Booster`, stored
   in XGBoost's JSON format exactly like a locally trained one, so predict / save / load do not
   know the difference;
5. ``hybrid`` with ``anchor="btyd_total"``: the boosters' and the BTYD's totals (per group) are
   summed on the executors for the level factors, over the examples when no population is given;
   the net factor's label totals too.

Results differ slightly from the local path (XGBoost's distributed histogram sketch, row
order); the tests check they are close, not identical.

This module does not import the model classes (they import it): it works on any object with
the hooks of :class:`SparkTrainable`, which :class:`~ltv.models.boosted.boosters._BoostedLTV`
implements.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from ltv.models.base import TrainingData, json_default
from ltv.models.boosted.condense import HISTORY, REFUNDS, condensed_by_key
from ltv.models.boosted.encoding import finite_column, numeric_codes
from ltv.models.boosted.params import PARTS

if TYPE_CHECKING:
    import xgboost
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

TARGET_PREFIX = "__target_"
MARGIN_PREFIX = "__margin_"
GROUP_COLUMN = "__group"
#: rows of the examples used on the driver to learn the design's column names and types
PROBE_ROWS = 20


class SparkTrainable(Protocol):
    """What :func:`fit_distributed` needs of a boosted model (see ``_BoostedLTV`` for each hook)."""

    @property
    def name(self) -> str: ...

    nthread: int
    time_unit_: str
    horizon_days_: int
    feature_columns_: list[str]
    categories_: dict[str, list[str]]
    boosters_: dict[str, xgboost.Booster]
    trained_distributed_: bool

    def get_params(self) -> dict[str, Any]: ...
    def _check_data(self, data: TrainingData, columns: list[str]) -> None: ...
    def _start_fit(self, data: TrainingData, columns: list[str], is_numeric: Callable[[str], bool],
                   levels: Callable[[str], list[str]]) -> None: ...
    def _fit_scoring_extra(self, data: TrainingData) -> None: ...
    def _example_keys(self, columns: list[str]) -> list[str] | None: ...
    def _fit_example_models(self, condensed: dict[str, TrainingData]) -> dict[str, Any]: ...
    def _example_model_states(self, models: dict[str, Any]) -> dict[str, Any]: ...
    def _example_models_from_states(self, states: dict[str, Any]) -> dict[str, Any]: ...
    def _example_extra(self, rows: pd.DataFrame, models: dict[str, Any], keys: list[str] | None) -> pd.DataFrame: ...
    def _design(self, frame: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame: ...
    def _targets(self, examples: pd.DataFrame) -> dict[str, np.ndarray]: ...
    def _margins(self, extra: pd.DataFrame) -> dict[str, np.ndarray | None]: ...
    def _level_targets(self) -> dict[str, str]: ...
    def _group_values(self, frame: pd.DataFrame) -> np.ndarray: ...
    def _booster_params(self, part: str) -> tuple[dict[str, Any], int]: ...
    def _set_level_factors(self, totals: pd.DataFrame | None) -> None: ...
    def _population_totals(self, data: TrainingData) -> pd.DataFrame | None: ...
    def _net_factor(self, net_total: float, trained_total: float) -> float: ...


Trainable = TypeVar("Trainable", bound=SparkTrainable)


def fit_distributed(model: Trainable, data: TrainingData) -> Trainable:
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
    model_class = type(model)  # shipped to the executors by reference (module and name), like a function
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
    probe = design_rows(model_class, shell, frame.limit(PROBE_ROWS).toPandas(), with_targets=True)
    names = [c for c in probe.columns if not c.startswith("__")]
    feature_types = ["c" if c in model.categories_ and model.categories_[c] else "float" for c in names]
    schema = StructType([
        StructField(c, StringType() if c == GROUP_COLUMN else DoubleType(), True) for c in probe.columns
    ])
    shell_json = json.dumps(shell, default=json_default)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        document = json.loads(shell_json)
        for batch in batches:
            if len(batch):
                yield design_rows(model_class, document, batch, with_targets=True)[list(schema.names)]

    design = frame.mapInPandas(run, schema).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_rows = design.count()
        workers = int(data.spark_workers or spark.sparkContext.defaultParallelism)
        workers = max(1, min(workers, n_rows))
        log.info("%s: training on %d examples with xgboost.spark (%d workers)", model.name, n_rows, workers)
        margins = {c[len(MARGIN_PREFIX):] for c in schema.names if c.startswith(MARGIN_PREFIX)}
        model.boosters_ = {}
        for part in PARTS:
            params, rounds = model._booster_params(part)
            model.boosters_[part] = _train_booster(
                design, names, feature_types, f"{TARGET_PREFIX}{part}",
                f"{MARGIN_PREFIX}{part}" if part in margins else None, params, rounds, workers,
            )
            model.boosters_[part].set_param({"nthread": int(model.nthread)})
        labels = design.agg(*[F.sum(f"{TARGET_PREFIX}{part}").alias(part) for part in ("interval", "spend")],
                            F.min(f"{TARGET_PREFIX}interval").alias("lowest")).first()
        model.interval_floor_ = min(0.0, float(labels["lowest"] if labels["lowest"] is not None else 0.0))
        model.net_factor_ = model._net_factor(float(labels["interval"] or 0.0), float(labels["spend"] or 0.0))
        population = model._population_totals(data)
        model._set_level_factors(population if population is not None else _spark_totals(model, design, names, feature_types))
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


def design_rows(model_class: Callable[..., SparkTrainable], shell: dict[str, Any], rows: pd.DataFrame,
                with_targets: bool) -> pd.DataFrame:
    """Example ``rows`` -> numeric design columns (categoricals as codes, NaN = missing), targets, margins, group.

    Runs on the executors; ``shell`` is the JSON description of the ``model_class`` model being fitted.
    """
    model = model_class(**shell["params"])
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
    out = numeric_codes(model._design(rows, extra))
    if with_targets:
        for part, target in model._targets(rows).items():
            out[f"{TARGET_PREFIX}{part}"] = target
        for part, margin in model._margins(extra).items():
            if margin is not None:
                out[f"{MARGIN_PREFIX}{part}"] = margin
        for col in model._level_targets().values():
            out[f"__level_{col}"] = finite_column(extra, col, model.name)
    out[GROUP_COLUMN] = model._group_values(rows)
    return out


def _spark_totals(model: SparkTrainable, design, names: list[str], feature_types: list[str]) -> pd.DataFrame | None:
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

    key_cols = [F.col(k).cast("string").alias(k) for k in keys]
    history = frame.select(*key_cols, *[F.coalesce(F.col(c).cast("double"), F.lit(0.0)).alias(c) for c in HISTORY])
    patterns = history.groupBy(*keys, "frequency", "recency", "T").agg(F.count(F.lit(1)).alias("weight")).toPandas()
    spend = (
        history.where((F.col("frequency") > 0) & (F.col("monetary_value") > 0))
        .groupBy(*keys, "frequency", F.round("monetary_value", 2).alias("monetary_value"))
        .agg(F.count(F.lit(1)).alias("weight"))
        .toPandas()
    )
    refunds = None
    if all(c in frame.columns for c in REFUNDS):
        totals = [F.sum(F.col(c).cast("double")).alias(c) for c in REFUNDS]
        refunds = (frame.select(*key_cols, *REFUNDS).groupBy(*keys).agg(*totals) if keys
                   else frame.agg(*totals)).toPandas()
    sort = [*keys, "frequency", "recency", "T"]
    patterns = patterns.sort_values(sort).reset_index(drop=True)
    spend = spend.sort_values([*keys, "frequency", "monetary_value"]).reset_index(drop=True)
    return condensed_by_key(patterns, spend, keys, data.time_unit, data.horizon_days, refunds)

