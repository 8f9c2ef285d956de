"""Point-in-time training and evaluation sets for one business line.

Everything starts from :class:`KnownData`: the line's transactions filtered ONCE to rows known
at the training date ``as_of`` (``event_ts`` before the end of that day). Nothing later is
ever read, so the back-test cannot leak the future; :func:`ltv.features.labels.attach_labels`
is the only code that looks past a cutoff, and only up to ``as_of``.

Time layout for ``ltv train --as-of D --horizon-days H`` (supervised models learn from
earlier cutoffs, BTYD models fit on the snapshot itself)::

    back-test:  fit cutoff   V = D - H     examples: features at V - H - k*step, labels to <= V
                evaluation   features at V, labels in (V, D]
    refit:      fit cutoff   D             examples: features at D - H - k*step, labels to <= D
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ltv.config import FeatureSettings
from ltv.features.labels import attach_labels
from ltv.features.pipeline import (
    StoredSnapshots, build_snapshot, condense_patterns, condense_refunds, condense_spend,
)
from ltv.features.schema import known_at, model_feature_columns
from ltv.models.base import TrainingData

log = logging.getLogger(__name__)

#: cap on supervised examples brought to the driver (a uniform sample beyond it) when they are
#: not trained distributed (``distributed_min_rows`` above this cap)
MAX_EXAMPLES = 1_000_000
#: default of ``LineSettings.distributed_min_rows``: more examples train with xgboost.spark
DISTRIBUTED_MIN_ROWS = 1_000_000
#: sample of the examples kept on the driver when they train distributed (for calibration factors)
DRIVER_SAMPLE = 100_000
#: customers of the fit cutoff's snapshot a supervised model sets its level on (a uniform sample beyond)
POPULATION_ROWS = 100_000
LABEL_COLUMNS = ("label_spend", "label_purchases")


@dataclass
class KnownData:
    """One line's inputs as known at ``as_of`` (pinned Delta versions recorded for lineage)."""

    line: str
    as_of: dt.date
    transactions: DataFrame
    customers: DataFrame | None
    settings: FeatureSettings
    versions: dict[str, int | None] = field(default_factory=dict)
    stored: StoredSnapshots | None = None
    _snapshots: dict[dt.date, DataFrame] = field(default_factory=dict)
    _facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_frames(
        cls,
        line: str,
        as_of: dt.date,
        transactions: DataFrame,
        customers: DataFrame | None,
        settings: FeatureSettings,
        versions: dict[str, int | None] | None = None,
        stored: StoredSnapshots | None = None,
    ) -> KnownData:
        if stored is not None and (stored.line, stored.time_unit) != (line, settings.time_unit):
            raise ValueError(f"stored snapshots of {stored.line} in {stored.time_unit} given for {line} in {settings.time_unit}")
        tx = transactions.where((F.col("business_line") == line) & known_at(as_of))
        cust = customers.where(F.col("business_line") == line) if customers is not None else None
        return cls(line, as_of, tx, cust, settings, dict(versions or {}), stored)

    def snapshot(self, cutoff: dt.date) -> DataFrame:
        """Feature snapshot at ``cutoff`` (<= as_of), cached for reuse within a run: the stored
        one when the feature store has it (at the pinned version), else built by the same code."""
        if cutoff > self.as_of:
            raise ValueError(f"cutoff {cutoff} is after the training date {self.as_of}: that would leak")
        if cutoff not in self._snapshots:
            frame = self.stored.get(cutoff) if self.stored is not None else None
            if frame is None:
                frame = build_snapshot(self.transactions, cutoff, self.settings, self.customers)
            self._snapshots[cutoff] = frame.persist(StorageLevel.MEMORY_AND_DISK)
        return self._snapshots[cutoff]

    def sources(self) -> dict[str, str]:
        """Every snapshot used so far and where it came from (lineage): ``{cutoff: source}``."""
        return {c.isoformat(): (self.stored.source(c) if self.stored is not None else "built from transactions")
                for c in sorted(self._snapshots)}

    def labelled(self, cutoff: dt.date, horizon_days: int) -> DataFrame:
        """Snapshot at ``cutoff`` with labels from ``(cutoff, cutoff + horizon]`` (must end <= as_of)."""
        end = cutoff + dt.timedelta(days=horizon_days)
        if end > self.as_of:
            raise ValueError(f"labels up to {end} are after the training date {self.as_of}")
        return attach_labels(self.snapshot(cutoff), self.transactions, horizon_days)

    def first_day(self) -> dt.date | None:
        """The line's first transaction day known at ``as_of`` (one query per run)."""
        if "first_day" not in self._facts:
            self._facts["first_day"] = self.transactions.agg(F.min(F.to_date("event_ts"))).first()[0]
        return self._facts["first_day"]

    def release(self) -> None:
        for frame in self._snapshots.values():
            frame.unpersist()
        self._snapshots.clear()


def example_cutoffs(fit_cutoff: dt.date, horizon_days: int, n_cutoffs: int, step_days: int, earliest: dt.date | None) -> list[dt.date]:
    """Training cutoffs for supervised models: ``fit_cutoff - H - k*step``, k = 0..n-1, not before ``earliest``."""
    cutoffs = []
    for k in range(max(1, n_cutoffs)):
        cutoff = fit_cutoff - dt.timedelta(days=horizon_days + k * step_days)
        if earliest is not None and cutoff < earliest:
            break
        cutoffs.append(cutoff)
    return cutoffs


def training_data(
    known: KnownData,
    fit_cutoff: dt.date,
    horizon_days: int,
    need_examples: bool,
    n_cutoffs: int = 1,
    step_days: int = 91,
    seed: int = 0,
    distributed_min_rows: int = DISTRIBUTED_MIN_ROWS,
    spark_workers: int | None = None,
    base: TrainingData | None = None,
    population: pd.DataFrame | None = None,
) -> TrainingData:
    """Everything a model may learn from when it is to predict from ``fit_cutoff`` onwards.

    The snapshot's condensed BTYD inputs (``base``, when this run already condensed them for
    ``fit_cutoff``: they are reused, not recounted) and, with ``need_examples``, supervised
    examples: at most ``distributed_min_rows`` are collected to the driver
    (``TrainingData.examples``); more stay a Spark DataFrame (``example_frame``, trained with
    ``xgboost.spark`` on ``spark_workers`` tasks) and ``examples`` gets a bounded sample.
    Supervised models also get the ``population`` they are fitted to score: the fit cutoff's
    snapshot rows (given, e.g. a back-test window's collected rows, or collected here: at most
    :data:`POPULATION_ROWS`, a uniform sample beyond), without labels.
    """
    snapshot = known.snapshot(fit_cutoff)
    if base is None or base.extra.get("fit_cutoff") != fit_cutoff.isoformat():
        base = TrainingData(
            time_unit=known.settings.time_unit,
            horizon_days=horizon_days,
            patterns=condense_patterns(snapshot),
            spend_patterns=condense_spend(snapshot),
            refunds=condense_refunds(snapshot),
        )
        base.extra["fit_cutoff"] = fit_cutoff.isoformat()
    data = TrainingData(time_unit=base.time_unit, horizon_days=horizon_days, patterns=base.patterns,
                        spend_patterns=base.spend_patterns, refunds=base.refunds, extra=dict(base.extra))
    if not need_examples:
        return data
    examples, cutoffs = example_frame(known, fit_cutoff, horizon_days, n_cutoffs, step_days)
    if examples is None:
        log.warning("%s: no history before %s for supervised examples", known.line, fit_cutoff)
        return data
    attach_examples(data, examples, model_feature_columns(list(snapshot.columns)), distributed_min_rows,
                    spark_workers, seed, known.line)
    data.extra["example_cutoffs"] = [c.isoformat() for c in cutoffs]
    if population is None:
        population = _sorted(_plain(_bounded(snapshot, POPULATION_ROWS, seed).toPandas()))
    data.population = population.drop(columns=[c for c in LABEL_COLUMNS if c in population.columns])
    return data


def _bounded(frame: DataFrame, limit: int, seed: int) -> DataFrame:
    total = frame.count()
    return frame.sample(fraction=limit / total, seed=seed) if total > limit else frame


def example_frame(
    known: KnownData, fit_cutoff: dt.date, horizon_days: int, n_cutoffs: int, step_days: int
) -> tuple[DataFrame | None, list[dt.date]]:
    """Supervised examples (features at each cutoff + labels in the horizon after it), lazily, and the cutoffs."""
    first_day = known.first_day()
    cutoffs = example_cutoffs(fit_cutoff, horizon_days, n_cutoffs, step_days, first_day)
    frames = [known.labelled(c, horizon_days) for c in cutoffs]
    if not frames:
        return None, []
    examples = frames[0]
    for frame in frames[1:]:
        examples = examples.unionByName(frame, allowMissingColumns=True)
    return examples, cutoffs


def attach_examples(
    data: TrainingData,
    examples: DataFrame,
    feature_columns: list[str],
    distributed_min_rows: int,
    spark_workers: int | None,
    seed: int,
    what: str,
) -> None:
    """Put ``examples`` into ``data``: collected (sorted, so training does not depend on Spark's
    row order) when at most ``distributed_min_rows``, else as ``example_frame`` plus a sample."""
    total = examples.count()
    data.feature_columns = list(feature_columns)
    data.extra["n_examples"] = total
    if total > distributed_min_rows:
        data.example_frame = examples
        data.spark_workers = spark_workers
        fraction = min(1.0, DRIVER_SAMPLE / total)
        data.examples = _plain(_sorted(examples.sample(fraction=fraction, seed=seed).toPandas()))
        log.info("%s: %d examples > distributed_min_rows=%d: supervised models train with xgboost.spark",
                 what, total, distributed_min_rows)
        return
    if total > MAX_EXAMPLES:
        examples = examples.sample(fraction=MAX_EXAMPLES / total, seed=seed)
        log.info("%s: sampled %d of %d examples", what, MAX_EXAMPLES, total)
    data.examples = _plain(_sorted(examples.toPandas()))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Examples in a fixed order (Spark's shuffle-read order varies between runs; row subsampling does not)."""
    keys = [c for c in ("business_line", "as_of", "customer_id") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow decimals/dates to plain numpy-friendly dtypes."""
    for col in frame.columns:
        if frame[col].dtype == object and col.startswith("attr_"):
            frame[col] = frame[col].astype("string")
    return frame


def consolidated_training_data(
    knowns: dict[str, KnownData],
    fit_cutoff: dt.date,
    horizon_days: int,
    cutoffs_by_line: dict[str, tuple[int, int]],
    group_column: str,
    distributed_min_rows: int = DISTRIBUTED_MIN_ROWS,
    spark_workers: int | None = None,
    seed: int = 0,
) -> TrainingData:
    """Training data of one model across lines: the union of each line's examples (own cutoffs,
    same point-in-time rules as :func:`training_data`) and per-line condensed patterns, both with
    ``group_column`` holding the line.

    Args:
        knowns: member line -> its data known at the training date (one time unit for all).
        cutoffs_by_line: line -> (``training_cutoffs``, ``cutoff_step_days``) of that line.
    """
    time_units = {known.settings.time_unit for known in knowns.values()}
    if len(time_units) != 1:
        raise ValueError(f"lines {sorted(knowns)} mix time units {sorted(time_units)}; one model needs one")
    patterns, spend, refunds, frames, feature_sets, cutoffs = [], [], [], [], [], {}
    for line in sorted(knowns):
        known = knowns[line]
        snapshot = known.snapshot(fit_cutoff)
        patterns.append(condense_patterns(snapshot).assign(**{group_column: line}))
        spend.append(condense_spend(snapshot).assign(**{group_column: line}))
        refunds.append(condense_refunds(snapshot).assign(**{group_column: line}))
        n_cutoffs, step_days = cutoffs_by_line[line]
        frame, line_cutoffs = example_frame(known, fit_cutoff, horizon_days, n_cutoffs, step_days)
        if frame is None:
            log.warning("%s: no history before %s for supervised examples", line, fit_cutoff)
            continue
        frames.append(frame)
        feature_sets.append(model_feature_columns(list(snapshot.columns)))
        cutoffs[line] = [c.isoformat() for c in line_cutoffs]
    data = TrainingData(
        time_unit=time_units.pop(),
        horizon_days=horizon_days,
        patterns=pd.concat(patterns, ignore_index=True),
        spend_patterns=pd.concat(spend, ignore_index=True),
        refunds=pd.concat(refunds, ignore_index=True),
    )
    data.extra.update(fit_cutoff=fit_cutoff.isoformat(), business_lines=sorted(knowns), example_cutoffs=cutoffs)
    if not frames:
        return data
    examples = frames[0]
    for frame in frames[1:]:
        examples = examples.unionByName(frame, allowMissingColumns=True)
    common = [c for c in feature_sets[0] if all(c in other for other in feature_sets[1:])]
    attach_examples(data, examples, [*common, group_column], distributed_min_rows, spark_workers, seed,
                    f"consolidated ({', '.join(sorted(knowns))})")
    return data
