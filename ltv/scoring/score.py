"""``ltv score``: every customer of the ``as_of`` snapshot scored with the line's champion.

* Only a promoted model (MLflow alias ``champion``) can score; a line without one is refused
  with the command that promotes one.
* Predictions run on the executors (:func:`ltv.scoring.predict.predict_spark`); nothing
  customer-sized reaches the driver.
* The (business_line, as_of) partition of ``customer_ltv`` is replaced atomically
  (``replaceWhere``), so re-scoring a date never duplicates rows and lines can be scored by
  concurrent jobs (disjoint partitions).
* Discounted LTV (when the line has ``discount_rate`` > 0): each customer's forecast spend is
  spread over the horizon along the model's expected purchase path (uniformly for models without
  one) and continuously discounted at the annual rate (:mod:`ltv.models.timing` states the
  convention); ``discounted_ltv = predicted_ltv x`` that customer's factor.
* What aggregation needs: ``predicted_ltv_variance`` (the predictive variance of the horizon's
  spend, see :meth:`LTVModel.predict <ltv.models.base.LTVModel.predict>`) and
  ``predicted_ltv_by_period`` (expected spend per period of
  :func:`~ltv.models.timing.period_edges`, along the same path): totals over any set of customers
  are sums of both.
* Profit: a line with a ``margin_rate`` also gets ``discounted_profit = discounted_ltv x
  margin_rate``; the revenue columns keep their meaning.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ltv.config import FeatureSettings, LTVConfig, validate_name
from ltv.errors import LTVError
from ltv.features.pipeline import build_snapshot
from ltv.features.schema import TABLE_NAME as FEATURES_TABLE
from ltv.features.schema import day_start, known_at
from ltv.lake.io import Lake
from ltv.lake.tables import CUSTOMER_LTV
from ltv.models.timing import present_value_weights
from ltv.scoring.predict import DISCOUNT_FACTOR, SPEND_BY_PERIOD, predict_spark
from ltv.training.registry import ModelRegistry

log = logging.getLogger(__name__)


class FeatureSpecMismatch(LTVError):
    """The stored snapshot was built with other settings than the model was trained on (exit 2)."""

    exit_code = 2


class BrokenModelOutput(LTVError):
    """The model's predictions broke the contract (NaN, inf, ...); nothing was written (exit 1)."""


@dataclass
class ScoreResult:
    line: str
    as_of: dt.date
    rows: int
    model_name: str
    model_version: str
    features_version: int | None
    table_version: int | None


def discount_factor(annual_rate: float, horizon_days: int) -> float:
    """Present value of 1 spent uniformly over the horizon (1.0 for a zero rate):
    ``(1 - (1 + r)^-h) / (h ln(1 + r))`` with ``h = horizon_days / 365``. A negative or non-finite
    rate raises ValueError."""
    return float(present_value_weights(np.array([0.0, float(horizon_days)]), annual_rate)[0])


def score_line(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    line: str,
    as_of: dt.date,
    horizon_days: int | None = None,
    registry: ModelRegistry | None = None,
) -> ScoreResult:
    """Score one line's ``as_of`` snapshot into ``customer_ltv``."""
    validate_name(line, "business line")
    settings = config.line(line)
    horizon = int(horizon_days or settings.horizon_days)
    registry = registry or ModelRegistry(lake.root)
    # the model trained as of `as_of` or earlier (never a later one); refuses a line without one
    model, info = registry.load_champion(line, as_of)
    time_unit = getattr(model, "time_unit_", settings.time_unit)

    features_version = lake.version(FEATURES_TABLE)
    snapshot = None
    if features_version is not None:
        stored = lake.read(FEATURES_TABLE, version=features_version).where(
            (F.col("business_line") == line) & (F.col("as_of") == F.lit(as_of)))
        units = [r[0] for r in stored.select("time_unit").distinct().collect()]
        if units and time_unit not in units:
            raise FeatureSpecMismatch(
                f"{line}: the stored {as_of} snapshot is in {units[0]} but {info.model_name} v{info.version} was "
                f"trained on {time_unit}; set `time_unit: {time_unit}` for the line (or retrain) and run "
                f"`ltv features --as-of {as_of} --business-line {line}` (it replaces that snapshot)")
        if units:
            snapshot = stored
    if snapshot is None:
        log.info("no stored %s snapshot for %s at %s: building it from transactions", time_unit, line, as_of)
        features_version = None
        tx = lake.read("transactions").where((F.col("business_line") == line) & known_at(as_of))
        customers = lake.read("customers").where(F.col("business_line") == line) if lake.exists("customers") else None
        snapshot = build_snapshot(
            tx, as_of,
            FeatureSettings(time_unit=time_unit, windows_days=config.features.windows_days,
                            attributes=config.features.attributes),
            customers,
        )

    rate = settings.discount_rate
    predictions = predict_spark(model, snapshot, horizon, keep=("business_line", "customer_id", "as_of", "entity_key"),
                                discount_rate=rate if rate > 0 else None, periods=True)
    factor = F.col(DISCOUNT_FACTOR) if rate > 0 else F.lit(1.0)
    scored_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    rows = predictions.select(
        "business_line",
        "customer_id",
        "as_of",
        F.lit(horizon).cast("int").alias("horizon_days"),
        "predicted_ltv",
        "predicted_ltv_p10",
        "predicted_ltv_p90",
        "predicted_purchases",
        "p_alive",
        (F.col("predicted_ltv") * factor).alias("discounted_ltv"),
        F.lit(info.model_name).alias("model_name"),
        F.lit(info.version).alias("model_version"),
        F.lit(features_version).cast("long").alias("features_version"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
        "entity_key",
        (day_start(as_of + dt.timedelta(days=1)) - F.expr("INTERVAL 1 MICROSECOND")).alias("event_timestamp"),
        # confirmed / provisional (null: registered before the gate recorded statuses)
        F.lit(info.tags.get("ltv.status")).cast("string").alias("model_status"),
        "predicted_ltv_p50",
        "prob_purchase",
        "predicted_ltv_variance",
        SPEND_BY_PERIOD,
        # profit instead of revenue where the line states its margin (null otherwise)
        (F.col("predicted_ltv") * factor * F.lit(settings.margin_rate)).cast("double").alias("discounted_profit"),
    )
    predicate = f"business_line = '{line}' AND as_of = DATE'{as_of.isoformat()}'"
    try:
        lake.replace_where(CUSTOMER_LTV.name, rows, predicate)
    except Exception as exc:  # a model that breaks its contract fails inside the write's tasks: nothing is committed
        if "broke the prediction contract" not in str(exc):
            raise
        found = re.search(r"ModelOutputError: (model .*)", str(exc))
        detail = found.group(1) if found else str(exc).splitlines()[0]
        raise BrokenModelOutput(f"{line} {as_of}: {info.model_name} v{info.version}: {detail}; "
                                f"nothing was written to {CUSTOMER_LTV.name}") from None
    version = lake.version(CUSTOMER_LTV.name)
    count = (lake.rows_added(CUSTOMER_LTV.name, version, "business_line") or {}).get(line)
    if count is None:  # another line committed in between, or no file statistics: count the partition
        count = lake.read(CUSTOMER_LTV.name, version=version).where(predicate).count()
    log.info("scored %s %s: %d customers with %s v%s", line, as_of, count, info.model_name, info.version)
    return ScoreResult(line, as_of, count, info.model_name, info.version, features_version, version)


def score(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    as_of: dt.date,
    horizon_days: int | None = None,
    business_lines: list[str] | None = None,
) -> list[ScoreResult]:
    """:func:`score_line` for each line (default: every line that has a champion)."""
    registry = ModelRegistry(lake.root)
    lines = business_lines or [line for line in registry.lines() if registry.champion(line) is not None]
    if not lines:
        raise LTVError("no business line has a promoted model yet; run `ltv train --as-of DATE` first")
    return [score_line(spark, lake, config, line, as_of, horizon_days, registry) for line in lines]
