"""Deprecated: the analysts' helpers moved to :mod:`ltv.notebook` (``from ltv import notebook``).

This alias re-exports the same functions and constants for one release and warns on import.
"""
from __future__ import annotations

import warnings

from ltv.notebook import (
    LAKE_ENV,
    NOTEBOOK_SPARK,
    OUT_ENV,
    SmallLake,
    backtest_results,
    btyd_model,
    build_small_lake,
    cohort_matrix,
    cohort_spend,
    frequency_recency_matrix,
    get_session,
    lake_root,
    latest_per_line,
    latest_report,
    load_champion,
    open_lake,
    output_dir,
    read_changes,
    read_table,
    run_report,
    sample_to_pandas,
    save_figure,
)

warnings.warn(
    "ltv.analysis is deprecated and will be removed in the next release; "
    "use ltv.notebook instead (`from ltv import notebook`)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "LAKE_ENV", "OUT_ENV", "NOTEBOOK_SPARK", "SmallLake", "build_small_lake", "get_session", "lake_root",
    "open_lake", "output_dir", "save_figure", "latest_per_line", "read_table", "sample_to_pandas",
    "read_changes", "cohort_spend", "cohort_matrix", "load_champion", "btyd_model", "frequency_recency_matrix",
    "run_report", "latest_report", "backtest_results",
]
