"""What the gate is given about a line: its candidates, and the deployed champion's own spec.

The champion is defended as it was deployed: its registered hyperparameters (when today's
config differs, as ``<model>-v<version>``), or not at all when it was trained in another time
unit than the line's today (it could not score today's snapshots; the line is then decided as
on a first run). A consolidated champion is defended by its name (see
:func:`ltv.training.consolidated.prepare`).
"""
from __future__ import annotations

import json
from typing import Any

from ltv.config import LTVConfig
from ltv.errors import ConfigError
from ltv.models.registry import available_models, create_model, default_candidates
from ltv.training.consolidated import base_model
from ltv.training.gate import BASELINE


def candidate_names(config: LTVConfig, line: str, requested: list[str] | None, champion: str | None) -> list[str]:
    """Requested (or configured, or all) candidates, plus the baseline and the current champion.

    The line's own candidates only: consolidated ones (``all_lines:<model>``) come from the
    :class:`~ltv.training.consolidated.ConsolidatedTrainer`.
    """
    known = available_models()
    if requested:
        names = [n for n in requested if base_model(n) is None]
    else:
        names = list(config.line(line).candidates or default_candidates())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown model(s) {unknown}; available: {known}")
    if BASELINE not in names:
        names.insert(0, BASELINE)
    if champion and champion in known and champion not in names:
        names.append(champion)  # the champion is always re-evaluated on the same window
    return names


def champion_specs(champion, deployed: dict[str, Any] | None, settings) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{entry: (model name, hyperparameters)}`` for a champion whose registered hyperparameters
    (``deployed``, from its saved ``model.json``) differ from what today's config (``settings``,
    the line's) would give its model: it is then defended with its own as ``<model>-v<version>``.
    Empty when they agree, without a champion, or for a consolidated champion (defended by its
    name: see :func:`train`)."""
    if champion is None or deployed is None or base_model(champion.model_name) is not None \
            or champion.model_name not in available_models():
        return {}
    today = create_model(champion.model_name, **settings.hyperparameters.get(champion.model_name, {})).get_params()
    own = create_model(champion.model_name, **deployed).get_params()  # without settings later releases dropped
    if json.loads(json.dumps(today, default=str)) == json.loads(json.dumps(own, default=str)):
        return {}
    return {f"{champion.model_name}-v{champion.version}": (champion.model_name, own)}


def deployed_document(registry, champion) -> dict[str, Any] | None:
    """The champion's saved ``model.json`` (None: no champion, or a consolidated one)."""
    if champion is None or base_model(champion.model_name) is not None or champion.model_name not in available_models():
        return None
    return registry.champion_document(champion)


def champion_unit_change(document: dict[str, Any] | None, time_unit: str) -> str | None:
    """Why the deployed champion cannot be compared on today's features: it was trained in another
    time unit than the line's (its snapshots are not in the feature store any more); else None."""
    if not document:
        return None
    trained = (document.get("metadata", {}).get("lineage", {}).get("time_unit")
               or document.get("state", {}).get("time_unit"))
    if trained and trained != time_unit:
        return (f"time unit changed: the champion was trained on {trained} features, the line's features are now "
                f"in {time_unit}; it cannot be compared on them")
    return None


__all__ = ["candidate_names", "champion_specs", "champion_unit_change", "deployed_document"]
