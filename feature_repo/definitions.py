"""ltv's Feast definitions for the plain ``feast`` CLI.

    cd feature_repo && LTV_LAKE=/abs/path/to/lake feast apply

The objects themselves are built by :func:`ltv.serving.definitions.build_definitions` (the same
ones ``ltv materialize`` applies); this module only exposes them at module level, where
``feast apply`` looks for them. The lake is ``$LTV_LAKE`` (default ``<repo root>/lake``; the
same variable fills ``${LTV_LAKE}`` in feature_store.yaml, so set it).

``feast apply`` validates each source by reading its Delta table with Spark. So that Feast
reuses ltv's session (Delta jars, UTC) instead of starting its own, importing this module starts
it with :func:`ltv.spark.get_spark`, and creates the two lake tables empty if they do not exist
yet (``customer_features`` as written by ``ltv features``, ``customer_ltv`` as by ``ltv score``).
Window columns follow ``features.windows_days`` of ``$LTV_CONFIG`` (an ltv.yaml), default 30/90/365.
"""
from __future__ import annotations

import logging
import os
import sys

from ltv.serving.definitions import build_definitions, default_lake_root

log = logging.getLogger("ltv.feature_repo")

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
LAKE_ROOT = default_lake_root()


def _prepare_lake() -> tuple[int, ...]:
    from ltv.config import load_config
    from ltv.features.schema import TABLE_NAME
    from ltv.lake.io import Lake
    from ltv.serving.store import ensure_sources
    from ltv.runtime.session import get_spark

    config = load_config(os.environ.get("LTV_CONFIG"))
    lake = Lake(get_spark(config.spark), LAKE_ROOT)
    if not lake.exists(TABLE_NAME):
        log.warning("customer_features does not exist under %s: creating it empty", LAKE_ROOT)
        lake.ensure(TABLE_NAME)
    ensure_sources(lake)
    return tuple(config.features.windows_days)


_defs = build_definitions(LAKE_ROOT, windows_days=_prepare_lake())

customer = _defs.entity
customer_features_source = _defs.features_source
customer_ltv_source = _defs.scores_source
customer_features = _defs.features_view
customer_ltv = _defs.scores_view
ltv_training = _defs.training_service
ltv_online = _defs.online_service
