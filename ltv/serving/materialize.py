"""Push the latest feature snapshot (and latest scores) of every customer to the online store.

How, and why this way
---------------------
Feast 0.67's Spark materialization engine (``batch_engine: spark.engine``) with
``materialization: {pull_latest_features: true}`` (both in ``feature_repo/feature_store.yaml``)
does what we need without the driver ever holding the table:

1. the Spark offline store selects the latest row per ``entity_key`` in Spark SQL
   (``ROW_NUMBER() OVER (PARTITION BY entity_key ORDER BY event_timestamp DESC)``), with
   partition pruning on ``as_of``;
2. the executors write their partitions to the online store with ``mapInArrow``, in batches of
   ``online_write_batch_size`` rows; the driver only triggers a ``count()``.

The default (local) engine would instead convert the whole pull to one Arrow table on the driver.
The row counts reported are computed by one extra Spark aggregation per view (distinct
``entity_key`` in the materialized interval), not by collecting rows.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import sys
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ltv.config import LTVConfig
from ltv.errors import LTVError
from ltv.lake.io import Lake
from ltv.serving.definitions import FEATURES_VIEW, SCORES_VIEW, TIMESTAMP_FIELD
from ltv.serving.store import feast_session, feature_store, online_store_description, quiet_feast

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class NothingToServe(LTVError):
    """The lake has no ``customer_features`` table yet."""

    exit_code = 1


@dataclass(frozen=True)
class MaterializeResult:
    """Rows (= customers) pushed per feature view, the interval and the online store."""

    rows: dict[str, int] = field(default_factory=dict)
    start: dt.datetime = EPOCH
    end: dt.datetime = EPOCH
    online_store: str = ""
    registry: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": dict(self.rows),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "online_store": self.online_store,
            "registry": self.registry,
        }


def _utc_from_micros(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=int(micros))


def _latest_timestamp(lake: Lake, table: str) -> dt.datetime | None:
    """Largest ``event_timestamp`` of ``table`` as an aware UTC datetime (None when empty).

    Read as epoch microseconds: collecting a Spark timestamp gives a naive datetime in the
    Python process's local zone, which is wrong whenever that zone is not UTC.
    """
    row = lake.read(table).agg(F.max(F.unix_micros(F.col(TIMESTAMP_FIELD))).alias("m")).first()
    return None if row is None or row["m"] is None else _utc_from_micros(row["m"])


def _customers_in(lake: Lake, table: str, end: dt.datetime) -> int:
    cutoff = F.lit(int((end - EPOCH) / dt.timedelta(microseconds=1)))
    return int(
        lake.read(table)
        .where(F.unix_micros(F.col(TIMESTAMP_FIELD)) <= cutoff)
        .select("entity_key")
        .distinct()
        .count()
    )


def materialize(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig | None = None,
    store=None,
    end: dt.datetime | None = None,
) -> MaterializeResult:
    """Write the latest ``customer_features`` row and latest ``customer_ltv`` row per customer online.

    Args:
        spark: ltv's SparkSession (Feast reuses it).
        lake: the lake; Feast state is under ``<lake>/feast/``.
        config: ltv config (feature windows); defaults if None.
        store: a ``FeatureStore`` from :func:`ltv.serving.store.feature_store` (built and applied if None).
        end: materialize snapshots stamped up to this instant (aware; default: the latest in the lake).

    Returns:
        :class:`MaterializeResult` with customers pushed per view. ``customer_ltv`` is created empty
        if scoring has not run yet (0 rows pushed).

    Raises:
        NothingToServe: ``customer_features`` does not exist (run ``ltv features`` first).
    """
    if not lake.exists(FEATURES_VIEW):
        raise NothingToServe(
            f"no customer_features table under {lake.root}; run `ltv features --as-of DATE` first"
        )
    config = config or LTVConfig()
    if store is None:
        store = feature_store(lake.root, spark, config)
    views = [FEATURES_VIEW, SCORES_VIEW] if lake.exists(SCORES_VIEW) else [FEATURES_VIEW]
    for view in views:
        lake.ensure(view)  # a table of an earlier release gains the columns the views serve (null in old rows)
    if end is None:
        latest = [ts for ts in (_latest_timestamp(lake, v) for v in views) if ts is not None]
        end = max(latest) if latest else dt.datetime.now(dt.timezone.utc)
    elif end.tzinfo is None:
        raise ValueError("end must be timezone-aware (UTC)")
    log.info("materializing %s for snapshots up to %s", views, end.isoformat())
    # Feast prints progress (and warnings) itself: keep stdout for the caller's output, show the
    # chatter on stderr only when the caller asked for detail (-v), drop it otherwise.
    chatter = sys.stderr if log.isEnabledFor(logging.INFO) else io.StringIO()
    with feast_session(spark), quiet_feast(), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
        store.materialize(start_date=EPOCH, end_date=end, feature_views=views)
    rows = {view: _customers_in(lake, view, end) for view in views}
    log.info("materialized %s", rows)
    return MaterializeResult(
        rows=rows,
        start=EPOCH,
        end=end,
        online_store=online_store_description(store.config),
        registry=str(store.config.registry.path),
    )
