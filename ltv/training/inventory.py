"""What the model registry holds, as data: per business line its champion, recent training runs and
gate decisions, and the champion's hyperparameters, lineage and back-test (``ltv models``).

Read-only: nothing here trains, promotes or writes; it reads MLflow through
:class:`ltv.training.registry.ModelRegistry`.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ltv.config import validate_name
from ltv.training.registry import ModelRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineSummary:
    """One business line with a training experiment: its champion (None before any promotion) and
    the latest training run's id and gate action."""

    business_line: str
    champion_model: str | None
    champion_version: str | None
    champion_as_of: str | None
    last_run: str | None
    last_action: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSummary:
    """One ``ltv train`` run of a line: its date, gate action / winner / reason, params and metrics
    (``<model>.<metric>``, back-test values)."""

    run_id: str
    as_of: str | None
    action: str | None
    winner: str | None
    reason: str | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChampionDetails:
    """The model scoring uses for a line: registry version and tags, plus what its saved model file
    records: hyperparameters, lineage (as_of, horizon_days, Delta versions, config hash) and back-test."""

    model: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str]
    params: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    backtest: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LineModels:
    """``ltv models show LINE``: the line's champion (None if no model passed the gate) and recent runs."""

    business_line: str
    champion: ChampionDetails | None
    runs: list[RunSummary]
    tracking_uri: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "business_line": self.business_line,
            "champion": None if self.champion is None else self.champion.as_dict(),
            "runs": [run.as_dict() for run in self.runs],
            "tracking_uri": self.tracking_uri,
        }


def list_models(lake_root: str | Path) -> list[LineSummary]:
    """Every business line with a training experiment under the lake's registry, sorted by name."""
    registry = ModelRegistry(lake_root)
    summaries = []
    for line in registry.lines():
        champ = registry.champion(line)
        runs = registry.runs(line, max_results=1)
        last = runs[0] if runs else None
        summaries.append(LineSummary(
            business_line=line,
            champion_model=champ.model_name if champ else None,
            champion_version=champ.version if champ else None,
            champion_as_of=champ.tags.get("ltv.as_of") if champ else None,
            last_run=last.info.run_id if last else None,
            last_action=last.data.tags.get("ltv.action") if last else None,
        ))
    return summaries


def describe_line(lake_root: str | Path, line: str, max_runs: int = 5) -> LineModels:
    """The line's champion with its saved hyperparameters, lineage and back-test (downloaded from
    MLflow, then removed), and its ``max_runs`` most recent training runs, newest first.

    Raises:
        ConfigError: ``line`` is not a valid business line name.
    """
    line = validate_name(line, "business line")
    registry = ModelRegistry(lake_root)
    runs = [
        RunSummary(
            run_id=run.info.run_id,
            as_of=run.data.params.get("as_of"),
            action=run.data.tags.get("ltv.action"),
            winner=run.data.tags.get("ltv.winner"),
            reason=run.data.tags.get("ltv.reason"),
            params=run.data.params,
            metrics=run.data.metrics,
        )
        for run in registry.runs(line, max_results=max_runs)
    ]
    champ = registry.champion(line)
    champion = None
    if champ is not None:
        document = registry.champion_document(champ)
        metadata = document.get("metadata", {})
        champion = ChampionDetails(
            model=champ.model_name, version=champ.version, run_id=champ.run_id, source=champ.source,
            tags=champ.tags, params=document.get("params"), lineage=metadata.get("lineage"),
            backtest=metadata.get("backtest"),
        )
    log.debug("line %s: champion %s, %d runs", line, champion and champion.version, len(runs))
    return LineModels(business_line=line, champion=champion, runs=runs, tracking_uri=registry.uri)
