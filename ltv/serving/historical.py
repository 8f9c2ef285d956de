"""Point-in-time feature retrieval through Feast, as a Spark DataFrame (training sets).

For each entity row (``entity_key``, ``event_timestamp``) Feast's Spark offline store returns the
latest snapshot with ``snapshot.event_timestamp <= entity.event_timestamp``. Snapshots are stamped
``as_of 23:59:59.999999`` UTC, so stamp an entity row for cutoff ``D`` with
:func:`ltv.features.schema.end_of_day` ``(D)`` to get the ``D`` snapshot.

Time zones: Feast computes the entity rows' time range by collecting ``min``/``max`` of
``event_timestamp`` to Python, where PySpark turns a timestamp into a NAIVE datetime in the
process's LOCAL zone, which Feast then reads as UTC. With a local zone west of UTC that bound is
too early and valid snapshots are filtered out. :func:`_install_utc_range` replaces that one
helper with one that reads epoch microseconds (exact in any zone); everything else in the join
runs in Spark SQL with the session time zone, which ltv pins to UTC.
"""
from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ltv.serving.definitions import JOIN_KEY, TIMESTAMP_FIELD, TRAINING_SERVICE
from ltv.serving.store import feast_session, quiet_feast

log = logging.getLogger(__name__)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_installed = False


def _utc_range(entity_df, event_timestamp_col: str, spark_session):
    """(min, max) of the entity rows' timestamps as aware UTC datetimes."""
    import pyspark.sql

    if not isinstance(entity_df, pyspark.sql.DataFrame):
        return _original_range(entity_df, event_timestamp_col, spark_session)
    micros = F.unix_micros(F.col(event_timestamp_col))
    row = entity_df.agg(F.min(micros).alias("lo"), F.max(micros).alias("hi")).first()
    if row is None or row["lo"] is None:
        raise ValueError("entity_df is empty: nothing to retrieve features for")
    return (_EPOCH + dt.timedelta(microseconds=row["lo"]), _EPOCH + dt.timedelta(microseconds=row["hi"]))


_original_range = None


def _install_utc_range() -> None:
    """Make Feast's Spark offline store compute the entity time range in UTC (idempotent)."""
    global _installed, _original_range
    if _installed:
        return
    from feast.infra.offline_stores.contrib.spark_offline_store import spark as spark_store

    _original_range = spark_store._get_entity_df_event_timestamp_range
    spark_store._get_entity_df_event_timestamp_range = _utc_range
    _installed = True


def historical_features(
    store,
    spark: SparkSession,
    entity_df: DataFrame,
    features=None,
    full_feature_names: bool = False,
) -> DataFrame:
    """Point-in-time join of ``entity_df`` with the features of ``features`` (default ``ltv_training``).

    Args:
        store: ``feast.FeatureStore`` with ltv's definitions applied.
        spark: ltv's SparkSession (Delta + UTC); Feast's Spark offline store reuses it.
        entity_df: Spark DataFrame with ``entity_key`` (string, ``"<line>:<customer_id>"``) and
            ``event_timestamp`` (timestamp); other columns are passed through but must not be
            named like a retrieved feature.
        features: a feature service name/object or a list of ``"view:feature"`` references.
        full_feature_names: prefix feature columns with ``<view>__``.

    Returns:
        A lazy Spark DataFrame: ``entity_df``'s columns plus the features (null where no snapshot
        is at or before the row's timestamp). Nothing is collected.
    """
    missing = [c for c in (JOIN_KEY, TIMESTAMP_FIELD) if c not in entity_df.columns]
    if missing:
        raise ValueError(
            f"entity_df needs columns {missing} (has {entity_df.columns}); "
            f"{JOIN_KEY} = '<business_line>:<customer_id>', {TIMESTAMP_FIELD} = the cutoff instant"
        )
    ts_type = entity_df.schema[TIMESTAMP_FIELD].dataType.simpleString()
    if ts_type != "timestamp":
        raise ValueError(f"entity_df.{TIMESTAMP_FIELD} must be a timestamp (UTC), found {ts_type}")
    if features is None or isinstance(features, str):
        with quiet_feast():
            features = store.get_feature_service(features or TRAINING_SERVICE)
    if not full_feature_names:
        names = (
            {f.name for p in features.feature_view_projections for f in p.features}
            if hasattr(features, "feature_view_projections")
            else {ref.split(":", 1)[1] for ref in features}
        )
        clash = sorted(set(entity_df.columns) & names)
        if clash:
            raise ValueError(f"entity_df columns {clash} have the names of features; drop or rename them")
    _install_utc_range()
    with feast_session(spark), quiet_feast():
        job = store.get_historical_features(
            entity_df=entity_df, features=features, full_feature_names=full_feature_names
        )
        result = job.to_spark_df()
    return result
