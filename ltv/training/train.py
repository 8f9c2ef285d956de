"""``ltv train``: back-test every candidate per business line, gate, refit and register the winner.

For ``--as-of D --horizon-days H`` (see :mod:`ltv.training.data` for the time layout):

1. read ``transactions`` (and ``customers``) at their current Delta versions (recorded) and
   keep only rows known at the end of ``D``;
2. fit each candidate as of ``V = D - H`` and predict the window ``(V, D]`` for every customer
   of the ``V`` snapshot; score against what they really spent (MAE, RMSE, normalized Gini,
   Spearman, top-decile capture, decile calibration, bias, interval coverage);
3. the gate (:mod:`ltv.training.gate`) picks the winner and decides promotion;
4. a promoted winner is refitted one step later (as of ``D``) and registered as the line's
   champion in MLflow with its lineage; the run, metrics, report and decision are logged in
   every case.
"""
from __future__ import annotations

import datetime as dt
import logging
import tempfile
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from ltv.config import FeatureSettings, LTVConfig, validate_name
from ltv.errors import ConfigError, LTVError
from ltv.evaluation.metrics import evaluate
from ltv.lake.io import Lake
from ltv.models.base import PREDICTION_COLUMNS, LTVModel
from ltv.models.registry import available_models, create_model, default_candidates
from ltv.scoring.predict import predict_spark
from ltv.training import consolidated as consolidation
from ltv.training.consolidated import ConsolidatedTrainer, base_model
from ltv.training.data import KnownData, training_data
from ltv.training.gate import BASELINE, GateDecision, decide
from ltv.training.registry import ModelRegistry

log = logging.getLogger(__name__)

#: back-test predictions brought to the driver for metrics (a uniform sample beyond it)
MAX_EVAL_ROWS = 2_000_000


@dataclass
class LineResult:
    """One business line's training outcome."""

    line: str
    as_of: dt.date
    horizon_days: int
    metrics: dict[str, dict[str, float]]
    decision: GateDecision
    run_id: str | None = None
    champion_version: str | None = None
    report: Path | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("ltv", "pyspark", "delta-spark", "lifetimes", "xgboost-cpu", "xgboost", "numpy", "pandas", "mlflow"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


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


def _predict_window(model: LTVModel, frame, horizon_days: int) -> pd.DataFrame:
    """Back-test predictions of ``model`` on one window's labelled ``frame``: one row per customer,
    sorted by ``customer_id`` (so every model's rows align), on the driver (bounded by the caller)."""
    predictions = predict_spark(model, frame, horizon_days, keep=("customer_id", "label_spend"))
    pdf = predictions.select("customer_id", "label_spend", *PREDICTION_COLUMNS).toPandas()
    return pdf.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _window_metrics(pdf: pd.DataFrame) -> dict[str, float]:
    return evaluate(pdf["label_spend"].to_numpy(float), pdf["predicted_ltv"].to_numpy(float),
                    pdf["predicted_ltv_p10"].to_numpy(float), pdf["predicted_ltv_p90"].to_numpy(float))


@dataclass
class Window:
    """One rolling-origin back-test window: fit as of ``fit_cutoff``, judged on ``(fit_cutoff, end]``."""

    index: int
    fit_cutoff: dt.date
    end: dt.date
    customers: int = 0
    frame: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "fit_cutoff": self.fit_cutoff.isoformat(), "end": self.end.isoformat(),
                "customers": self.customers}


def backtest_windows(known: KnownData, as_of: dt.date, horizon: int, count: int, step_days: int,
                     seed: int = 0) -> tuple[list[Window], list[str]]:
    """The line's windows, newest first (window 0 ends at ``as_of``), and why any were skipped.

    A window whose fit date has no customers yet is skipped (a young line); above
    :data:`MAX_EVAL_ROWS` customers a window is a uniform sample of them.
    """
    windows, skipped = [], []
    for index in range(count):
        end = as_of - dt.timedelta(days=index * step_days)
        cutoff = end - dt.timedelta(days=horizon)
        frame = known.labelled(cutoff, horizon)
        n = frame.count()
        if n == 0:
            skipped.append(f"window {index} ({cutoff}, {end}]: no customers before {cutoff}")
            continue
        if n > MAX_EVAL_ROWS:
            frame = frame.sample(fraction=MAX_EVAL_ROWS / n, seed=seed + index)
        windows.append(Window(index, cutoff, end, n, frame))
    return windows, skipped


def _sample(per_model: dict[str, list[pd.DataFrame]], windows: list[Window]):
    """The models' aligned per-row predictions over every window, as a bootstrap sample."""
    from ltv.evaluation.bootstrap import BacktestSample

    if not per_model:
        return None
    first = next(iter(per_model.values()))
    ids = pd.concat([w["customer_id"] for w in first], ignore_index=True)
    for name, frames in per_model.items():
        if not pd.concat([w["customer_id"] for w in frames], ignore_index=True).equals(ids):
            raise LTVError(f"{name}: back-test rows do not align with the other models' (same windows, other customers)")
    return BacktestSample(
        customer=pd.factorize(ids)[0],
        window=np.concatenate([np.full(len(f), w.index) for f, w in zip(first, windows)]),
        actual=np.concatenate([f["label_spend"].to_numpy(float) for f in first]),
        predicted={name: np.concatenate([f["predicted_ltv"].to_numpy(float) for f in frames])
                   for name, frames in per_model.items()},
    )


def _pooled_metrics(frames: list[pd.DataFrame]) -> dict[str, float]:
    """Every window's rows together; the Gini is the windows' size-weighted mean (rankings are per window)."""
    pooled = _window_metrics(pd.concat(frames, ignore_index=True))
    ginis = [(_window_metrics(f)["gini"], len(f)) for f in frames]
    usable = [(g, n) for g, n in ginis if np.isfinite(g)]
    pooled["gini"] = sum(g * n for g, n in usable) / sum(n for _, n in usable) if usable else float("nan")
    pooled["windows"] = len(frames)
    return pooled


def _read_inputs(lake: Lake):
    """(pinned Delta versions, transactions, customers or None) as of now, read once."""
    versions = {name: lake.version(name) for name in ("transactions", "customers", "customer_features")}
    if versions["transactions"] is None:
        raise LTVError("no transactions table in the lake; run `ltv ingest` first")
    tx = lake.read("transactions", version=versions["transactions"])
    customers = lake.read("customers", version=versions["customers"]) if versions["customers"] is not None else None
    return versions, tx, customers


def _known_data(config: LTVConfig, line: str, as_of: dt.date, tx, customers, versions) -> KnownData:
    settings = config.line(line)
    feature_settings = FeatureSettings(
        time_unit=settings.time_unit,
        windows_days=config.features.windows_days,
        attributes=config.features.attributes,
    )
    return KnownData.from_frames(line, as_of, tx, customers, feature_settings, versions)


def train_line(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    line: str,
    as_of: dt.date,
    horizon_days: int | None = None,
    models: list[str] | None = None,
    registry: ModelRegistry | None = None,
    progress=None,
    consolidated: ConsolidatedTrainer | None = None,
) -> LineResult:
    """Back-test, gate, refit and register for one business line (see module docstring).

    ``consolidated``: when it covers ``line``, its candidates (fitted once across lines) are
    back-tested here too, on this line's window, and may win this line's gate.
    """
    validate_name(line, "business line")
    settings = config.line(line)
    horizon = int(horizon_days or settings.horizon_days)
    registry = registry or ModelRegistry(lake.root)
    champion = registry.champion(line)
    names = candidate_names(config, line, models, champion.model_name if champion else None)
    say = progress.say if progress is not None else log.info

    shared = consolidated is not None and consolidated.covers(line)
    if shared:
        versions, known = dict(consolidated.versions), consolidated.known(line)
        if int(consolidated.horizon_days) != horizon:
            raise ConfigError(f"{line}: horizon {horizon} differs from the consolidated model's {consolidated.horizon_days}")
        names += consolidated.names
    else:
        versions, tx, customers = _read_inputs(lake)
        known = _known_data(config, line, as_of, tx, customers, versions)
    validation_cutoff = as_of - dt.timedelta(days=horizon)
    try:
        windows, skipped = backtest_windows(known, as_of, horizon, settings.backtest_windows,
                                            settings.backtest_step_days)
        if not windows:
            raise LTVError(
                f"business line {line!r} has no customers before {validation_cutoff} "
                f"(= --as-of {as_of} minus the {horizon}-day horizon); pick a later --as-of or a shorter horizon"
            )
        for why in skipped:
            say(f"{line}: {why} (a young line: skipped)")
        say(f"{line}: back-test on {len(windows)} window(s): " + ", ".join(
            f"({w.fit_cutoff}, {w.end}] {w.customers:,} customers" for w in windows))
        cache: dict[bool, Any] = {}

        def data_for(needs_examples: bool, fit_cutoff: dt.date):
            key = (needs_examples, fit_cutoff)
            if key not in cache:
                cache[key] = training_data(
                    known, fit_cutoff, horizon, needs_examples,
                    n_cutoffs=settings.training_cutoffs, step_days=settings.cutoff_step_days,
                    distributed_min_rows=settings.distributed_min_rows, spark_workers=settings.distributed_num_workers,
                )
            return cache[key]

        def fitted(name: str, fit_cutoff: dt.date) -> LTVModel:
            if base_model(name) is not None:  # fitted once across lines, shared
                return consolidated.model(name, fit_cutoff)
            model = create_model(name, **settings.hyperparameters.get(name, {}))
            return model.fit(data_for(model.needs_examples, fit_cutoff))

        per_model: dict[str, list[pd.DataFrame]] = {}
        window_metrics: dict[str, list[dict[str, float]]] = {}
        errors: dict[str, str] = {}
        for name in names:
            try:
                frames = [_predict_window(fitted(name, w.fit_cutoff), w.frame, horizon) for w in windows]
                window_metrics[name] = [_window_metrics(f) for f in frames]
            except Exception as exc:  # one broken candidate must not sink the others: it is rejected, with why
                log.warning("%s: candidate %s failed: %s", line, name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                errors[name] = f"{type(exc).__name__}: {exc}"[:500]
                continue
            per_model[name] = frames
        metrics = {name: _pooled_metrics(frames) for name, frames in per_model.items()}
        for name, values in metrics.items():
            say(f"{line}: {name:<16} rmse {values['rmse']:.2f}  gini {values['gini']:.3f}  bias {values['bias']:+.1%}"
                f"  ({len(windows)} window(s))")
        curves = {name: {"actual": frames[0]["label_spend"].to_numpy(float),
                         "predicted": frames[0]["predicted_ltv"].to_numpy(float),
                         "p10": frames[0]["predicted_ltv_p10"].to_numpy(float),
                         "p90": frames[0]["predicted_ltv_p90"].to_numpy(float)} for name, frames in per_model.items()}

        decision = decide(_sample(per_model, windows), settings.gate, champion.model_name if champion else None,
                          errors)
        decision.evidence["windows"] = [w.as_dict() for w in windows]
        decision.evidence["skipped_windows"] = skipped
        decision.evidence["window_metrics"] = window_metrics
        for line_out in _decision_lines(decision):
            say(f"{line}: {line_out}")
        lineage = {
            "business_line": line,
            "as_of": as_of.isoformat(),
            "horizon_days": horizon,
            "time_unit": settings.time_unit,
            "validation_window": [validation_cutoff.isoformat(), as_of.isoformat()],
            "backtest_fit_cutoff": validation_cutoff.isoformat(),
            "backtest_windows": [w.as_dict() for w in windows],
            "refit_cutoff": as_of.isoformat(),
            "delta_versions": versions,
            "lake": str(lake.root),
            "config_hash": config.fingerprint(),
            "candidates": names,
            "previous_champion": (
                {"version": champion.version, "model": champion.model_name} if champion else None
            ),
            "libraries": _versions(),
        }
        report_dir = lake.root / "reports" / line / as_of.isoformat()
        report_path = _write_report(report_dir, line, as_of, horizon, metrics, curves, decision, lineage)

        with tempfile.TemporaryDirectory() as tmp:
            model_dir = None
            if decision.promote and decision.winner:
                say(f"{line}: refitting {decision.winner} as of {as_of} for scoring")
                winner = fitted(decision.winner, as_of)
                if base_model(decision.winner) is not None:
                    lineage["consolidated"] = consolidated.lineage(as_of)
                    lineage["example_cutoffs"] = lineage["consolidated"]["example_cutoffs"]
                else:
                    lineage["example_cutoffs"] = data_for(winner.needs_examples, as_of).extra.get("example_cutoffs")
                model_dir = Path(tmp) / "model"
                winner.save(model_dir, metadata={"lineage": lineage, "backtest": metrics[decision.winner],
                                                 "decision": decision.as_dict()})
            params = {
                "as_of": as_of.isoformat(),
                "horizon_days": horizon,
                "time_unit": settings.time_unit,
                "candidates": ",".join(names),
                "primary_metric": settings.gate.primary_metric,
                "config_hash": config.fingerprint(),
                "transactions_version": versions["transactions"],
                "customers_version": versions["customers"],
                "customer_features_version": versions["customer_features"],
            }
            run_id = registry.log_training(line, params, metrics, decision.as_dict(), lineage, report_dir, model_dir)
            version = None
            if model_dir is not None:
                version = registry.register_champion(
                    line, run_id, decision.winner,
                    {"ltv.as_of": as_of.isoformat(), "ltv.horizon_days": str(horizon), "ltv.action": decision.action,
                     "ltv.reason": decision.reason[:4000], "ltv.status": decision.status},
                )
        return LineResult(line, as_of, horizon, metrics, decision, run_id, version, report_path, lineage, errors)
    finally:
        if not shared:
            known.release()


def _decision_lines(decision: GateDecision) -> list[str]:
    """The comparisons behind a decision, one line each (what `ltv train` prints)."""
    lines = []
    for item in decision.evidence.get("comparisons", []):
        i = item["improvement"]
        lines.append(f"  {item['model']} vs {item['reference']} on {item['metric']}: improvement {i['estimate']:+.4g} "
                     f"[{i['low']:+.4g}, {i['high']:+.4g}] ({i['level']:.0%} interval)")
    return [*lines, f"  -> {decision.action}: {decision.reason}"]


def _write_report(report_dir: Path, line, as_of, horizon, metrics, curves, decision: GateDecision, lineage) -> Path | None:
    if not metrics:
        return None
    from ltv.evaluation.report import write_report

    flat_lineage = {k: (v if isinstance(v, (str, int, float)) or v is None else str(v)) for k, v in lineage.items()}
    return write_report(
        report_dir,
        title=f"ltv back-test: {line} as of {as_of} ({horizon}-day horizon)",
        line=line,
        metrics=metrics,
        curves=curves,
        champion=decision.winner if decision.promote else None,
        promoted=decision.promote,
        reason=decision.reason,
        lineage=flat_lineage,
    )


def train(
    spark: SparkSession,
    lake: Lake,
    config: LTVConfig,
    as_of: dt.date,
    horizon_days: int | None = None,
    business_lines: list[str] | None = None,
    models: list[str] | None = None,
    progress=None,
) -> list[LineResult]:
    """:func:`train_line` for each requested line (default: every line in ``transactions``).

    With the consolidated model enabled (``consolidated:`` in the config, or ``--model
    all_lines:<model>``), its candidates are fitted once across the member lines and offered
    to each member line's gate (see :mod:`ltv.training.consolidated`).
    """
    registry = ModelRegistry(lake.root)
    wants_consolidated = config.consolidated.enabled or any(base_model(m) for m in models or [])
    all_lines = None
    if business_lines:
        lines = sorted({validate_name(x, "business line") for x in business_lines})
    else:
        all_lines = _lines_in(lake)
        lines = all_lines
    requested = list(models) if models else None
    consolidated = None
    if wants_consolidated:
        if requested:  # a consolidated champion is always re-evaluated, like any champion
            for line in lines:
                champion = registry.champion(line)
                if champion and base_model(champion.model_name) and champion.model_name not in requested:
                    requested.append(champion.model_name)
        versions, tx, customers = _read_inputs(lake)
        consolidated = consolidation.prepare(
            config, as_of, horizon_days, all_lines or _lines_in(lake), lines, requested,
            lambda line: _known_data(config, line, as_of, tx, customers, versions), versions,
        )
    try:
        return [train_line(spark, lake, config, line, as_of, horizon_days, requested, registry, progress, consolidated)
                for line in lines]
    finally:
        if consolidated is not None:
            consolidated.release()


def _lines_in(lake: Lake) -> list[str]:
    lines = sorted(r[0] for r in lake.read("transactions").select("business_line").distinct().collect())
    return [validate_name(x, "business line") for x in lines]


__all__ = ["LineResult", "train", "train_line", "candidate_names"]
