"""Build the Feast ``FeatureStore`` of a lake and register ltv's definitions in it.

Where things are
----------------
Everything Feast keeps lives under ``<lake>/feast/``: ``registry.db`` (file registry) and, with the
default SQLite online store, ``online.db``. The infrastructure config is ONE file,
``feature_repo/feature_store.yaml``; ltv reads it as a template with ``${LTV_LAKE}`` set to the
lake of the command (other ``${VAR}`` from the environment, as Feast does), validates it with
Feast's ``RepoConfig`` and builds the store in code -- no YAML is written anywhere. So the plain
``feast`` CLI (``cd feature_repo && LTV_LAKE=/abs/lake feast apply``) and ``ltv`` see the same
registry and online store, and switching the online store to Redis is an edit of that file.
When ltv is installed without the repository checkout, :data:`DEFAULT_CONFIG` (the same settings)
is used; ``$LTV_FEATURE_REPO`` points at another feature repo folder.

Spark: Feast's Spark offline store and Spark materialization engine reuse the active
SparkSession as-is, so callers pass ltv's session (:func:`ltv.spark.get_spark`: Delta + UTC).
"""
from __future__ import annotations

import contextlib
import logging
import os
import string
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ltv.errors import ConfigError
from ltv.features.schema import TABLE_NAME as FEATURES_TABLE  # importing it catalogues the table
from ltv.serving.definitions import (
    LAKE_ENV,
    SCORES_VIEW,
    Definitions,
    attribute_fields,
    build_definitions,
)

log = logging.getLogger(__name__)

FEATURE_REPO_ENV = "LTV_FEATURE_REPO"
CONFIG_FILE = "feature_store.yaml"
FEAST_DIR = "feast"

# Same settings as feature_repo/feature_store.yaml, for installs without the repository.
DEFAULT_CONFIG: dict[str, Any] = {
    "project": "ltv",
    "provider": "local",
    "entity_key_serialization_version": 3,
    "registry": {"registry_type": "file", "path": "${LTV_LAKE}/feast/registry.db", "cache_ttl_seconds": 600},
    "offline_store": {
        "type": "spark",
        "spark_conf": {
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "spark.sql.session.timeZone": "UTC",
        },
    },
    "batch_engine": {"type": "spark.engine", "partitions": 0},
    "materialization": {"pull_latest_features": True, "online_write_batch_size": 2000},
    "online_store": {"type": "sqlite", "path": "${LTV_LAKE}/feast/online.db"},
}

# Session settings Feast changes on the shared SparkSession; restored after each Feast call.
_FEAST_SESSION_CONF = ("spark.sql.parser.quotedRegexColumnNames",)


def feature_repo_dir() -> Path | None:
    """The ``feature_repo/`` folder: ``$LTV_FEATURE_REPO``, else the repository checkout's, else None."""
    override = os.environ.get(FEATURE_REPO_ENV)
    if override:
        path = Path(override).expanduser().resolve()
        if not (path / CONFIG_FILE).is_file():
            raise ConfigError(f"${FEATURE_REPO_ENV}={override} has no {CONFIG_FILE}; point it at a Feast repo folder")
        return path
    candidate = Path(__file__).resolve().parents[2] / "feature_repo"
    return candidate if (candidate / CONFIG_FILE).is_file() else None


def feast_dir(lake_root: str | os.PathLike[str]) -> Path:
    """``<lake>/feast``: registry and SQLite online store."""
    return Path(lake_root).expanduser().resolve() / FEAST_DIR


def _substitute(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        return string.Template(value).safe_substitute(mapping)
    if isinstance(value, dict):
        return {k: _substitute(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, mapping) for v in value]
    return value


def raw_config(lake_root: str | os.PathLike[str]) -> dict[str, Any]:
    """The effective ``feature_store.yaml`` content for a lake, as a dict (template + substitution)."""
    root = Path(lake_root).expanduser().resolve()
    repo = feature_repo_dir()
    if repo is not None:
        path = repo / CONFIG_FILE
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} must hold a mapping at the top level")
    else:
        raw = DEFAULT_CONFIG
    mapping = {**os.environ, LAKE_ENV: str(root)}
    return _substitute(raw, mapping)


def repo_config(lake_root: str | os.PathLike[str]):
    """Feast ``RepoConfig`` for the lake at ``lake_root`` (validated; unknown keys are an error)."""
    from feast.repo_config import RepoConfig
    from pydantic import ValidationError

    raw = raw_config(lake_root)
    try:
        config = RepoConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid Feast config ({CONFIG_FILE}): {exc}") from exc
    config.repo_path = feast_dir(lake_root)
    return config


@contextlib.contextmanager
def quiet_feast() -> Iterator[None]:
    """Silence Feast's "experimental Spark source/offline store" RuntimeWarnings (raised on every
    SparkSource built, including when the registry is read); other warnings pass through."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The spark (data source API|offline store)", category=RuntimeWarning)
        yield


def online_store_description(config) -> str:
    """Where the online store is, for people: the SQLite file or the Redis address."""
    online = config.online_store
    kind = getattr(online, "type", "?")
    if kind == "sqlite":
        return f"sqlite {Path(online.path).resolve()}"
    if kind == "redis":
        address = str(online.connection_string).split(",")[0]
        return f"redis {address}"
    return str(kind)


@contextlib.contextmanager
def feast_session(spark) -> Iterator[None]:
    """Run Feast Spark code on ``spark``, restoring the session settings Feast changes.

    Feast's Spark offline store sets ``spark.sql.parser.quotedRegexColumnNames=true`` on the
    session it uses, which changes how backtick-quoted names in SQL select lists resolve for the
    rest of the application; it is put back afterwards. The session time zone must be UTC.
    """
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is None:
        raise RuntimeError("no active SparkSession: start it with ltv.spark.get_spark() before using Feast")
    if spark.conf.get("spark.sql.session.timeZone", None) != "UTC":
        raise RuntimeError("Feast's point-in-time join needs spark.sql.session.timeZone=UTC; use ltv.spark.get_spark()")
    from ltv.runtime.session import restored_conf

    with restored_conf(spark, _FEAST_SESSION_CONF):
        yield


def ensure_sources(lake) -> None:
    """Create ``customer_ltv`` empty (catalogued schema) if scoring has not written it yet.

    Feast's Spark source reads the Delta path when validating and materializing; an empty table
    with the right schema lets ``customer_ltv`` be registered and materialized (0 rows) before
    the first ``ltv score``. ``customer_features`` is not created: without it there is nothing
    to serve (``ltv features`` first).
    """
    if not lake.exists(SCORES_VIEW):
        log.info("customer_ltv does not exist yet: creating it empty so Feast can register it")
        lake.ensure(SCORES_VIEW)


def definitions_for(lake, windows_days) -> Definitions:
    """ltv's Feast objects for ``lake``, with the configured windows and the table's ``attr_*`` columns."""
    extra = []
    if lake.exists(FEATURES_TABLE):
        schema = lake.read(FEATURES_TABLE).schema
        extra = attribute_fields((f.name, f.dataType.simpleString()) for f in schema.fields)
    return build_definitions(lake.root, windows_days=windows_days, extra_feature_fields=extra)


def feature_store(lake_root: str | os.PathLike[str], spark=None, config=None, apply: bool = True):
    """The Feast ``FeatureStore`` of the lake at ``lake_root``, with ltv's definitions applied.

    Args:
        lake_root: the lake folder (Feast state goes to ``<lake_root>/feast/``).
        spark: ltv's SparkSession (started by the caller BEFORE Feast needs Spark). Needed when
            ``apply`` is True; lookups (``apply=False``) need no Spark at all.
        config: :class:`ltv.config.LTVConfig` (feature windows); default config if None.
        apply: register the definitions (idempotent; cheap when nothing changed).

    Returns:
        ``feast.FeatureStore``.
    """
    from feast import FeatureStore

    from ltv.config import LTVConfig

    root = Path(lake_root).expanduser().resolve()
    feast_dir(root).mkdir(parents=True, exist_ok=True)
    rc = repo_config(root)
    store = FeatureStore(repo_path=str(feast_dir(root)), config=rc)
    if apply:
        if spark is None:
            raise ValueError("feature_store(apply=True) needs ltv's SparkSession (ltv.spark.get_spark())")
        from ltv.lake.io import Lake

        lake = Lake(spark, root)
        ensure_sources(lake)
        with quiet_feast():
            definitions = definitions_for(lake, (config or LTVConfig()).features.windows_days)
            with feast_session(spark):
                store.apply(definitions.objects())
        log.info("applied Feast definitions to %s", rc.registry.path)
    return store
