"""Acceptance check on REAL data (issue #16): the champion against a plain lifetimes BG/NBD + Gamma-Gamma
on CDNOW (not a test).

The criterion, per as-of date D (default 1997-09-30 and 1998-03-31), horizon H = 91 days, everything
fitted on data up to the end of D and judged on what each customer really spent in (D, D + H]:

* champion normalized Gini >= the reference's + 0.02;
* champion RMSE <= 1.01 x the reference's;
* |champion aggregate bias| <= max(10%, |reference bias|).

The reference is lifetimes 0.11.3 as a user would run it: ``summary_data_from_transaction_data(freq='D',
observation_period_end=D, monetary_value_col='amount')`` on the raw purchases up to D (same-day rows are
summed into one purchase day, exactly as ltv's features do), ``BetaGeoFitter(penalizer_coef=0)``,
``GammaGammaFitter(penalizer_coef=0)`` on the repeat customers with monetary_value > 0, and the prediction
``conditional_expected_number_of_purchases_up_to_time(H) x conditional_expected_average_profit`` (a
customer without repeats gets Gamma-Gamma's population mean spend). Fitted in this process only; no
lifetimes save/load.

Per D, in a fresh lake ``<workdir>/<D>/lake`` (the workdir is wiped first):

1. ingest the whole CDNOW master file as business line ``music`` (as ``ltv demo`` does); the
   platform's point-in-time rules keep everything it fits at D to rows with ``event_ts`` before the
   end of D;
2. ``build_features`` at D and ``train_line(as_of=D, horizon_days=H)`` with the default candidates and
   the demo's line config for music (``LineSettings(horizon_days=91)``, defaults otherwise); the
   gate's decision is recorded;
3. ``score_line`` at D: the champion registered as of D (the refit at D) scores every customer of the
   D snapshot into ``customer_ltv``, read back here;
4. every candidate is refitted at D exactly as ``train_line`` refits a winner (same
   ``training_data`` call) and predicts the same D snapshot;
5. realised = each snapshot customer's net spend in (D, D + H] from the raw CDNOW file (0 without
   purchases);
6. normalized Gini (``ltv.evaluation.metrics``), RMSE and aggregate bias per model on the same
   customers, plus a paired customer bootstrap of the champion-minus-reference Gini and of the RMSE
   ratio.
7. issue #17's quantile figures per model (``quantiles``): the share of realised spend below and
   at or below each of p10 / p50 / p90, pinball loss, the 80% interval's width and its coverage among
   buyers against the coverage the model implies; out of time on (D, D + H] (the registered champion
   and every refit; the boosted refits are not conformally calibrated, the champion is) and as
   ``train_line``'s back-test computed them.

Results go to ``bench/results/cdnow.json`` under the current directory (run from the repository root,
also when running a copy of this script from another worktree); per-customer predictions to ``<workdir>/<D>/predictions.csv``.

    .venv/bin/python bench/cdnow_check.py [--as-of 1997-09-30 --as-of 1998-03-31] [--horizon-days 91]
        [--workdir /tmp/ltv-cdnow] [--out bench/results/cdnow.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

LINE = "music"
DEFAULT_DATES = ("1997-09-30", "1998-03-31")
REFERENCE = "lifetimes_bgnbd_gg"
#: what is kept of each refit's predictions: the point forecast, and what its quantile figures are
#: computed from (issue #17: one-sided shares per level, pinball loss, width, buyer coverage)
REFIT_COLUMNS = ("predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p50", "predicted_ltv_p90", "prob_purchase")
MARKER = ".ltv-cdnow-check"
GINI_MARGIN = 0.02
RMSE_FACTOR = 1.01
BIAS_FLOOR = 0.10
#: the reference's bias measured before this script existed (issue #16), for a sanity check
EARLIER_REFERENCE_BIAS = {"1997-09-30": -0.188, "1998-03-31": 0.149}
N_BOOTSTRAP = 1000

T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {message}", flush=True)


class Progress:
    """What ``train_line`` reports to."""

    def say(self, message: str) -> None:
        say("  " + message)


# ---------------------------------------------------------------------------------------- data


def prepare_workdir(workdir: Path) -> Path:
    """Wipe ``workdir`` if it is empty or was made by this script; refuse anything else."""
    workdir = workdir.expanduser().resolve()
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise SystemExit(f"{workdir} exists and was not made by cdnow_check.py; pass --workdir to a new folder")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("created by bench/cdnow_check.py; safe to delete\n")
    return workdir


def realised_spend(raw: pd.DataFrame, as_of: dt.date, horizon: int) -> pd.Series:
    """Net spend per customer with rows in (as_of, as_of + horizon] (UTC days), from the raw file."""
    day = raw["event_ts"].dt.tz_convert("UTC").dt.date
    window = raw[(day > as_of) & (day <= as_of + dt.timedelta(days=horizon))]
    return window.groupby("customer_id")["amount"].sum()


# --------------------------------------------------------------------------------- reference


def lifetimes_reference(raw: pd.DataFrame, as_of: dt.date, horizon: int) -> tuple[pd.DataFrame, dict]:
    """Plain lifetimes BG/NBD + Gamma-Gamma fitted on the purchases up to the end of ``as_of``.

    Returns (per customer: customer_id, frequency, recency, T, monetary_value, predicted_ltv, purchases,
    avg_profit; info dict).
    """
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    tx = pd.DataFrame({
        "customer_id": raw["customer_id"],
        "date": raw["event_ts"].dt.tz_convert("UTC").dt.tz_localize(None),
        "amount": raw["amount"],
    })
    end = pd.Timestamp(as_of)
    tx = tx[tx["date"] < end + pd.Timedelta(days=1)]
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "date", monetary_value_col="amount", observation_period_end=end, freq="D")
    info: dict = {"transactions_used": int(len(tx)), "customers": int(len(summary))}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bgf = BetaGeoFitter(penalizer_coef=0.0).fit(summary["frequency"], summary["recency"], summary["T"])
        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        ggf = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary_value"])
    info["fit_warnings"] = sorted({f"{w.category.__name__}: {w.message}"[:300] for w in caught})
    info["bgnbd_params"] = {k: float(v) for k, v in bgf.params_.items()}
    info["gg_params"] = {k: float(v) for k, v in ggf.params_.items()}
    info["gg_fit_customers"] = int(len(repeat))
    p, q, v = (ggf.params_[k] for k in ("p", "q", "v"))
    info["gg_population_mean"] = float(v * p / (q - 1)) if q > 1 else float("nan")
    purchases = bgf.conditional_expected_number_of_purchases_up_to_time(
        horizon, summary["frequency"], summary["recency"], summary["T"])
    avg_profit = ggf.conditional_expected_average_profit(summary["frequency"], summary["monetary_value"])
    out = summary.reset_index().rename(columns={"index": "customer_id"})
    out["purchases"] = np.asarray(purchases, dtype=float)
    out["avg_profit"] = np.asarray(avg_profit, dtype=float)
    out["predicted_ltv"] = out["purchases"] * out["avg_profit"]
    zero = out["frequency"] == 0
    info["frequency0_avg_profit_is_population_mean"] = bool(
        np.allclose(out.loc[zero, "avg_profit"], info["gg_population_mean"])) if zero.any() else None
    return out, info


# ----------------------------------------------------------------------------------- platform


def build_lake(spark, root: Path, csv: Path, config):
    from ltv.ingest.pipeline import ingest_transactions
    from ltv.lake.io import Lake

    lake = Lake(spark, root)
    result = ingest_transactions(spark, lake, csv, settings=config.ingest)  # as run_demo does
    return lake, result.as_dict()


def champion_scores(spark, lake, config, as_of: dt.date, horizon: int) -> tuple[pd.DataFrame | None, dict]:
    """``score_line`` at ``as_of`` with the champion registered as of ``as_of``; its rows read back."""
    from pyspark.sql import functions as F

    from ltv.lake.tables import CUSTOMER_LTV
    from ltv.scoring.score import score_line
    from ltv.training.registry import ModelRegistry

    registry = ModelRegistry(lake.root)
    info = registry.champion_for(LINE, as_of)
    if info is None:
        return None, {"registered": False}
    result = score_line(spark, lake, config, LINE, as_of, horizon, registry)
    rows = (lake.read(CUSTOMER_LTV.name)
            .where((F.col("business_line") == LINE) & (F.col("as_of") == F.lit(as_of)))
            .select("customer_id", "predicted_ltv", "predicted_ltv_p10", "predicted_ltv_p50", "predicted_ltv_p90",
                    "prob_purchase", "model_name", "model_version")
            .toPandas())
    return rows, {"registered": True, "model": info.model_name, "version": info.version,
                  "trained_as_of": info.tags.get("ltv.as_of"), "status": info.tags.get("ltv.status"),
                  "action": info.tags.get("ltv.action"), "rows_scored": result.rows,
                  "features_version": result.features_version}


def refit_candidates(lake, config, as_of: dt.date, horizon: int, names: list[str]):
    """Each candidate refitted at ``as_of`` as ``train_line`` refits a winner; predictions on the
    ``as_of`` snapshot. Returns (snapshot pandas sorted by customer_id, {name: predictions}, errors, seconds)."""
    from ltv.config import FeatureSettings
    from ltv.models.registry import create_model
    from ltv.training.data import KnownData, training_data

    settings = config.line(LINE)
    versions = {name: lake.version(name) for name in ("transactions", "customers", "customer_features")}
    tx = lake.read("transactions", version=versions["transactions"])
    customers = lake.read("customers", version=versions["customers"]) if versions["customers"] is not None else None
    feature_settings = FeatureSettings(time_unit=settings.time_unit, windows_days=config.features.windows_days,
                                       attributes=config.features.attributes)
    known = KnownData.from_frames(LINE, as_of, tx, customers, feature_settings, versions)
    out, errors, seconds = {}, {}, {}
    try:
        snapshot = known.snapshot(as_of).toPandas().sort_values("customer_id", kind="stable").reset_index(drop=True)
        cache: dict[bool, object] = {}
        for name in names:
            started = time.perf_counter()
            try:
                model = create_model(name, **settings.hyperparameters.get(name, {}))
                if model.needs_examples not in cache:
                    cache[model.needs_examples] = training_data(
                        known, as_of, horizon, model.needs_examples,
                        n_cutoffs=settings.training_cutoffs, step_days=settings.cutoff_step_days,
                        distributed_min_rows=settings.distributed_min_rows,
                        spark_workers=settings.distributed_num_workers)
                model.fit(cache[model.needs_examples])
                predicted = model.predict(snapshot, horizon)
                out[name] = pd.DataFrame({"customer_id": snapshot["customer_id"].to_numpy(),
                                          **{c: predicted[c].to_numpy(float) for c in REFIT_COLUMNS}})
            except Exception as exc:  # report it, keep the others
                errors[name] = f"{type(exc).__name__}: {exc}"[:500]
            seconds[name] = round(time.perf_counter() - started, 1)
            say(f"  refit {name} at {as_of}: {'ok' if name in out else errors[name]} ({seconds[name]}s)")
    finally:
        known.release()
    return snapshot, out, errors, seconds


# ------------------------------------------------------------------------------------ metrics


def metrics_of(actual: np.ndarray, predicted: np.ndarray, p10=None, p90=None) -> dict:
    from ltv.evaluation.metrics import evaluate

    m = evaluate(actual, predicted, p10, p90)
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in m.items()}


def quantile_figures(actual: np.ndarray, customer_ids: pd.Series, scored: pd.DataFrame | None,
                     refits: dict[str, pd.DataFrame], backtest_metrics: dict[str, dict]) -> dict:
    """Issue #17's quantile figures per model: ``out_of_time`` on (D, D + H] for the champion as
    registered (its quantiles calibrated by training where it calibrates) and for every refit
    (``calibrated`` says whether the refit's quantiles carry training's conformal calibration: the
    boosted refits here do not, BTYD quantiles need none), and ``backtest``: ``train_line``'s pooled
    back-test figures, boosted quantiles calibrated on the other windows, as the gate saw them."""
    from ltv.evaluation.quantiles import QUANTILE_METRICS, quantile_metrics
    from ltv.models.registry import get_model_class

    def figures(rows: pd.DataFrame) -> dict:
        r = rows.set_index("customer_id").reindex(customer_ids.to_numpy())
        q = {level: r[f"predicted_ltv_p{round(level * 100)}"].to_numpy(float) for level in (0.1, 0.5, 0.9)}
        return quantile_metrics(actual, q, r["prob_purchase"].to_numpy(float))

    out_of_time, calibrated = {}, {}
    if scored is not None:
        out_of_time["champion (registered)"] = figures(scored)
        calibrated["champion (registered)"] = True
    for name, rows in refits.items():
        out_of_time[name] = figures(rows)
        calibrated[name] = not get_model_class(name).calibrates_quantiles  # BTYD: exact; boosted refit: not calibrated
    backtest = {name: {k: values.get(k) for k in QUANTILE_METRICS} for name, values in backtest_metrics.items()}
    return {"out_of_time": out_of_time, "calibrated": calibrated, "backtest": backtest}


def quantile_table(date_key: str, quantiles: dict) -> str:
    """Markdown: share below / at or below each quantile, pinball loss, 80% width, buyer coverage vs implied."""
    def cell(v):
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    head = ("| model | where | <p10 | <=p10 | <p50 | <=p50 | <p90 | <=p90 | pinball | width 80 | buyers in [p10, p90] "
            "| implied |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for where, table in (("out of time", quantiles["out_of_time"]), ("back-test", quantiles["backtest"])):
        for name, m in table.items():
            label = where if where != "out of time" or quantiles["calibrated"].get(name) else "out of time (uncalibrated refit)"
            rows.append(f"| {name} | {label} | " + " | ".join(cell(m.get(k)) for k in (
                "below_p10", "at_or_below_p10", "below_p50", "at_or_below_p50", "below_p90", "at_or_below_p90",
                "pinball", "width_80", "buyer_coverage_80", "buyer_coverage_80_implied")) + " |")
    return f"Quantiles at {date_key}:\n\n" + head + "\n" + "\n".join(rows)


def paired_bootstrap(actual: np.ndarray, champion: np.ndarray, reference: np.ndarray,
                     reps: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Customer bootstrap of gini(champion) - gini(reference) and rmse(champion) / rmse(reference)."""
    from ltv.evaluation.metrics import normalized_gini

    rng = np.random.default_rng(seed)
    diffs, ratios = np.empty(reps), np.empty(reps)
    for i in range(reps):
        idx = np.sort(rng.integers(0, actual.size, size=actual.size))  # sorted: ties keep customer order
        a = actual[idx]
        diffs[i] = normalized_gini(a, champion[idx]) - normalized_gini(a, reference[idx])
        ratios[i] = math.sqrt(np.mean((champion[idx] - a) ** 2) / np.mean((reference[idx] - a) ** 2))
    q = [0.05, 0.5, 0.95]
    return {
        "reps": reps,
        "gini_diff_q05_q50_q95": [float(x) for x in np.quantile(diffs, q)],
        "p_gini_diff_ge_margin": float((diffs >= GINI_MARGIN).mean()),
        "rmse_ratio_q05_q50_q95": [float(x) for x in np.quantile(ratios, q)],
        "p_rmse_ratio_le_limit": float((ratios <= RMSE_FACTOR).mean()),
    }


def criteria(champ: dict, ref: dict) -> dict:
    bias_limit = max(BIAS_FLOOR, abs(ref["bias"]))
    out = {
        "gini": {"value": champ["gini"], "threshold": ref["gini"] + GINI_MARGIN,
                 "rule": f"champion gini >= reference gini ({ref['gini']:.4f}) + {GINI_MARGIN}",
                 "pass": bool(champ["gini"] >= ref["gini"] + GINI_MARGIN)},
        "rmse": {"value": champ["rmse"], "threshold": RMSE_FACTOR * ref["rmse"],
                 "ratio": champ["rmse"] / ref["rmse"],
                 "rule": f"champion rmse <= {RMSE_FACTOR} x reference rmse ({ref['rmse']:.4f})",
                 "pass": bool(champ["rmse"] <= RMSE_FACTOR * ref["rmse"])},
        "bias": {"value": champ["bias"], "threshold": bias_limit,
                 "rule": f"|champion bias| <= max({BIAS_FLOOR:.0%}, |reference bias| = {abs(ref['bias']):.2%})",
                 "pass": bool(abs(champ["bias"]) <= bias_limit)},
    }
    out["all_pass"] = all(c["pass"] for c in out.values())
    return out


def markdown_table(date_key: str, entry: dict) -> str:
    ref = entry["models"][REFERENCE]
    champion = entry["champion"]["model"]
    lines = [
        f"### CDNOW master, as of {date_key}, next {entry['horizon_days']} days "
        f"({entry['customers']:,} customers, realised total ${entry['realised_total']:,.0f})",
        "",
        "| model | gini | gini - ref | rmse | rmse / ref | bias | mae | spearman | top-10% capture | "
        "back-test rmse | back-test gini | back-test bias | criteria (gini/rmse/bias) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, m in entry["models"].items():
        label = name
        if name == "champion (registered)":
            label = f"**champion: {champion} v{entry['champion']['version']} (registered)**"
        bt = entry["backtest"].get(name, {})
        bt_cells = (f"{bt['rmse']:.2f} | {bt['gini']:.3f} | {bt['bias']:+.1%}" if bt else "- | - | -")
        flags = entry["per_model_criteria"].get(name)
        flag_cell = "/".join("pass" if flags[k] else "FAIL" for k in ("gini", "rmse", "bias")) if flags else "(reference)"
        lines.append(
            f"| {label} | {m['gini']:.4f} | {m['gini'] - ref['gini']:+.4f} | {m['rmse']:.3f} | "
            f"{m['rmse'] / ref['rmse']:.4f} | {m['bias']:+.1%} | {m['mae']:.3f} | {m['spearman']:.3f} | "
            f"{m['top_decile_capture']:.3f} | {bt_cells} | {flag_cell} |")
    return "\n".join(lines)


def criteria_text(entry: dict) -> str:
    crit = entry["criteria"]
    if crit is None:
        return "no champion registered: every criterion FAILS"
    boot = entry["bootstrap"]
    g, r, b = crit["gini"], crit["rmse"], crit["bias"]
    return "\n".join([
        f"- gini: {g['value']:.4f} >= {g['threshold']:.4f} -> {'PASS' if g['pass'] else 'FAIL'} "
        f"(champion - reference = {g['value'] - g['threshold'] + GINI_MARGIN:+.4f}; bootstrap 90% "
        f"[{boot['gini_diff_q05_q50_q95'][0]:+.4f}, {boot['gini_diff_q05_q50_q95'][2]:+.4f}], "
        f"P(diff >= {GINI_MARGIN}) = {boot['p_gini_diff_ge_margin']:.2f})",
        f"- rmse: {r['value']:.3f} <= {r['threshold']:.3f} (ratio {r['ratio']:.4f} <= {RMSE_FACTOR}) -> "
        f"{'PASS' if r['pass'] else 'FAIL'} (bootstrap 90% ratio [{boot['rmse_ratio_q05_q50_q95'][0]:.4f}, "
        f"{boot['rmse_ratio_q05_q50_q95'][2]:.4f}], P(ratio <= {RMSE_FACTOR}) = {boot['p_rmse_ratio_le_limit']:.2f})",
        f"- bias: |{b['value']:+.2%}| <= {b['threshold']:.2%} -> {'PASS' if b['pass'] else 'FAIL'}",
        f"- all three: {'PASS' if crit['all_pass'] else 'FAIL'}",
    ])


# --------------------------------------------------------------------------------------- main


def check_date(spark, config, csv: Path, raw: pd.DataFrame, workdir: Path, as_of: dt.date, horizon: int) -> dict:
    from ltv.features.pipeline import build_features
    from ltv.training.train import train_line

    key = as_of.isoformat()
    timings: dict[str, float] = {}
    folder = workdir / key
    t = time.perf_counter()
    say(f"{key}: ingesting {csv.name} into a fresh lake {folder / 'lake'}")
    lake, ingest = build_lake(spark, folder / "lake", csv, config)
    timings["ingest_s"] = time.perf_counter() - t
    say(f"{key}: ingested {ingest['accepted']:,} rows ({ingest['quarantined']} quarantined)")

    t = time.perf_counter()
    features = build_features(spark, lake, config, as_of, [LINE])
    timings["features_s"] = time.perf_counter() - t
    say(f"{key}: features as of {key} built ({timings['features_s']:.1f}s)")

    t = time.perf_counter()
    say(f"{key}: train_line({LINE}, as_of={key}, horizon_days={horizon})")
    result = train_line(spark, lake, config, LINE, as_of, horizon, progress=Progress())
    timings["train_line_s"] = time.perf_counter() - t
    decision = result.decision
    say(f"{key}: gate -> action {decision.action}, status {decision.status}, winner {decision.winner}, "
        f"champion version {result.champion_version} ({timings['train_line_s']:.1f}s)")

    t = time.perf_counter()
    scored, champion_info = champion_scores(spark, lake, config, as_of, horizon)
    timings["score_line_s"] = time.perf_counter() - t
    say(f"{key}: champion scored: {champion_info}")

    t = time.perf_counter()
    names = list(result.lineage.get("candidates") or result.metrics)
    snapshot, refits, refit_errors, refit_seconds = refit_candidates(lake, config, as_of, horizon, names)
    timings["refit_candidates_s"] = time.perf_counter() - t

    t = time.perf_counter()
    reference, ref_info = lifetimes_reference(raw, as_of, horizon)
    timings["reference_s"] = time.perf_counter() - t
    say(f"{key}: lifetimes reference fitted: BG/NBD {ref_info['bgnbd_params']}, GG {ref_info['gg_params']}"
        + (f"; warnings: {ref_info['fit_warnings']}" if ref_info["fit_warnings"] else ""))

    # one frame, the snapshot's customers in customer_id order
    frame = snapshot[["customer_id", "frequency", "recency", "T", "monetary_value"]].copy()
    realised = realised_spend(raw, as_of, horizon)
    frame["realised"] = frame["customer_id"].map(realised).fillna(0.0).astype(float)
    outside = sorted(set(realised.index) - set(frame["customer_id"]))
    ref = reference.set_index("customer_id")
    missing_ref = int((~frame["customer_id"].isin(ref.index)).sum())
    frame[REFERENCE] = frame["customer_id"].map(ref["predicted_ltv"]).astype(float)
    feature_diff = {c: float(np.nanmax(np.abs(frame[c].to_numpy(float) - frame["customer_id"].map(ref[c]).to_numpy(float))))
                    for c in ("frequency", "recency", "T", "monetary_value")}

    intervals: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    columns: list[str] = []
    if scored is not None:
        s = scored.set_index("customer_id")
        frame["champion (registered)"] = frame["customer_id"].map(s["predicted_ltv"]).astype(float)
        intervals["champion (registered)"] = (frame["customer_id"].map(s["predicted_ltv_p10"]).to_numpy(float),
                                              frame["customer_id"].map(s["predicted_ltv_p90"]).to_numpy(float))
        champion_info["scored_customers"] = int(len(scored))
        champion_info["snapshot_customers_not_scored"] = int(frame["champion (registered)"].isna().sum())
        columns.append("champion (registered)")
    for name, pred in refits.items():
        p = pred.set_index("customer_id")
        frame[name] = frame["customer_id"].map(p["predicted_ltv"]).astype(float)
        intervals[name] = (frame["customer_id"].map(p["predicted_ltv_p10"]).to_numpy(float),
                           frame["customer_id"].map(p["predicted_ltv_p90"]).to_numpy(float))
        columns.append(name)
    columns.append(REFERENCE)
    frame.to_csv(folder / "predictions.csv", index=False, lineterminator="\n")

    actual = frame["realised"].to_numpy(float)
    quantiles = quantile_figures(actual, frame["customer_id"], scored, refits, result.metrics)
    models = {}
    for name in columns:
        p10, p90 = intervals.get(name, (None, None))
        models[name] = metrics_of(actual, frame[name].to_numpy(float), p10, p90)
    ref_m = models[REFERENCE]
    per_model = {}
    for name in columns:
        if name == REFERENCE:
            continue
        c = criteria(models[name], ref_m)
        per_model[name] = {k: c[k]["pass"] for k in ("gini", "rmse", "bias")}
    crit = criteria(models["champion (registered)"], ref_m) if scored is not None else None
    boot = (paired_bootstrap(actual, frame["champion (registered)"].to_numpy(float), frame[REFERENCE].to_numpy(float))
            if scored is not None else None)

    same_as_refit = None
    if scored is not None and champion_info["model"] in frame.columns:
        same_as_refit = float(np.max(np.abs(frame["champion (registered)"] - frame[champion_info["model"]])))
    backtest = {name: {k: result.metrics[name][k] for k in ("rmse", "gini", "bias", "mae")} for name in result.metrics}
    if scored is not None and champion_info["model"] in backtest:
        backtest["champion (registered)"] = backtest[champion_info["model"]]

    entry = {
        "as_of": key,
        "horizon_days": horizon,
        "window": [key, (as_of + dt.timedelta(days=horizon)).isoformat()],
        "customers": int(len(frame)),
        "customers_with_purchases_in_window": int((actual != 0).sum()),
        "realised_total": float(actual.sum()),
        "realised_customers_outside_snapshot": len(outside),
        "reference_customers_missing": missing_ref,
        "ingest": ingest,
        "features": {"rows": getattr(features, "rows", None)} if features is not None else None,
        "gate": {
            "action": decision.action, "status": decision.status, "promote": decision.promote,
            "winner": decision.winner, "reason": decision.reason, "rejected": decision.rejected,
            "windows": decision.evidence.get("windows"), "skipped_windows": decision.evidence.get("skipped_windows"),
            "comparisons": decision.evidence.get("comparisons"),
        },
        "train_errors": result.errors,
        "champion_version": result.champion_version,
        "champion": champion_info,
        "champion_vs_own_refit_max_abs_diff": same_as_refit,
        "candidates": names,
        "refit_errors": refit_errors,
        "refit_seconds": refit_seconds,
        "reference": ref_info,
        "reference_bias_measured_earlier": EARLIER_REFERENCE_BIAS.get(key),
        "ltv_features_vs_lifetimes_summary_max_abs_diff": feature_diff,
        "models": models,
        "quantiles": quantiles,
        "backtest": backtest,
        "per_model_criteria": per_model,
        "criteria": crit,
        "bootstrap": boot,
        "predictions_csv": str(folder / "predictions.csv"),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    entry["table_markdown"] = markdown_table(key, entry)
    entry["quantile_markdown"] = quantile_table(key, quantiles)
    print("\n" + entry["table_markdown"] + "\n")
    print(entry["quantile_markdown"] + "\n")
    print(f"gate at {key}: action {decision.action}, status {decision.status}, winner {decision.winner}: "
          f"{decision.reason}")
    print(criteria_text(entry), flush=True)
    return entry


def ltv_commit() -> str | None:
    """The git commit of the checkout the ``ltv`` package was imported from (None outside git)."""
    import subprocess

    import ltv

    try:
        return subprocess.run(["git", "-C", str(Path(ltv.__file__).resolve().parent), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--as-of", action="append", default=None,
                        help=f"as-of date D, repeatable (default: {' and '.join(DEFAULT_DATES)})")
    parser.add_argument("--horizon-days", type=int, default=91)
    parser.add_argument("--workdir", default="/tmp/ltv-cdnow", help="wiped first (only if made by this script)")
    parser.add_argument("--out", default="bench/results/cdnow.json",
                        help="relative to the current directory (run from the repository root)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    dates = [dt.date.fromisoformat(d) for d in (args.as_of or DEFAULT_DATES)]
    horizon = args.horizon_days

    from ltv.config import LineSettings, LTVConfig, SparkSettings
    from ltv.datasets.cdnow import load_cdnow, write_cdnow_csv
    from ltv.runtime.session import get_spark, stop_spark

    load_start = os.getloadavg()[0]
    workdir = prepare_workdir(Path(args.workdir))
    csv = write_cdnow_csv(workdir / "data" / "cdnow_master.csv", which="master")  # as prepare_inputs does
    raw = load_cdnow("master")
    last_day = raw["event_ts"].max().date()
    for d in dates:
        if d + dt.timedelta(days=horizon) > last_day:
            raise SystemExit(f"{d} + {horizon} days is after the last CDNOW day {last_day}")
    say(f"CDNOW master: {len(raw):,} rows, {raw['customer_id'].nunique():,} customers, "
        f"{raw['event_ts'].min().date()} .. {last_day}; workdir {workdir}")

    config = LTVConfig()
    config.business_lines.setdefault(LINE, LineSettings(horizon_days=91))  # the demo's line config
    spark = get_spark(SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g"))
    results: dict[str, dict] = {}
    started = time.perf_counter()
    try:
        for as_of in dates:
            results[as_of.isoformat()] = check_date(spark, config, csv, raw, workdir, as_of, horizon)
    finally:
        stop_spark()
    total = time.perf_counter() - started

    report = {
        "benchmark": ("champion vs a plain lifetimes BG/NBD + Gamma-Gamma on real CDNOW data (issue #16 acceptance); "
                  "every model's quantile figures (issue #17)"),
        "criterion": (f"per as-of date: champion normalized gini >= reference gini + {GINI_MARGIN}; champion rmse <= "
                      f"{RMSE_FACTOR} x reference rmse; |champion bias| <= max({BIAS_FLOOR:.0%}, |reference bias|); "
                      f"horizon {horizon} days, realised = net spend in (D, D + horizon]"),
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/cdnow_check.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_start": load_start, "load_avg_1m_end": os.getloadavg()[0],
                    "python": platform.python_version()},
        "setup": {
            "data": "CDNOW_master.txt from the lifetimes 0.11.3 wheel (ltv.datasets.cdnow), business line music",
            "rows": int(len(raw)),
            "customers": int(raw["customer_id"].nunique()),
            "last_day": last_day.isoformat(),
            "as_of_dates": [d.isoformat() for d in dates],
            "horizon_days": horizon,
            "line_config": config.line(LINE).model_dump(mode="json"),
            "spark": {"master": "local[2]", "shuffle_partitions": 4, "driver_memory": "2g"},
            "workdir": str(workdir),
            "reference": ("lifetimes summary_data_from_transaction_data(freq='D', observation_period_end=D, "
                          "monetary_value_col='amount') on rows up to the end of D (same-day rows summed); "
                          "BetaGeoFitter(penalizer_coef=0); GammaGammaFitter(penalizer_coef=0) on frequency>0 & "
                          "monetary_value>0; conditional_expected_number_of_purchases_up_to_time(H) x "
                          "conditional_expected_average_profit"),
        },
        "dates": results,
        "all_pass": all(e["criteria"] is not None and e["criteria"]["all_pass"] for e in results.values()),
        "timings_s": {"total": round(total, 1), **{d: e["timings_s"] for d, e in results.items()}},
    }
    report["setup"]["ltv_commit"] = ltv_commit()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    say(f"all dates pass: {report['all_pass']}; results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
