"""Deprecated: use :mod:`ltv.runtime.session` (``from ltv.runtime.session import get_spark``).

Kept for one release so existing imports (``ltv.spark.get_spark``) keep working; importing it
warns with a DeprecationWarning.
"""
from __future__ import annotations

import warnings

from ltv.runtime.session import (  # noqa: F401  (re-exported)
    DEFAULT_MASTER,
    DELTA_PACKAGE,
    JAVA_OPTION_VARIABLES,
    LOCAL_DEFAULTS,
    LOCAL_GC_OPTION,
    REQUIRED_CONF,
    SCALA_BINARY,
    SESSION_DEFAULTS,
    SPARK_BINARY,
    get_spark,
    launched_by_spark_submit,
    restored_conf,
    stop_spark,
)

warnings.warn(
    "ltv.spark is deprecated and will be removed in the next release; use ltv.runtime.session",
    DeprecationWarning,
    stacklevel=2,
)
