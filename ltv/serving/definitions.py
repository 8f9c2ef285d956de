"""Feast objects of ltv: the ``customer`` entity, two Delta sources, two feature views, two services.

Plain objects, no infrastructure: which registry, offline and online store back them is the
config built by :mod:`ltv.serving.store` (from ``feature_repo/feature_store.yaml``). The same
objects are applied by ``ltv`` (:func:`ltv.serving.store.feature_store`) and, through
``feature_repo/definitions.py``, by the plain ``feast apply``.

* ``customer``: one entity, join key ``entity_key`` = ``"<business_line>:<customer_id>"`` (string).
  One surrogate key, because Feast's composite join keys can collide once concatenated.
* ``customer_features``: the ``customer_features`` Delta table (one snapshot row per customer and
  ``as_of``; ``event_timestamp`` = ``as_of 23:59:59.999999`` UTC, so a snapshot becomes visible to a
  point-in-time join only once its day is over).
* ``customer_ltv``: the ``customer_ltv`` Delta table (scores, same key and timestamp convention).
  Its ``as_of`` (a date) is served as the ISO string ``scores_as_of``: Feast has no date type;
  likewise the snapshot's ``as_of`` is ``features_as_of``.
* Services: ``ltv_training`` (features only) and ``ltv_online`` (features + scores).

``ttl`` is 0 (never expire): a snapshot stays valid until a newer one replaces it, and the
point-in-time join does not cut old snapshots off.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, ValueType
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.table_format import DeltaFormat
from feast.types import Float64, Int32, Int64, String

ENTITY_NAME = "customer"
JOIN_KEY = "entity_key"
TIMESTAMP_FIELD = "event_timestamp"
FEATURES_VIEW = "customer_features"
SCORES_VIEW = "customer_ltv"
TRAINING_SERVICE = "ltv_training"
ONLINE_SERVICE = "ltv_online"
DEFAULT_WINDOWS_DAYS = (30, 90, 365)
LAKE_ENV = "LTV_LAKE"

# customer_features columns served by Feast, with their Feast types (Spark type in the comment).
FEATURE_FIELDS: tuple[tuple[str, object], ...] = (
    ("business_line", String),
    ("customer_id", String),
    ("time_unit", String),  # unit of frequency / recency / T: days or weeks
    ("frequency", Float64),
    ("recency", Float64),
    ("T", Float64),
    ("monetary_value", Float64),
    ("tenure_days", Int32),  # int
    ("days_since_last_purchase", Int32),  # int
    ("purchase_days_total", Int64),  # bigint
    ("gross_spend_total", Float64),
    ("refund_total", Float64),
    ("net_spend_total", Float64),
    ("refund_share", Float64),
    ("mean_interpurchase_days", Float64),
    ("last_interpurchase_days", Float64),
    ("spend_trend_90d", Float64),
)

# customer_ltv columns served by Feast (see ltv.lake.tables.CUSTOMER_LTV).
SCORE_FIELDS: tuple[tuple[str, object], ...] = (
    ("predicted_ltv", Float64),
    ("predicted_ltv_p10", Float64),
    ("predicted_ltv_p90", Float64),
    ("predicted_purchases", Float64),
    ("p_alive", Float64),
    ("predicted_ltv_p50", Float64),
    ("prob_purchase", Float64),
    ("predicted_ltv_variance", Float64),
    ("horizon_days", Int32),
    ("model_name", String),
    ("model_version", String),
)
SCORES_AS_OF = "scores_as_of"
FEATURES_AS_OF = "features_as_of"

_SPARK_TO_FEAST = {"string": String, "double": Float64, "float": Float64, "bigint": Int64, "int": Int32}


@dataclass(frozen=True)
class Definitions:
    """Every Feast object of ltv for one lake."""

    entity: Entity
    features_source: SparkSource
    scores_source: SparkSource
    features_view: FeatureView
    scores_view: FeatureView
    training_service: FeatureService
    online_service: FeatureService

    def objects(self) -> list[object]:
        """What ``FeatureStore.apply`` takes, in dependency order."""
        return [
            self.entity,
            self.features_source,
            self.scores_source,
            self.features_view,
            self.scores_view,
            self.training_service,
            self.online_service,
        ]


def default_lake_root() -> Path:
    """``$LTV_LAKE`` if set, else ``<repo root>/lake`` (the folder above ``ltv/``)."""
    value = os.environ.get(LAKE_ENV)
    if value:
        return Path(value).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "lake"


def entity_key(business_line: str, customer_id: str) -> str:
    """The Feast join key of a customer: ``"<business_line>:<customer_id>"``."""
    return f"{business_line}:{customer_id}"


def window_fields(windows_days: Iterable[int]) -> list[Field]:
    """``spend_<N>d`` (double) and ``purchase_days_<N>d`` (bigint) per window, as in the snapshot."""
    fields: list[Field] = []
    for days in windows_days:
        fields.append(Field(name=f"spend_{int(days)}d", dtype=Float64))
        fields.append(Field(name=f"purchase_days_{int(days)}d", dtype=Int64))
    return fields


def attribute_fields(columns: Iterable[tuple[str, str]]) -> list[Field]:
    """Feast fields for the snapshot's ``attr_*`` columns, from ``(name, Spark simpleString type)``."""
    fields = []
    for name, spark_type in columns:
        if name.startswith("attr_") and spark_type in _SPARK_TO_FEAST:
            fields.append(Field(name=name, dtype=_SPARK_TO_FEAST[spark_type]))
    return fields


def build_definitions(
    lake_root: str | os.PathLike[str],
    windows_days: Sequence[int] = DEFAULT_WINDOWS_DAYS,
    extra_feature_fields: Sequence[Field] = (),
) -> Definitions:
    """The Feast objects for the lake at ``lake_root`` (absolute path; Delta tables under it).

    Args:
        lake_root: the lake folder; sources point at ``<lake_root>/customer_features`` and
            ``<lake_root>/customer_ltv``.
        windows_days: the configured feature windows (``features.windows_days`` of ``ltv.yaml``).
        extra_feature_fields: more ``customer_features`` columns to serve (e.g. ``attr_*``).
    """
    root = Path(lake_root).expanduser().resolve()
    customer = Entity(
        name=ENTITY_NAME,
        join_keys=[JOIN_KEY],
        value_type=ValueType.STRING,
        description='A customer within a business line; entity_key = "<business_line>:<customer_id>".',
    )
    features_source = SparkSource(
        name="customer_features_delta",
        path=str(root / FEATURES_VIEW),
        table_format=DeltaFormat(),
        timestamp_field=TIMESTAMP_FIELD,
        date_partition_column="as_of",
        field_mapping={"as_of": FEATURES_AS_OF},
        description="ltv lake table customer_features (Delta), one snapshot per customer and as_of",
    )
    scores_source = SparkSource(
        name="customer_ltv_delta",
        path=str(root / SCORES_VIEW),
        table_format=DeltaFormat(),
        timestamp_field=TIMESTAMP_FIELD,
        date_partition_column="as_of",
        field_mapping={"as_of": SCORES_AS_OF},
        description="ltv lake table customer_ltv (Delta), one score row per customer and as_of",
    )
    feature_fields = [Field(name=n, dtype=t) for n, t in FEATURE_FIELDS]
    feature_fields += window_fields(windows_days) + [Field(name=FEATURES_AS_OF, dtype=String)]
    known = {f.name for f in feature_fields}
    feature_fields += [f for f in extra_feature_fields if f.name not in known]
    features_view = FeatureView(
        name=FEATURES_VIEW,
        entities=[customer],
        ttl=dt.timedelta(0),
        schema=feature_fields,
        source=features_source,
        online=True,
        offline=False,  # never let Feast write back into the lake
        description="point-in-time customer features (RFM in time_unit, behaviour in days and money)",
    )
    scores_view = FeatureView(
        name=SCORES_VIEW,
        entities=[customer],
        ttl=dt.timedelta(0),
        schema=[Field(name=n, dtype=t) for n, t in SCORE_FIELDS] + [Field(name=SCORES_AS_OF, dtype=String)],
        source=scores_source,
        online=True,
        offline=False,
        description="latest customer lifetime value scores with interval and lineage",
    )
    training = FeatureService(
        name=TRAINING_SERVICE,
        features=[features_view],
        description="customer features for training sets (point-in-time joins)",
    )
    online = FeatureService(
        name=ONLINE_SERVICE,
        features=[features_view, scores_view],
        description="features and latest scores for online lookups",
    )
    return Definitions(customer, features_source, scores_source, features_view, scores_view, training, online)
