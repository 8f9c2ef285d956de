"""The consolidated model: one supervised model across business lines, ``business_line`` a feature.

Configured in ``ltv.yaml`` (``consolidated:``, see :class:`ltv.config.ConsolidatedSettings`;
off by default). For ``ltv train --as-of D --horizon-days H`` each consolidated candidate
(``xgboost`` / ``hybrid`` with ``group_column="business_line"``) is fitted ONCE per fit cutoff
on the union of the member lines' training data, under the same point-in-time rules as a
line's own candidates (:mod:`ltv.training.data`): as of ``D - H`` for the back-test, as of
``D`` for the refit, nothing after ``D`` read. Each member line then back-tests that one model
on its own validation window, where it appears as ``all_lines:<model>``, and the line's own
gate decides whether it beats the line's own models. A line it wins gets it as champion
(saved as JSON like every model; its lineage lists the lines it was trained on); scoring needs
nothing special, as the ``business_line`` column is in every feature snapshot.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from ltv.config import LTVConfig
from ltv.errors import ConfigError
from ltv.models.base import LTVModel, TrainingData
from ltv.models.registry import available_models, create_model, get_model_class
from ltv.training.data import KnownData, consolidated_training_data

log = logging.getLogger(__name__)

PREFIX = "all_lines:"
GROUP_COLUMN = "business_line"


def consolidated_name(model: str) -> str:
    """The candidate's name in a line's comparison table, gate and registry: ``all_lines:<model>``."""
    return f"{PREFIX}{model}"


def base_model(name: str) -> str | None:
    """``hybrid`` for ``all_lines:hybrid``; None for a line's own candidate."""
    return name[len(PREFIX):] if name.startswith(PREFIX) else None


def check_candidates(names: list[str]) -> list[str]:
    """Consolidated candidates must be registered supervised models taking a ``group_column``."""
    known = available_models()
    for name in names:
        if name not in known:
            raise ConfigError(f"consolidated.candidates: unknown model {name!r}; available: {known}")
        cls = get_model_class(name)
        if not cls.needs_examples or "group_column" not in cls._param_names():
            raise ConfigError(f"consolidated.candidates: {name!r} cannot be trained across lines "
                              "(needs a supervised model with a group_column, e.g. xgboost or hybrid)")
    return names


@dataclass
class ConsolidatedTrainer:
    """Fits each consolidated candidate once per fit cutoff and hands the fitted model to every member line."""

    config: LTVConfig
    members: list[str]
    candidates: list[str]
    knowns: dict[str, KnownData]
    as_of: dt.date
    horizon_days: int
    versions: dict[str, int | None]
    #: line -> the consolidated candidates it is offered; None = every candidate to every member
    #: (consolidation on); with consolidation off only a line's consolidated champion, to defend it
    offered: dict[str, list[str]] | None = None
    _data: dict[dt.date, TrainingData] = field(default_factory=dict)
    _models: dict[tuple[str, dt.date], LTVModel] = field(default_factory=dict)
    _failures: dict[tuple[str, dt.date], str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Display names of the candidates (``all_lines:<model>``)."""
        return [consolidated_name(c) for c in self.candidates]

    def names_for(self, line: str) -> list[str]:
        """Display names of the consolidated candidates ``line``'s gate compares."""
        if self.offered is None:
            return self.names
        return [consolidated_name(c) for c in self.offered.get(line, [])]

    def covers(self, line: str) -> bool:
        return line in self.knowns and bool(self.names_for(line))

    def known(self, line: str) -> KnownData:
        return self.knowns[line]

    def _training_data(self, fit_cutoff: dt.date) -> TrainingData:
        if fit_cutoff not in self._data:
            defaults = self.config.defaults
            self._data[fit_cutoff] = consolidated_training_data(
                self.knowns, fit_cutoff, self.horizon_days,
                {line: (self.config.line(line).training_cutoffs, self.config.line(line).cutoff_step_days)
                 for line in self.members},
                GROUP_COLUMN,
                distributed_min_rows=defaults.distributed_min_rows,
                spark_workers=defaults.distributed_num_workers,
            )
        return self._data[fit_cutoff]

    def model(self, name: str, fit_cutoff: dt.date) -> LTVModel:
        """The consolidated candidate ``name`` (display name) fitted as of ``fit_cutoff``; fitted once, then reused."""
        base = base_model(name)
        if base not in self.candidates:
            raise KeyError(f"{name} is not a consolidated candidate ({self.names})")
        key = (base, fit_cutoff)
        if key in self._failures:
            raise RuntimeError(self._failures[key])
        if key not in self._models:
            params = self.config.consolidated.hyperparameters.get(base, self.config.defaults.hyperparameters.get(base, {}))
            model = create_model(base, **{**params, "group_column": GROUP_COLUMN})
            try:
                self._models[key] = model.fit(self._training_data(fit_cutoff))
            except Exception as exc:
                self._failures[key] = f"consolidated fit of {name} as of {fit_cutoff} failed: {type(exc).__name__}: {exc}"
                raise
            log.info("fitted %s as of %s on lines %s", name, fit_cutoff, self.members)
        return self._models[key]

    def lineage(self, fit_cutoff: dt.date) -> dict[str, Any]:
        """What a consolidated model fitted as of ``fit_cutoff`` was trained on."""
        data = self._data.get(fit_cutoff)
        return {
            "trained_on_lines": list(self.members),
            "group_column": GROUP_COLUMN,
            "fit_cutoff": fit_cutoff.isoformat(),
            "example_cutoffs": data.extra.get("example_cutoffs") if data else None,
            "n_examples": data.extra.get("n_examples") if data else None,
            "delta_versions": dict(self.versions),
        }

    def release(self) -> None:
        for known in self.knowns.values():
            known.release()
        self._data.clear()


def prepare(
    config: LTVConfig,
    as_of: dt.date,
    horizon_days: int | None,
    all_lines: list[str],
    lines: list[str],
    requested: list[str] | None,
    known_for,
    versions: dict[str, int | None],
    champions: dict[str, str] | None = None,
) -> ConsolidatedTrainer | None:
    """A :class:`ConsolidatedTrainer` when the config enables it, ``--model all_lines:X`` asks
    for it, or a line's champion is a consolidated model; else None.

    Args:
        all_lines: every line in ``transactions``; ``lines``: the lines being trained now.
        requested: ``--model`` names (None = configured candidates).
        known_for: ``line -> KnownData`` factory (the same pinned inputs the lines use).
        champions: line -> its champion's model name. A consolidated champion is always
            defended: with consolidation off (and not requested) its model is still fitted
            across the member lines, and offered only to the lines it is champion of.
    """
    settings = config.consolidated
    if requested:
        candidates = [base_model(n) for n in requested if base_model(n)]
    else:
        candidates = list(settings.candidates) if settings.enabled else []
    offer_all = bool(candidates)
    defended = {line: base_model(name) for line, name in (champions or {}).items() if name and base_model(name)}
    candidates += sorted({m for m in defended.values() if m not in candidates})
    if not candidates:
        return None
    check_candidates(candidates)
    members = sorted(settings.business_lines or all_lines)
    unknown = [m for m in members if m not in all_lines]
    if unknown:
        raise ConfigError(f"consolidated.business_lines: {unknown} not in transactions (found: {sorted(all_lines)})")
    if len(members) < 2:
        log.info("consolidated model skipped: it needs at least two business lines (found %s)", members)
        return None
    if not any(line in members for line in lines):
        return None
    horizons = {m: int(horizon_days or config.line(m).horizon_days) for m in members}
    units = {m: config.line(m).time_unit for m in members}
    if len(set(horizons.values())) > 1 or len(set(units.values())) > 1:
        raise ConfigError(
            f"the consolidated model needs one horizon and time unit across its lines; got horizons {horizons}, "
            f"time units {units}: align business_lines.<line>.horizon_days / time_unit, pass --horizon-days, "
            "or list fewer consolidated.business_lines"
        )
    offered = None
    if not offer_all:
        offered = {line: [model] for line, model in defended.items()}
        log.info("consolidation is off: fitting %s across %s only to defend the champion(s) of %s",
                 sorted(set(defended.values())), members, sorted(defended))
    knowns = {m: known_for(m) for m in members}
    return ConsolidatedTrainer(config, members, candidates, knowns, as_of, horizons[members[0]], versions, offered)
