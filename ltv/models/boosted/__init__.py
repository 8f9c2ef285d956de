"""Boosted models: ``encoding`` (design matrix), ``condense`` (BTYD inputs per cutoff), ``boosters``
(shared machinery + ``xgboost``), ``hybrid``, ``distributed`` (the ``xgboost.spark`` backend)."""
from ltv.models.boosted.boosters import BOOSTER_FILES, XGBoostLTV
from ltv.models.boosted.hybrid import BTYD_FEATURES, HybridLTV

__all__ = ["BOOSTER_FILES", "BTYD_FEATURES", "HybridLTV", "XGBoostLTV"]
