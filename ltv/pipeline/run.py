"""``ltv run``: the daily pipeline for one date -- features, train when due (gate), score, materialize.

Each step is skipped when its output for ``as_of`` already exists (unless ``force``):

============  =====================================================  ==========================================
step          skipped when                                           otherwise
============  =====================================================  ==========================================
features      ``customer_features`` has the (line, as_of) snapshot   :func:`ltv.features.pipeline.build_features`
              in the configured time unit                            for the lines that lack it
train         an MLflow training run with ``as_of`` is recorded for  :func:`ltv.training.train.train_line` when
              the line, or training is not due (below)               due; the gate decides promotion
score         ``customer_ltv`` has the (line, as_of) partition,      :func:`ltv.scoring.score.score_line`
              scored by the current champion version; or the line
              has no champion
materialize   a previous run materialized these same Delta versions  :func:`ltv.serving.materialize.materialize`
              of ``customer_features`` and ``customer_ltv``
============  =====================================================  ==========================================

Training is due (``pipeline`` block of ``ltv.yaml``) when the line has no champion yet (first
run), when the champion was trained ``retrain_every_days`` or more days before ``as_of``, or when
drift is detected: the PSI (:mod:`ltv.pipeline.drift`) of any ``drift_features`` between the
``as_of`` snapshot and the champion's training snapshot exceeds ``drift_threshold``. A champion
trained after ``as_of`` (a backfill of older dates) is never replaced by an older model.

Every step's outcome is written to the ``pipeline_runs`` table (:mod:`ltv.pipeline.records`), also
when a step fails. A failing line does not stop the other lines; the run reports it.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ltv.config import LTVConfig, validate_name
from ltv.errors import ConfigError, LTVError
from ltv.features.schema import TABLE_NAME as FEATURES_TABLE
from ltv.lake.io import Lake
from ltv.lake.tables import CUSTOMER_LTV
from ltv.pipeline.records import ALL_LINES, StepRecord, last_materialized, write_records
from ltv.training.registry import ChampionInfo, ModelRegistry

log = logging.getLogger(__name__)


@dataclass
class PipelineRun:
    """One date's run: its id and a record per step and line."""

    run_id: str
    as_of: dt.date
    forced: bool
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def failed(self) -> list[StepRecord]:
        return [s for s in self.steps if s.status == "failed"]

    @property
    def did_work(self) -> bool:
        return any(s.status == "ran" for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "as_of": self.as_of.isoformat(), "forced": self.forced,
                "steps": [s.as_dict() for s in self.steps]}


class _Step:
    """Times one (step, line) and turns its outcome into a :class:`StepRecord`."""

    def __init__(self, run: PipelineRun, step: str, line: str, say: Callable[[str], None]):
        self.run, self.step, self.line, self.say = run, step, line, say

    def skip(self, reason: str, **versions: Any) -> StepRecord:
        record = StepRecord(self.run.as_of, self.step, self.line, "skipped", reason, 0.0, versions)
        self.run.steps.append(record)
        self.say(f"{self.step} {self.line}: skipped ({reason})")
        return record

    def execute(self, reason: str, action: Callable[[], tuple[str, dict[str, Any]]]) -> StepRecord:
        """Run ``action`` (returns an outcome text and versions); a failure is recorded, not raised."""
        self.say(f"{self.step} {self.line}: {reason}")
        started = time.monotonic()
        try:
            outcome, versions = action()
            record = StepRecord(self.run.as_of, self.step, self.line, "ran",
                                f"{reason}; {outcome}" if outcome else reason, time.monotonic() - started, versions)
        except Exception as exc:  # recorded in pipeline_runs and reported; other lines go on
            log.warning("%s %s failed: %s", self.step, self.line, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            record = StepRecord(self.run.as_of, self.step, self.line, "failed",
                                f"{reason}; failed: {_failure(exc)}", time.monotonic() - started, {})
        self.run.steps.append(record)
        return record


# -- what exists -------------------------------------------------------------------------------------
def business_lines(lake: Lake, requested: Sequence[str] | None) -> list[str]:
    """Requested lines, or every line in ``transactions`` (a bounded distinct)."""
    if requested:
        return sorted({validate_name(x, "business line") for x in requested})
    if not lake.exists("transactions"):
        raise LTVError(f"no transactions table under {lake.root}; run `ltv ingest SOURCE` first")
    found = [r[0] for r in lake.read("transactions").select("business_line").distinct().collect()]
    return sorted(validate_name(x, "business line") for x in found)


def snapshot_lines(lake: Lake, as_of: dt.date, units: dict[str, str]) -> set[str]:
    """Lines that have a ``customer_features`` snapshot for ``as_of`` in their time unit
    (``units``: line -> unit; partition pruned)."""
    if not lake.exists(FEATURES_TABLE):
        return set()
    rows = (
        lake.read(FEATURES_TABLE)
        .where(F.col("as_of") == F.lit(as_of))
        .select("business_line", "time_unit").distinct().collect()
    )
    return {r[0] for r in rows if units.get(r[0]) == r[1]}


def scored_version(lake: Lake, line: str, as_of: dt.date) -> str | None:
    """``model_version`` of the stored (line, as_of) scores, or None when that partition is empty."""
    if not lake.exists(CUSTOMER_LTV.name):
        return None
    row = (
        lake.read(CUSTOMER_LTV.name)
        .where((F.col("business_line") == line) & (F.col("as_of") == F.lit(as_of)))
        .select("model_version").limit(1).collect()
    )
    return row[0][0] if row else None


def training_runs_for(registry: ModelRegistry, line: str, as_of: dt.date) -> list[Any]:
    """MLflow training runs of ``line`` recorded for ``as_of`` (newest first)."""
    from ltv.training.registry import registered_name

    experiment = registry.client.get_experiment_by_name(registered_name(line))
    if experiment is None:
        return []
    return registry.client.search_runs(
        [experiment.experiment_id], filter_string=f"params.as_of = '{as_of.isoformat()}'",
        order_by=["attributes.start_time DESC"], max_results=5,
    )


def _snapshot(lake: Lake, config: LTVConfig, line: str, as_of: dt.date) -> DataFrame:
    """The stored ``as_of`` snapshot of ``line`` (in its time unit), or one built in memory from ``transactions`` (not written)."""
    from ltv.features.pipeline import StoredSnapshots, build_snapshot, line_feature_settings
    from ltv.features.schema import known_at

    settings = line_feature_settings(config, line)
    stored = StoredSnapshots.read(lake, line, settings.time_unit).get(as_of)
    if stored is not None:
        return stored
    tx = lake.read("transactions").where((F.col("business_line") == line) & known_at(as_of))
    return build_snapshot(tx, as_of, settings)


def training_due(
    lake: Lake, config: LTVConfig, line: str, as_of: dt.date, champion: ChampionInfo | None
) -> tuple[bool, str, dict[str, Any]]:
    """(due?, why, facts) for training ``line`` on ``as_of``; see the module docstring."""
    settings = config.pipeline
    if champion is None:
        return True, "first run: the line has no champion yet", {}
    trained = champion.tags.get("ltv.as_of")
    facts: dict[str, Any] = {"champion_version": champion.version, "champion_as_of": trained}
    if not trained:
        return True, f"champion v{champion.version} has no training date (tag ltv.as_of)", facts
    trained_on = dt.date.fromisoformat(trained)
    age = (as_of - trained_on).days
    if age < 0:
        return False, f"champion v{champion.version} was trained as of {trained_on}, after {as_of}: not replaced by an older model", facts
    if age >= settings.retrain_every_days:
        return True, f"champion v{champion.version} is {age} days old (>= retrain_every_days {settings.retrain_every_days})", facts
    from ltv.pipeline.drift import feature_psi

    drift = feature_psi(
        _snapshot(lake, config, line, trained_on), _snapshot(lake, config, line, as_of),
        settings.drift_features, settings.drift_bins,
    )
    facts["psi"] = {k: round(v, 4) for k, v in drift.items()}
    worst = max(drift, key=lambda k: drift[k] if drift[k] == drift[k] else -1.0)
    if drift[worst] == drift[worst] and drift[worst] > settings.drift_threshold:
        return True, f"drift: PSI of {worst} {drift[worst]:.3f} > {settings.drift_threshold} vs {trained_on}", facts
    return False, (f"not due: champion v{champion.version} is {age} days old (< {settings.retrain_every_days}), "
                   f"max PSI {drift[worst]:.3f} ({worst}) <= {settings.drift_threshold}"), facts


# -- the run -------------------------------------------------------------------------------------------
def run_pipeline(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    as_of: dt.date,
    horizon_days: int | None = None,
    lines: Sequence[str] | None = None,
    force: bool = False,
    materialize_online: bool = True,
    progress=None,
) -> PipelineRun:
    """The pipeline for one ``as_of``; returns what each step did (also written to ``pipeline_runs``).

    Args:
        horizon_days: training/scoring horizon (default: each line's ``horizon_days``).
        lines: business lines (default: every line in ``transactions``).
        force: run every step even when its output exists (training: even when not due).
        materialize_online: False records ``materialize`` as skipped (used between backfill dates).
    """
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise ConfigError(f"as_of must be a date (YYYY-MM-DD), got {as_of!r}")
    say = progress.say if progress is not None else log.info
    run = PipelineRun(uuid.uuid4().hex[:16], as_of, force)
    chosen = business_lines(lake, lines)
    registry = ModelRegistry(lake.root)
    try:
        _features(spark, lake, config, run, chosen, say)
        for line in chosen:
            _train(spark, lake, config, run, line, horizon_days, registry, progress, say)
        for line in chosen:
            _score(spark, lake, config, run, line, horizon_days, registry, say)
        _materialize(spark, lake, config, run, materialize_online, say)
    finally:
        write_records(lake, run.run_id, run.steps, force)
    return run


def _features(spark, lake: Lake, config: LTVConfig, run: PipelineRun, lines: list[str], say) -> None:
    from ltv.features.pipeline import build_features

    present = snapshot_lines(lake, run.as_of, {line: config.line(line).time_unit for line in lines})
    todo = list(lines) if run.forced else [x for x in lines if x not in present]
    version = lake.version(FEATURES_TABLE)
    for line in lines:
        if line not in todo:
            _Step(run, "features", line, say).skip(f"snapshot for {run.as_of} exists", customer_features=version)
    if not todo:
        return
    reason = "forced" if run.forced else "no snapshot for this date"
    say(f"features {','.join(todo)}: {reason}")
    started = time.monotonic()
    try:  # one Delta commit for all lines, one record per line with its row count
        result = build_features(spark, lake, config, run.as_of, todo)
    except Exception as exc:  # recorded, reported; the other steps skip these lines
        log.warning("features failed: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
        for line in todo:
            run.steps.append(StepRecord(run.as_of, "features", line, "failed", f"{reason}; failed: {_failure(exc)}",
                                        time.monotonic() - started, {}))
        return
    seconds = time.monotonic() - started
    for line in todo:
        run.steps.append(StepRecord(run.as_of, "features", line, "ran",
                                    f"{reason}; {result.rows.get(line, 0):,} customers", seconds,
                                    {"customer_features": result.version}))


def _train(spark, lake: Lake, config: LTVConfig, run: PipelineRun, line: str, horizon_days, registry, progress, say) -> None:
    from ltv.training.train import train_line

    step = _Step(run, "train", line, say)
    if _failed(run, "features", line):
        step.skip("features failed")
        return
    champion = registry.champion(line)
    if not run.forced:
        recorded = training_runs_for(registry, line, run.as_of)
        if recorded:
            last = recorded[0]
            step.skip(f"training run {last.info.run_id[:8]} already recorded for {run.as_of} "
                      f"({last.data.tags.get('ltv.action')})", mlflow_run=last.info.run_id,
                      champion_version=champion.version if champion else None)
            return
        due, why, facts = training_due(lake, config, line, run.as_of, champion)
        if not due:
            step.skip(why, **facts)
            return
    else:
        why = "forced"

    def fit() -> tuple[str, dict[str, Any]]:
        result = train_line(spark, lake, config, line, run.as_of, horizon_days, registry=registry, progress=progress)
        outcome = f"{result.decision.action}: {result.decision.reason}"
        if result.champion_version:
            outcome += f" -> champion v{result.champion_version}"
        return outcome, {"mlflow_run": result.run_id, "champion_version": result.champion_version,
                         "winner": result.decision.winner, "promoted": bool(result.decision.promote)}

    step.execute(why, fit)


def _score(spark, lake: Lake, config: LTVConfig, run: PipelineRun, line: str, horizon_days, registry, say) -> None:
    from ltv.scoring.score import score_line

    step = _Step(run, "score", line, say)
    champion = registry.champion(line)
    if champion is None:
        step.skip(f"no promoted model for {line} (see `ltv models show {line}`)")
        return
    stored = scored_version(lake, line, run.as_of)
    if not run.forced and stored == champion.version:
        step.skip(f"scores for {run.as_of} exist from champion v{stored}",
                  customer_ltv=lake.version(CUSTOMER_LTV.name), model_version=stored)
        return
    if run.forced:
        reason = "forced"
    elif stored is None:
        reason = "no scores for this date"
    else:
        reason = f"stored scores are from v{stored}, champion is v{champion.version}"

    def predict() -> tuple[str, dict[str, Any]]:
        result = score_line(spark, lake, config, line, run.as_of, horizon_days, registry)
        return (f"{result.rows:,} customers with {result.model_name} v{result.model_version}",
                {"customer_ltv": result.table_version, "model_version": result.model_version,
                 "features_version": result.features_version})

    step.execute(reason, predict)


def _materialize(spark, lake: Lake, config: LTVConfig, run: PipelineRun, enabled: bool, say) -> None:
    from ltv.serving.materialize import materialize
    from ltv.serving.store import feast_dir

    step = _Step(run, "materialize", ALL_LINES, say)
    if not enabled:
        step.skip("backfill: materialized once, after the last date")
        return
    if not lake.exists(FEATURES_TABLE):
        step.skip("no customer_features table yet")
        return
    versions = {"customer_features": lake.version(FEATURES_TABLE), "customer_ltv": lake.version(CUSTOMER_LTV.name)}
    online = feast_dir(lake.root) / "registry.db"
    if not run.forced and online.exists():
        done = next((m for m in last_materialized(lake) if m["versions"] == versions), None)
        if done is not None:
            step.skip(f"online store already holds customer_features v{versions['customer_features']}, "
                      f"customer_ltv v{versions['customer_ltv']} (materialized for {done['as_of']})", **versions)
            return
    reason = "forced" if run.forced else "tables changed since the last materialize"

    def push() -> tuple[str, dict[str, Any]]:
        result = materialize(spark, lake, config)
        # versions after the push (materialize creates an empty customer_ltv when scoring never ran)
        pushed = {"customer_features": lake.version(FEATURES_TABLE), "customer_ltv": lake.version(CUSTOMER_LTV.name)}
        return ", ".join(f"{view} {n:,}" for view, n in sorted(result.rows.items())), pushed

    step.execute(reason, push)


def _failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failed(run: PipelineRun, step: str, line: str) -> bool:
    return any(s.step == step and s.business_line == line and s.status == "failed" for s in run.steps)


def run_range(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    dates: Sequence[dt.date],
    horizon_days: int | None = None,
    lines: Sequence[str] | None = None,
    force: bool = False,
    progress=None,
) -> list[PipelineRun]:
    """Backfill: :func:`run_pipeline` per date in order; materialize once, at the last date.

    A failed step does not stop later dates (e.g. a line too young to train early in the range);
    every failure is in the returned runs and in ``pipeline_runs``.
    """
    ordered = sorted(set(dates))
    runs = []
    for index, as_of in enumerate(ordered):
        stage = progress.stage(f"pipeline as of {as_of}") if progress is not None else _nullcontext()
        with stage:
            runs.append(run_pipeline(spark, lake, config, as_of, horizon_days, lines, force,
                                     materialize_online=index == len(ordered) - 1, progress=progress))
    return runs


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()
