"""Typed configuration for ltv (``ltv.yaml``).

Everything has a default, so the platform runs without a config file. Unknown keys
are rejected (``extra="forbid"``) so a typo never silently falls back to a default.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ltv.errors import ConfigError

DEFAULT_CONFIG_FILE = "ltv.yaml"
DEFAULT_LAKE = "./lake"
CANONICAL_COLUMNS = ("customer_id", "event_ts", "amount", "business_line", "transaction_id", "valid_from")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_name(value: str, what: str = "name") -> str:
    """Check an identifier that may reach Spark SQL or a path (business line, table, model)."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ConfigError(
            f"invalid {what} {value!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SparkSettings(_Strict):
    """Spark session settings. ``master`` None means: whatever spark-submit gave, else ``local[*]``."""

    master: str | None = None
    shuffle_partitions: int = Field(8, ge=1)
    driver_memory: str = "4g"
    conf: dict[str, str] = Field(default_factory=dict)


class IngestSettings(_Strict):
    """How raw transactions are read and validated."""

    column_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="source column -> canonical column, e.g. {cust: customer_id}",
    )
    default_business_line: str = "default"
    future_tolerance_seconds: int = Field(0, ge=0)
    csv_delimiter: str = ","

    @field_validator("column_mapping")
    @classmethod
    def _targets_are_canonical(cls, mapping: dict[str, str]) -> dict[str, str]:
        bad = sorted(t for t in mapping.values() if t not in CANONICAL_COLUMNS)
        if bad:
            raise ValueError(f"column_mapping targets must be one of {list(CANONICAL_COLUMNS)}; got {bad}")
        return mapping

    @field_validator("default_business_line")
    @classmethod
    def _line_name(cls, value: str) -> str:
        return validate_name(value, "business line")


class FeatureSettings(_Strict):
    """Feature snapshot settings."""

    time_unit: Literal["days", "weeks"] = "days"
    windows_days: list[int] = Field(default_factory=lambda: [30, 90, 365])
    attributes: dict[str, Literal["categorical", "numeric"]] | None = Field(
        None, description="customer attribute columns to join; None = every attribute column, typed by its data"
    )


GateMetric = Literal["rmse", "gini", "mae", "spearman", "top_decile_capture"]


class GateSettings(_Strict):
    """Promotion by evidence (see docs/concepts.md, "The gate").

    Every candidate, the baseline and the champion's own spec are back-tested on the same
    windows; a paired bootstrap over customers gives the confidence interval of each
    comparison. A candidate is promoted only when the lower bound of its improvement on
    ``primary_metric`` over the baseline (and over the champion) is above ``min_improvement``;
    near-ties (interval around 0 and a difference within ``tie_tolerance``) go to
    ``secondary_metric``. Guard rails fail a model only when the whole interval is outside them.
    """

    primary_metric: GateMetric = Field(
        "rmse", description="decides promotion; rmse rewards both level and ranking (gini ranks only)")
    secondary_metric: GateMetric = Field("gini", description="breaks near-ties on the primary metric")
    confidence: float = Field(0.9, gt=0.5, lt=1.0, description="level of the bootstrap intervals (two-sided)")
    n_bootstrap: int = Field(1000, ge=100, le=100_000, description="bootstrap replicates (customers drawn with replacement)")
    min_improvement: float = Field(
        0.0, ge=0, description="the improvement's lower bound must exceed this (primary metric's units)")
    tie_tolerance: float = Field(
        0.01, ge=0, description="relative primary-metric difference under which a non-significant difference is a tie")
    max_abs_bias: float = Field(0.15, ge=0, description="|sum predicted / sum actual - 1| allowed in the back-test")
    max_rmse_ratio: float = Field(1.05, gt=0, description="candidate RMSE may be at most this x the baseline's")
    max_quantile_gap: float | None = Field(
        0.1, ge=0, le=1, description="a candidate whose p10/p50/p90 miss their level by more than this in the back-test "
                                     "(quantile_gap, less 3 standard errors) is not eligible; null disables the rail")
    provisional: bool = Field(
        True, description="on a line's first run with no candidate passing, the most accurate model scores "
                          "provisionally (recorded as such) until a later run confirms or replaces it")


class LineSettings(_Strict):
    """Per-business-line modeling settings (all optional; defaults apply)."""

    candidates: list[str] | None = None
    horizon_days: int = Field(365, ge=1)
    time_unit: Literal["days", "weeks"] | None = Field(
        None, description="unit of frequency/recency/T for this line's features and models; "
                          "unset = features.time_unit (one unit per line, used by features, training and scoring)")
    discount_rate: float = Field(0.0, ge=0, description="annual rate for discounted LTV")
    margin_rate: float | None = Field(
        None, gt=0, le=1, allow_inf_nan=False,
        description="share of net spend that is profit (contribution margin); set, scores also state the "
                    "discounted LTV as profit (customer_ltv.discounted_profit); unset = revenue only")
    hyperparameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    gate: GateSettings = Field(default_factory=GateSettings)
    training_cutoffs: int = Field(
        2, ge=1, le=12, description="supervised models learn from this many earlier cutoffs (more data, less season)"
    )
    cutoff_step_days: int = Field(91, ge=1, description="days between those cutoffs")
    backtest_windows: int = Field(
        3, ge=1, le=24, description="rolling-origin back-test windows (the newest ends at --as-of; windows whose "
                                    "fit date has no customers yet are skipped)")
    backtest_step_days: int = Field(91, ge=1, description="days between the back-test windows' origins")
    distributed_min_rows: int = Field(
        1_000_000, ge=1,
        description="supervised models (xgboost, hybrid) train with xgboost.spark on the cluster when the training "
                    "examples exceed this many rows; at or below it they train on the driver",
    )
    distributed_num_workers: int | None = Field(
        None, ge=1, description="xgboost.spark workers (one Spark task each); None = Spark's default parallelism"
    )


class ConsolidatedSettings(_Strict):
    """One supervised model trained across business lines, with ``business_line`` as a feature.

    Off by default: it couples the lines (one line's data then moves another line's scores) and
    costs one more fit over all lines' examples per ``ltv train``. When enabled, each candidate is
    fitted once on the union of the member lines' training examples and back-tested on each
    member line's validation window as ``all_lines:<model>``; the per-line gate decides where it
    wins. Member lines must share the horizon and time unit.
    """

    enabled: bool = False
    candidates: list[str] = Field(default_factory=lambda: ["hybrid"], min_length=1,
                                  description="supervised models to train across lines (xgboost, hybrid)")
    business_lines: list[str] | None = Field(None, description="member lines; None = every line in transactions")
    hyperparameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per candidate; a candidate without an entry uses defaults.hyperparameters"
    )

    @field_validator("business_lines")
    @classmethod
    def _member_names(cls, lines: list[str] | None) -> list[str] | None:
        return None if lines is None else [validate_name(x, "business line") for x in lines]


class PipelineSettings(_Strict):
    """``ltv run``: when the daily pipeline retrains a line (it always trains a line without a champion).

    Retrain when the champion was trained ``retrain_every_days`` or more days before the run's
    ``as_of``, or when the population drifted: the Population Stability Index of any of
    ``drift_features`` between the run's snapshot and the champion's training snapshot
    (``drift_bins`` quantile bins of the latter) exceeds ``drift_threshold``
    (rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 large shift).
    """

    retrain_every_days: int = Field(28, ge=1)
    drift_threshold: float = Field(0.2, gt=0)
    drift_features: list[str] = Field(
        default_factory=lambda: ["frequency", "monetary_value", "days_since_last_purchase"]
    )
    drift_bins: int = Field(10, ge=2, le=100)

    @field_validator("drift_features")
    @classmethod
    def _feature_names(cls, names: list[str]) -> list[str]:
        return [validate_name(n, "drift feature") for n in names]


class LTVConfig(_Strict):
    """The whole ``ltv.yaml``."""

    lake: str | None = None
    spark: SparkSettings = Field(default_factory=SparkSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    defaults: LineSettings = Field(default_factory=LineSettings)
    business_lines: dict[str, LineSettings] = Field(default_factory=dict)
    consolidated: ConsolidatedSettings = Field(default_factory=ConsolidatedSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)

    @field_validator("business_lines")
    @classmethod
    def _line_names(cls, lines: dict[str, LineSettings]) -> dict[str, LineSettings]:
        for name in lines:
            validate_name(name, "business line")
        return lines

    def line(self, name: str) -> LineSettings:
        """Settings for one business line: its own block over ``defaults``."""
        merged = self.defaults.model_dump()
        override = self.business_lines.get(name)
        if override is not None:
            merged.update(override.model_dump(exclude_unset=True))
        if merged.get("time_unit") is None:  # one unit per line: its own, else the feature store's
            merged["time_unit"] = self.features.time_unit
        return LineSettings.model_validate(merged)

    def with_backtest_windows(self, count: int) -> LTVConfig:
        """A copy where every line back-tests on ``count`` windows (``ltv train --backtest-windows``)."""
        copy = self.model_copy(deep=True)
        copy.defaults.backtest_windows = count
        for block in copy.business_lines.values():
            if "backtest_windows" in block.model_fields_set:
                block.backtest_windows = count
        return copy

    def fingerprint(self) -> str:
        """Stable hash of the effective config, recorded in model lineage."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_config(path: str | os.PathLike[str] | None = None) -> LTVConfig:
    """Load ``ltv.yaml``.

    ``path`` None uses ``./ltv.yaml`` when it exists, else all defaults. Raises
    :class:`ConfigError` (exit code 2) naming the file and the bad key.
    """
    if path is None:
        candidate = Path(DEFAULT_CONFIG_FILE)
        if not candidate.exists():
            return LTVConfig()
        path = candidate
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found (pass --config FILE, or omit it to use defaults)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level, found {type(raw).__name__}")
    try:
        return LTVConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"config file {path} is invalid: {problems}") from exc


def resolve_lake(cli_value: str | None, config: LTVConfig) -> Path:
    """Lake folder: ``--lake`` over ``LTV_LAKE`` over the config's ``lake`` over ``./lake``."""
    value = cli_value or os.environ.get("LTV_LAKE") or config.lake or DEFAULT_LAKE
    return Path(value).expanduser().resolve()
