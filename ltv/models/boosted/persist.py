"""Saving and loading a boosted model's fitted state: XGBoost's own JSON per booster plus the
fields ``model.json`` holds (feature list, category levels, horizon, level factors, quantile
levels). Readers of older releases' fields are here too: what a field's absence means is stated
where it is read."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import xgboost as xgb

from ltv.models.boosted.params import LEGACY_QUANTILES


def booster_state(model, directory: Path, files: dict[str, str]) -> dict[str, Any]:
    """Write each booster of ``model`` to ``directory`` (``files[part]``); the JSON state for ``model.json``."""
    written = {part: files[part] for part in model.boosters_}
    for part, booster in model.boosters_.items():
        booster.save_model(str(directory / written[part]))
    return {
        "time_unit": model.time_unit_,
        "horizon_days": model.horizon_days_,
        "feature_columns": model.feature_columns_,
        "categories": model.categories_,
        "booster_files": written,
        "level_factors": model.level_factors_,
        "group_level_factors": model.group_level_factors_,
        "interval_floor": model.interval_floor_,
        "quantiles": list(model.quantiles_),
        "quantiles_follow_level": bool(model.quantiles_follow_level_),
        "trained_distributed": bool(getattr(model, "trained_distributed_", False)),
    }


def restore_booster_state(model, state: dict[str, Any], directory: Path) -> None:
    """Set ``model``'s fitted attributes from :func:`booster_state`'s output (or an older release's)."""
    model.time_unit_ = state["time_unit"]
    model.horizon_days_ = int(state["horizon_days"])
    model.feature_columns_ = list(state["feature_columns"])
    model.categories_ = {k: list(v) for k, v in state["categories"].items()}
    model.level_factors_ = {k: float(v) for k, v in state["level_factors"].items()}
    model.interval_floor_ = float(state.get("interval_floor", 0.0))  # absent before 0.3: intervals floored at 0
    model.quantiles_ = [float(q) for q in state.get("quantiles", LEGACY_QUANTILES)]  # absent before 0.4: p10/p90
    model.quantiles_follow_level_ = bool(state.get("quantiles_follow_level", False))  # idem: quantiles as learned
    model.group_level_factors_ = {
        str(g): {k: float(v) for k, v in parts.items()} for g, parts in state.get("group_level_factors", {}).items()
    }
    model.trained_distributed_ = bool(state.get("trained_distributed", False))
    model.boosters_ = {}
    for part, file_name in state["booster_files"].items():  # no "buy" booster before 0.4
        if "/" in file_name or file_name.startswith("."):
            raise ValueError(f"refusing booster file name {file_name!r}")
        booster = xgb.Booster()
        booster.load_model(str(directory / file_name))
        booster.set_param({"nthread": int(model.nthread)})
        model.boosters_[part] = booster


__all__ = ["booster_state", "restore_booster_state"]
