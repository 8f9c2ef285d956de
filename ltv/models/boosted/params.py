"""XGBoost parameters of the boosted models' boosters (spend, purchases, buy, p10/p50/p90 interval),
from the model's hyperparameters: the same for the driver and ``xgboost.spark`` training."""
from __future__ import annotations

from typing import Any

OBJECTIVES = {"tweedie": "reg:tweedie", "squared_error": "reg:squarederror"}
#: the boosters of a boosted model, in training order
PARTS = ("spend", "purchases", "buy", "interval")
QUANTILES = (0.1, 0.5, 0.9)
#: the interval booster's levels in models saved before 0.4
LEGACY_QUANTILES = (0.1, 0.9)


def tree_params(model) -> dict[str, Any]:
    """Tree-growing parameters shared by the three boosters (``hist``, fixed seed and threads)."""
    return {
        "eta": float(model.learning_rate),
        "max_depth": int(model.max_depth),
        "min_child_weight": float(model.min_child_weight),
        "subsample": float(model.subsample),
        "colsample_bytree": float(model.colsample_bytree),
        "lambda": float(model.reg_lambda),
        "tree_method": "hist",
        "seed": int(model.seed),
        "nthread": int(model.nthread),
        "max_cat_to_onehot": 1,
        "verbosity": 0,
    }


def booster_params(model, part: str) -> tuple[dict[str, Any], int]:
    """(XGBoost parameters, boosting rounds) of booster ``part`` (``spend``, ``purchases``, ``buy`` or ``interval``)."""
    tree = tree_params(model)
    if part == "spend":
        params = {**tree, "objective": OBJECTIVES[model.objective]}
        if model.objective == "tweedie":
            params["tweedie_variance_power"] = float(model.tweedie_variance_power)
        return params, int(model.n_estimators)
    if part == "purchases":
        return {**tree, "objective": "count:poisson"}, int(model.n_estimators)
    if part == "buy":  # P(at least one purchase): logistic on the 0/1 label (xgboost.spark takes it as a regression)
        return {**tree, "objective": "reg:logistic"}, int(model.n_estimators)
    if part == "interval":
        return {**tree, "objective": "reg:quantileerror", "quantile_alpha": list(QUANTILES)}, int(model.interval_n_estimators)
    raise KeyError(part)


__all__ = ["LEGACY_QUANTILES", "PARTS", "OBJECTIVES", "QUANTILES", "booster_params", "tree_params"]
