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

import copy
import datetime as dt
import logging
import tempfile
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession

from ltv.config import LTVConfig, validate_name
from ltv.errors import ConfigError, LTVError
from ltv.features.pipeline import StoredSnapshots, line_feature_settings
from ltv.lake.io import Lake
from ltv.models.base import LTVModel
from ltv.models.calibration import QuantileCalibration, cross_calibrated, fit_calibration
from ltv.models.dispersion import SpendDispersion, cross_dispersed, fit_dispersion
from ltv.models.registry import create_model, get_model_class
from ltv.training import consolidated as consolidation
from ltv.training.backtest import (
    backtest_windows, bootstrap_sample, decision_lines, pooled_metrics, predict_window, window_metrics,
)
from ltv.training.consolidated import ConsolidatedTrainer, base_model
from ltv.training.data import KnownData, training_data
from ltv.training.defend import candidate_names, champion_specs, champion_unit_change, deployed_document
from ltv.training.gate import GateDecision, decide
from ltv.training.registry import ModelRegistry

log = logging.getLogger(__name__)


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


def _read_inputs(lake: Lake):
    """(pinned Delta versions, transactions, customers or None) as of now, read once."""
    versions = {name: lake.version(name) for name in ("transactions", "customers", "customer_features")}
    if versions["transactions"] is None:
        raise LTVError("no transactions table in the lake; run `ltv ingest` first")
    tx = lake.read("transactions", version=versions["transactions"])
    customers = lake.read("customers", version=versions["customers"]) if versions["customers"] is not None else None
    return versions, tx, customers


def _known_data(lake: Lake, config: LTVConfig, line: str, as_of: dt.date, tx, customers, versions) -> KnownData:
    """The line's data known at ``as_of``: snapshots from the feature store at the pinned version
    when it has them, built by the same code otherwise."""
    settings = line_feature_settings(config, line)
    stored = StoredSnapshots.read(lake, line, settings.time_unit, versions.get("customer_features"))
    return KnownData.from_frames(line, as_of, tx, customers, settings, versions, stored)


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
    dry_run: bool = False,
) -> LineResult:
    """Back-test, gate, refit and register for one business line (see module docstring).

    ``dry_run``: back-test, decide and write the report (under ``<lake>/dry-runs/``), but log
    nothing to MLflow and register nothing: the registry is not touched.

    ``consolidated``: when it covers ``line``, its candidates (fitted once across lines) are
    back-tested here too, on this line's window, and may win this line's gate.
    """
    validate_name(line, "business line")
    settings = config.line(line)
    horizon = int(horizon_days or settings.horizon_days)
    registry = registry or ModelRegistry(lake.root)
    champion = registry.champion(line)
    say = progress.say if progress is not None else log.info
    # the deployed champion is defended with its own spec, not its name refitted with today's settings
    document = deployed_document(registry, champion)
    unit_change = champion_unit_change(document, settings.time_unit)
    specs = {} if unit_change else champion_specs(champion, (document or {}).get("params"), settings)
    champion_entry = next(iter(specs), champion.model_name if champion else None)
    names = candidate_names(config, line, models, None if specs or unit_change else champion_entry)
    if unit_change:
        say(f"{line}: the champion v{champion.version} ({champion.model_name}) is not re-evaluated: {unit_change}")
    names += list(specs)
    for entry, (model_name, params) in specs.items():
        say(f"{line}: the champion v{champion.version} ({model_name}) is defended with its own hyperparameters "
            f"{params} as {entry} (today's config differs)")

    shared = consolidated is not None and consolidated.covers(line)
    if shared:
        versions, known = dict(consolidated.versions), consolidated.known(line)
        if int(consolidated.horizon_days) != horizon:
            raise ConfigError(f"{line}: horizon {horizon} differs from the consolidated model's {consolidated.horizon_days}")
        names += consolidated.names_for(line)
    else:
        versions, tx, customers = _read_inputs(lake)
        known = _known_data(lake, config, line, as_of, tx, customers, versions)
    validation_cutoff = as_of - dt.timedelta(days=horizon)
    try:
        supervised = any(base_model(n) is not None or get_model_class(specs.get(n, (n,))[0]).needs_examples for n in names)
        windows, skipped = backtest_windows(known, as_of, horizon, settings.backtest_windows,
                                            settings.backtest_step_days, supervised=supervised)
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
            if key not in cache:  # the snapshot's condensed inputs are counted once per cutoff
                cache[key] = training_data(
                    known, fit_cutoff, horizon, needs_examples,
                    n_cutoffs=settings.training_cutoffs, step_days=settings.cutoff_step_days,
                    distributed_min_rows=settings.distributed_min_rows, spark_workers=settings.distributed_num_workers,
                    base=cache.get((not needs_examples, fit_cutoff)),
                    population=next((w.rows for w in windows if w.fit_cutoff == fit_cutoff), None),
                )
            return cache[key]

        def fitted(name: str, fit_cutoff: dt.date) -> LTVModel:
            if base_model(name) is not None:  # fitted once across lines, shared
                return consolidated.model(name, fit_cutoff)
            model_name, params = specs.get(name, (name, settings.hyperparameters.get(name, {})))
            model = create_model(model_name, **params)
            return model.fit(data_for(model.needs_examples, fit_cutoff))

        per_model: dict[str, list[pd.DataFrame]] = {}
        by_window: dict[str, list[dict[str, float]]] = {}
        errors: dict[str, str] = {champion_entry: unit_change} if unit_change else {}
        calibrations: dict[str, QuantileCalibration | None] = {}
        dispersions: dict[str, SpendDispersion | None] = {}
        for name in names:
            try:
                frames, calibrates = [], False
                for w in windows:
                    model = fitted(name, w.fit_cutoff)
                    calibrates = model.calibrates_quantiles
                    frames.append(predict_window(model, w.rows, horizon))
                if all(f["predicted_ltv_variance"].isna().all() for f in frames):  # no variance of its own
                    dispersions[name] = fit_dispersion(frames, model.dispersion_power())
                    frames = cross_dispersed(frames, model.dispersion_power())  # judged on the other windows
                if calibrates:  # conformal, on the back-test; judged with each window calibrated on the others
                    calibrations[name] = fit_calibration(frames)
                    frames = cross_calibrated(frames)
                by_window[name] = [window_metrics(f) for f in frames]
            except Exception as exc:  # one broken candidate must not sink the others: it is rejected, with why
                log.warning("%s: candidate %s failed: %s", line, name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
                errors[name] = f"{type(exc).__name__}: {exc}"[:500]
                continue
            per_model[name] = frames
        metrics = {name: pooled_metrics(frames, by_window[name]) for name, frames in per_model.items()}
        for name, values in metrics.items():
            say(f"{line}: {name:<16} rmse {values['rmse']:.2f}  gini {values['gini']:.3f}  bias {values['bias']:+.1%}"
                f"  ({len(windows)} window(s))")
        curves = {name: {"actual": frames[0]["label_spend"].to_numpy(float),
                         "predicted": frames[0]["predicted_ltv"].to_numpy(float),
                         "p10": frames[0]["predicted_ltv_p10"].to_numpy(float),
                         "p90": frames[0]["predicted_ltv_p90"].to_numpy(float)} for name, frames in per_model.items()}

        # a champion that cannot be compared on today's features cannot score them either: the
        # line is decided as on a first run (promotion by evidence, else a provisional champion)
        decision = decide(bootstrap_sample(per_model, windows), settings.gate, None if unit_change else champion_entry,
                          errors, {name: (values["quantile_gap"], int(values["n"])) for name, values in metrics.items()})
        if unit_change:
            decision.reason += f" (the champion v{champion.version}, {champion.model_name}, was not compared: {unit_change})"
        decision.evidence["windows"] = [w.as_dict() for w in windows]
        decision.evidence["skipped_windows"] = skipped
        decision.evidence["window_metrics"] = by_window
        for line_out in decision_lines(decision):
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
            "feature_snapshots": known.sources(),
            "lake": str(lake.root),
            "config_hash": config.fingerprint(),
            "candidates": names,
            "previous_champion": (
                {"version": champion.version, "model": champion.model_name} if champion else None
            ),
            "libraries": _versions(),
        }
        report_dir = lake.root / ("dry-runs" if dry_run else "reports") / line / as_of.isoformat()
        report_path = _write_report(report_dir, line, as_of, horizon, metrics, curves, decision, lineage)
        if dry_run:
            say(f"{line}: dry run: {decision.action} would be the decision; nothing logged or registered "
                f"(report: {report_path})")
            return LineResult(line, as_of, horizon, metrics, decision, None, None, report_path, lineage, errors)

        with tempfile.TemporaryDirectory() as tmp:
            model_dir = None
            if decision.promote and decision.winner:
                say(f"{line}: refitting {decision.winner} as of {as_of} for scoring")
                winner = fitted(decision.winner, as_of)
                calibration, dispersion = calibrations.get(decision.winner), dispersions.get(decision.winner)
                if base_model(decision.winner) is not None and (calibration is not None or dispersion is not None):
                    winner = copy.deepcopy(winner)  # shared across lines: this line's back-test fits on its own copy
                if calibration is not None:
                    winner.set_quantile_calibration(calibration)
                    lineage["quantile_calibration"] = calibration.as_dict()
                if dispersion is not None:
                    winner.set_spend_dispersion(dispersion)
                    lineage["spend_dispersion"] = dispersion.as_dict()
                if base_model(decision.winner) is not None:
                    lineage["consolidated"] = consolidated.lineage(as_of)
                    lineage["example_cutoffs"] = lineage["consolidated"]["example_cutoffs"]
                else:
                    lineage["example_cutoffs"] = data_for(winner.needs_examples, as_of).extra.get("example_cutoffs")
                lineage["feature_snapshots"] = known.sources()
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
                    line, run_id, specs.get(decision.winner, (decision.winner,))[0],
                    {"ltv.as_of": as_of.isoformat(), "ltv.horizon_days": str(horizon), "ltv.action": decision.action,
                     "ltv.reason": decision.reason[:4000], "ltv.status": decision.status},
                )
        return LineResult(line, as_of, horizon, metrics, decision, run_id, version, report_path, lineage, errors)
    finally:
        if not shared:
            known.release()


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
    dry_run: bool = False,
) -> list[LineResult]:
    """:func:`train_line` for each requested line (default: every line in ``transactions``).

    With the consolidated model enabled (``consolidated:`` in the config, or ``--model
    all_lines:<model>``), its candidates are fitted once across the member lines and offered
    to each member line's gate (see :mod:`ltv.training.consolidated`).
    """
    registry = ModelRegistry(lake.root)
    all_lines = None
    if business_lines:
        lines = sorted({validate_name(x, "business line") for x in business_lines})
    else:
        all_lines = _lines_in(lake)
        lines = all_lines
    requested = list(models) if models else None
    # a consolidated champion is always re-evaluated, like any champion, even with consolidation off
    champions = {line: c.model_name for line in lines if (c := registry.champion(line)) and base_model(c.model_name)}
    wants_consolidated = config.consolidated.enabled or any(base_model(m) for m in models or []) or bool(champions)
    consolidated = None
    if wants_consolidated:
        if requested and any(base_model(m) for m in requested):
            requested += [name for name in sorted(set(champions.values())) if name not in requested]
        versions, tx, customers = _read_inputs(lake)
        consolidated = consolidation.prepare(
            config, as_of, horizon_days, all_lines or _lines_in(lake), lines, requested,
            lambda line: _known_data(lake, config, line, as_of, tx, customers, versions), versions, champions,
        )
    try:
        return [train_line(spark, lake, config, line, as_of, horizon_days, requested, registry, progress, consolidated,
                           dry_run=dry_run)
                for line in lines]
    finally:
        if consolidated is not None:
            consolidated.release()


def _lines_in(lake: Lake) -> list[str]:
    lines = sorted(r[0] for r in lake.read("transactions").select("business_line").distinct().collect())
    return [validate_name(x, "business line") for x in lines]


__all__ = ["LineResult", "train", "train_line", "candidate_names"]
