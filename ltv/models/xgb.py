"""Deprecated: the boosted models moved to :mod:`ltv.models.boosted` (ltv 0.2); this alias goes in 0.3.

``from ltv.models.xgb import XGBoostLTV, HybridLTV`` keeps working for one release, with a
:class:`DeprecationWarning`; import from :mod:`ltv.models.boosted` instead. Saved models are
unaffected: they name their model (``xgboost``, ``hybrid``), not a module.
"""
from __future__ import annotations

import warnings

from ltv.models.boosted.boosters import BOOSTER_FILES, OBJECTIVES, QUANTILES, XGBoostLTV, _BoostedLTV
from ltv.models.boosted.condense import HISTORY, condense_examples_local, condensed_by_key, example_key_values
from ltv.models.boosted.encoding import RATE_FEATURES
from ltv.models.boosted.hybrid import ANCHORS, BTYD_FEATURES, MARGIN_FLOOR, HybridLTV

warnings.warn(
    "ltv.models.xgb is deprecated and will be removed in ltv 0.3; import from ltv.models.boosted "
    "(XGBoostLTV, HybridLTV, BOOSTER_FILES, BTYD_FEATURES)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "ANCHORS", "BOOSTER_FILES", "BTYD_FEATURES", "HISTORY", "MARGIN_FLOOR", "OBJECTIVES", "QUANTILES",
    "RATE_FEATURES", "HybridLTV", "XGBoostLTV", "_BoostedLTV", "condense_examples_local", "condensed_by_key",
    "example_key_values",
]
