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

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ltv.config import FeatureSettings
from ltv.features.labels import attach_labels
from ltv.features.pipeline import build_snapshot, condense_patterns, condense_spend
from ltv.features.schema import known_at, model_feature_columns
from ltv.models.base import TrainingData

log = logging.getLogger(__name__)

#: cap on supervised examples brought to the driver (a uniform sample beyond it)
MAX_EXAMPLES = 1_000_000


@dataclass
class KnownData:
    """One line's inputs as known at ``as_of`` (pinned Delta versions recorded for lineage)."""

    line: str
    as_of: dt.date
    transactions: DataFrame
    customers: DataFrame | None
    settings: FeatureSettings
    versions: dict[str, int | None] = field(default_factory=dict)
    _snapshots: dict[dt.date, DataFrame] = field(default_factory=dict)

    @classmethod
    def from_frames(
        cls,
        line: str,
        as_of: dt.date,
        transactions: DataFrame,
        customers: DataFrame | None,
        settings: FeatureSettings,
        versions: dict[str, int | None] | None = None,
    ) -> KnownData:
        tx = transactions.where((F.col("business_line") == line) & known_at(as_of))
        cust = customers.where(F.col("business_line") == line) if customers is not None else None
        return cls(line, as_of, tx, cust, settings, dict(versions or {}))

    def snapshot(self, cutoff: dt.date) -> DataFrame:
        """Feature snapshot at ``cutoff`` (<= as_of), cached for reuse within a run."""
        if cutoff > self.as_of:
            raise ValueError(f"cutoff {cutoff} is after the training date {self.as_of}: that would leak")
        if cutoff not in self._snapshots:
            frame = build_snapshot(self.transactions, cutoff, self.settings, self.customers)
            self._snapshots[cutoff] = frame.persist(StorageLevel.MEMORY_AND_DISK)
        return self._snapshots[cutoff]

    def labelled(self, cutoff: dt.date, horizon_days: int) -> DataFrame:
        """Snapshot at ``cutoff`` with labels from ``(cutoff, cutoff + horizon]`` (must end <= as_of)."""
        end = cutoff + dt.timedelta(days=horizon_days)
        if end > self.as_of:
            raise ValueError(f"labels up to {end} are after the training date {self.as_of}")
        return attach_labels(self.snapshot(cutoff), self.transactions, horizon_days)

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
) -> TrainingData:
    """Everything a model may learn from when it is to predict from ``fit_cutoff`` onwards."""
    snapshot = known.snapshot(fit_cutoff)
    data = TrainingData(
        time_unit=known.settings.time_unit,
        horizon_days=horizon_days,
        patterns=condense_patterns(snapshot),
        spend_patterns=condense_spend(snapshot),
    )
    data.extra["fit_cutoff"] = fit_cutoff.isoformat()
    if not need_examples:
        return data
    first_day = known.transactions.agg(F.min(F.to_date("event_ts"))).first()[0]
    cutoffs = example_cutoffs(fit_cutoff, horizon_days, n_cutoffs, step_days, first_day)
    frames = [known.labelled(c, horizon_days) for c in cutoffs]
    if not frames:
        log.warning("%s: no history before %s for supervised examples", known.line, fit_cutoff)
        return data
    examples = frames[0]
    for frame in frames[1:]:
        examples = examples.unionByName(frame, allowMissingColumns=True)
    total = examples.count()
    if total > MAX_EXAMPLES:
        examples = examples.sample(fraction=MAX_EXAMPLES / total, seed=seed)
        log.info("%s: sampled %d of %d examples", known.line, MAX_EXAMPLES, total)
    pdf = examples.toPandas()
    data.examples = _plain(pdf)
    data.feature_columns = model_feature_columns(list(snapshot.columns))
    data.extra["example_cutoffs"] = [c.isoformat() for c in cutoffs]
    return data


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Arrow decimals/dates to plain numpy-friendly dtypes."""
    for col in frame.columns:
        if frame[col].dtype == object and col.startswith("attr_"):
            frame[col] = frame[col].astype("string")
    return frame
