"""Acceptance check (issue #16): each line's champion against the ORACLE on simulated data (not a test).

The criterion, over at least 5 seeds x the 3 presets (+ a line with ``refund_rate`` 0.20), 10,000
customers per line:

* champion RMSE / oracle RMSE: median <= 1.03 and max <= 1.05;
* the champion's predicted total vs the oracle's expected total: median |deviation| <= 3%, max <= 5%.

The champion is the model ``ltv.training.train.train_line`` picks with its default candidates on a
fresh lake (no previous champion, so the gate's action is ``promote`` or ``provisional``).  The oracle
is the simulator's true conditional expected spend (``expected_spend`` in the ground truth: BG/NBD +
Gamma-Gamma with the true segment parameters, net of the expected refunds).

Lines (each seed simulates all of them, ``--customers`` customers each):

    retail    preset-retail   (CDNOW-like)          refund_rate 0.04
    grocery   preset-grocery  (frequent, low basket) refund_rate 0.02
    luxury    preset-luxury   (rare, high value)     refund_rate 0.12
    refunds   preset-retail with refund_rate = --refund-rate (default 0.20)

Time layout (all dates are ends of UTC days, horizons in DAYS):

    V = truth_as_of                 simulator ground-truth cut = back-test window 0's fit cutoff
    D = V + H                       the platform's training date (``train_line(..., as_of=D, H)``;
                                    its newest back-test window is fitted as of ``D - H = V`` and
                                    judged on ``(V, D]``; older windows are ignored here)
    end = D + withheld_days         the simulator runs past D; rows after the end of D are
                                    withheld from the lake (filtered in pandas before ingest)

Per seed: wipe ``--workdir`` -> simulate -> keep transactions with ``event_ts < D + 1 day`` -> ingest
them and the customers into a fresh lake (under ``<workdir>/seed-<seed>/``) -> ``train_line`` per
line with every default candidate.
The back-test predictions are NOT refitted: the script records what ``train_line`` itself predicted on
window 0 (it wraps ``backtest_windows`` and ``predict_window`` as imported by ``ltv.training.train``,
without changing what they return).  Those rows are joined with the ground truth on
``customer_id``; per candidate:

    RMSE ratio        = RMSE(model, realised_spend) / RMSE(oracle expected_spend, realised_spend)
    total deviation   = sum(model predicted_ltv) / sum(oracle expected_spend) - 1

on the same customers (every customer of the V snapshot).  The summary takes the champion's numbers
over every (seed, line) pair, and per line.  Everything goes to ``--out`` (default
``bench/results/oracle.json``; rewritten after every seed, ``complete`` is false until the end).

Run from the repository root (about 8-12 min per seed at 10,000 customers on 2 idle cores):

    .venv/bin/python bench/oracle_check.py                                   # the full criterion
    .venv/bin/python bench/oracle_check.py --customers 2000 --seeds 11       # quick debug run
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quantile_check import quantile_markdown, quantile_summary  # noqa: E402

HERE = Path(__file__).resolve().parent
START = dt.date(2022, 1, 1)          # first possible acquisition
TRUTH_AS_OF = dt.date(2023, 12, 31)  # V: ground-truth cut = back-test window 0's fit cutoff
WITHHELD_DAYS = 30                   # the simulator runs this many days past D; never ingested

# issue #16's thresholds
RATIO_MEDIAN_LIMIT = 1.03   # median over (seed, line) of champion RMSE / oracle RMSE
RATIO_MAX_LIMIT = 1.05      # max of the same
DEVIATION_MEDIAN_LIMIT = 0.03  # median |sum champion predicted / sum oracle expected - 1|
DEVIATION_MAX_LIMIT = 0.05     # max of the same

DEFAULT_SEEDS = "11,12,13,14,15"
DEFAULT_LINES = "retail,grocery,luxury,refunds"
PRESET_LINES = ("retail", "grocery", "luxury")  # default_processes cycles the presets in this order
REFUND_LINE = "refunds"                          # the retail preset with a high refund rate


def say(message: str = "") -> None:
    print(message, flush=True)


class Clock:
    """Elapsed wall time since the run started, as a ``[hh:mm:ss]`` prefix."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def stamp(self) -> str:
        s = int(time.perf_counter() - self.t0)
        return f"[{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}]"


class TrainProgress:
    """``train_line``'s ``progress``: its messages, indented and time-stamped."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def say(self, message: str) -> None:
        say(f"{self.clock.stamp()}     | {message}")


# ------------------------------------------------------------------------------------ processes


def line_processes(lines: list[str], refund_rate: float):
    """One :class:`LineProcess` per requested line (names from :data:`PRESET_LINES` and :data:`REFUND_LINE`).

    The presets come from ``default_processes`` (which cycles retail, grocery, luxury by position), so
    ``retail``/``grocery``/``luxury`` get those presets whatever subset of lines is asked for; ``refunds``
    is the retail preset with ``refund_rate`` replaced.
    """
    from ltv.datasets.simulate import default_processes

    presets = dict(zip(PRESET_LINES, default_processes(list(PRESET_LINES))))
    out = []
    for line in lines:
        if line in presets:
            out.append(presets[line])
        elif line == REFUND_LINE:
            out.append(dataclasses.replace(presets["retail"], name=REFUND_LINE, refund_rate=refund_rate))
        else:
            raise SystemExit(f"unknown line {line!r}: choose from {', '.join((*PRESET_LINES, REFUND_LINE))}")
    return out


def describe_process(proc) -> str:
    return (f"r={proc.r} alpha={proc.alpha} a={proc.a} b={proc.b} p={proc.p} q={proc.q} gamma={proc.gamma} "
            f"refund_rate={proc.refund_rate} (expected refunded share {proc.expected_refund_fraction:.3f})")


# ---------------------------------------------------------------------------------------- data


def simulate_and_withhold(workdir: Path, customers: int, processes, seed: int, horizon: int):
    """Simulate, write the CSVs, and write ``transactions_known.csv`` with rows up to the end of D only.

    Returns (SimulationResult, paths, D, info dict).
    """
    from ltv.datasets.simulate import simulate

    training_date = TRUTH_AS_OF + dt.timedelta(days=horizon)  # D
    end = training_date + dt.timedelta(days=WITHHELD_DAYS)
    sim = simulate(customers=customers, business_lines=[p.name for p in processes], seed=seed, start=START,
                   end=end, truth_as_of=TRUTH_AS_OF, truth_horizon_days=horizon, processes=list(processes))
    sim_dir = workdir / "sim"
    paths = sim.write(sim_dir)

    raw = pd.read_csv(paths["transactions"], dtype={"transaction_id": str, "customer_id": str,
                                                    "business_line": str, "event_ts": str})
    ts = pd.to_datetime(raw["event_ts"], utc=True)
    cut = pd.Timestamp(training_date + dt.timedelta(days=1), tz="UTC")  # end of day D
    known = raw[ts < cut]
    paths["transactions_known"] = sim_dir / "transactions_known.csv"
    known.to_csv(paths["transactions_known"], index=False, lineterminator="\n")
    info = {
        "rows_simulated": len(raw),
        "rows_ingested": len(known),
        "rows_withheld_after_D": len(raw) - len(known),
        "last_ingested_event_ts": str(ts[ts < cut].max()),
    }
    return sim, paths, training_date, info


def build_lake(spark, root: Path, paths: dict[str, Path], training_date: dt.date):
    from ltv.ingest.pipeline import ingest_customers, ingest_transactions
    from ltv.lake.io import Lake

    shutil.rmtree(root, ignore_errors=True)
    lake = Lake(spark, root)
    ingested_at = dt.datetime.combine(training_date + dt.timedelta(days=1), dt.time())  # the platform at D
    tx = ingest_transactions(spark, lake, paths["transactions_known"], ingested_at=ingested_at)
    cust = ingest_customers(spark, lake, paths["customers"], ingested_at=ingested_at)
    return lake, {"transactions": tx.as_dict(), "customers": cust.as_dict()}


# -------------------------------------------------------------------------------- predictions


class BacktestRecorder:
    """Records what ``train_line`` predicts in its back-test, without refitting anything.

    While active, ``ltv.training.train.backtest_windows`` and ``ltv.training.train.predict_window``
    (the names ``train_line`` calls) are wrapped: the windows are kept, and every prediction frame
    (``customer_id``, ``label_spend``, ``predicted_ltv``, p10, p90) is kept under (model name, window
    index).  The wrapped functions return exactly what the originals return.
    """

    def __init__(self) -> None:
        self.windows: list = []
        self.frames: dict[tuple[str, int], pd.DataFrame] = {}

    @contextlib.contextmanager
    def active(self):
        import ltv.training.train as train_module

        original_windows, original_predict = train_module.backtest_windows, train_module.predict_window
        self.windows, self.frames = [], {}

        def windows(*args, **kwargs):
            out = original_windows(*args, **kwargs)
            self.windows = list(out[0])
            return out

        def predict(model, rows, horizon_days):
            out = original_predict(model, rows, horizon_days)
            index = next((w.index for w in self.windows if w.rows is rows), None)
            if index is None:
                raise RuntimeError(f"{model.name}: predicted rows that are not a recorded back-test window")
            key = (model.name, index)
            if key in self.frames:
                raise RuntimeError(f"{key}: predicted twice (a model name used by two candidates?)")
            self.frames[key] = out.copy()
            return out

        train_module.backtest_windows, train_module.predict_window = windows, predict
        try:
            yield self
        finally:
            train_module.backtest_windows, train_module.predict_window = original_windows, original_predict

    def window0(self, names: list[str]) -> tuple[dict[str, pd.DataFrame], dict]:
        """Window 0's frames per candidate in ``names`` (sorted by customer_id) and that window's description."""
        window = next((w for w in self.windows if w.index == 0), None)
        if window is None:
            raise RuntimeError("train_line produced no back-test window 0")
        out = {}
        for name in names:
            frame = self.frames.get((name, 0))
            if frame is None:
                raise RuntimeError(f"{name}: has back-test metrics but no recorded window-0 predictions")
            out[name] = frame.sort_values("customer_id", ignore_index=True)
        return out, window.as_dict()


# ------------------------------------------------------------------------------------ metrics


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


def bootstrap_ratio(realised: np.ndarray, predicted: np.ndarray, oracle: np.ndarray,
                    reps: int = 1000, seed: int = 0) -> dict[str, float]:
    """Paired customer bootstrap of ``RMSE_model / RMSE_oracle``: 5/50/95% quantiles and P(ratio <= max limit)."""
    rng = np.random.default_rng(seed)
    model_se, oracle_se = (predicted - realised) ** 2, (oracle - realised) ** 2
    ratios = np.empty(reps)
    for start in range(0, reps, 100):  # blocks of 100 replicates keep the index array small
        idx = rng.integers(0, realised.size, size=(min(100, reps - start), realised.size))
        ratios[start:start + len(idx)] = np.sqrt(model_se[idx].mean(axis=1) / oracle_se[idx].mean(axis=1))
    q05, q50, q95 = np.quantile(ratios, [0.05, 0.5, 0.95])
    return {"q05": float(q05), "q50": float(q50), "q95": float(q95),
            "p_within_max_limit": float((ratios <= RATIO_MAX_LIMIT).mean()), "reps": reps}


def compare_line(line: str, truth: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                 window0_metrics: dict[str, dict[str, float]], dump_dir: Path | None = None) -> dict:
    """Per candidate on window 0: RMSE ratio and total deviation vs the oracle, plus gini, bias, MAE.

    ``window0_metrics``: train_line's own window-0 metrics per candidate (against the lake's labels),
    recorded next to ours (against the simulator's realised spend) as a consistency check.
    ``dump_dir``: if given, the joined per-customer rows go to ``<dump_dir>/<line>_<model>.csv``.
    """
    from ltv.evaluation.metrics import evaluate
    from ltv.evaluation.quantiles import QUANTILE_METRICS

    truth = truth.sort_values("customer_id", ignore_index=True)
    models: dict[str, dict] = {}
    coverage: dict[str, int] = {}
    for name, pred in predictions.items():
        joined = pred.merge(truth[["customer_id", "expected_spend", "expected_spend_latent", "realised_spend"]],
                            on="customer_id", how="inner", validate="one_to_one")
        coverage = {
            "truth_customers": len(truth),
            "backtest_customers": len(pred),
            "joined": len(joined),
            "truth_not_in_backtest": int((~truth["customer_id"].isin(pred["customer_id"])).sum()),
            "backtest_not_in_truth": int((~pred["customer_id"].isin(truth["customer_id"])).sum()),
        }
        if dump_dir is not None:
            dump_dir.mkdir(parents=True, exist_ok=True)
            joined.to_csv(dump_dir / f"{line}_{name}.csv", index=False, lineterminator="\n")
        realised = joined["realised_spend"].to_numpy(float)
        label = joined["label_spend"].to_numpy(float)
        predicted = joined["predicted_ltv"].to_numpy(float)
        oracle = joined["expected_spend"].to_numpy(float)
        diff = np.abs(label - realised)
        model_m = evaluate(realised, predicted)
        oracle_m = evaluate(realised, oracle)
        reported = window0_metrics.get(name, {})
        models[name] = {
            "ratio": model_m["rmse"] / oracle_m["rmse"],
            "total_deviation": float(predicted.sum() / oracle.sum() - 1.0),
            "rmse": model_m["rmse"],
            "oracle_rmse": oracle_m["rmse"],
            "predicted_total": float(predicted.sum()),
            "oracle_total": float(oracle.sum()),
            "realised_total": float(realised.sum()),
            "gini": model_m["gini"],
            "oracle_gini": oracle_m["gini"],
            "bias": model_m["bias"],
            "oracle_bias": oracle_m["bias"],
            "mae": model_m["mae"],
            "oracle_mae": oracle_m["mae"],
            "latent_rmse": rmse(realised, joined["expected_spend_latent"].to_numpy(float)),
            "ratio_bootstrap": bootstrap_ratio(realised, predicted, oracle),
            "label_vs_realised_max_abs_diff": float(diff.max()),
            "label_vs_realised_rows_differing": int((diff > 0.005).sum()),
            "train_line_window0_rmse": reported.get("rmse"),
            "train_line_window0_gini": reported.get("gini"),
            "rmse_vs_train_line_abs_diff": (abs(model_m["rmse"] - reported["rmse"]) if "rmse" in reported else None),
            # train_line's own window-0 quantile metrics (issue #17; see quantile_check.py)
            "quantiles": {k: reported.get(k) for k in QUANTILE_METRICS},
        }
    return {"models": models, "coverage": coverage}


def champion_of(result) -> tuple[str | None, str]:
    """decision.winner when promoted; else the best eligible candidate by gini (and say so)."""
    decision = result.decision
    if decision.promote and decision.winner:
        return decision.winner, f"promoted ({decision.action}): {decision.reason}"
    eligible = {n: m["gini"] for n, m in result.metrics.items()
                if n not in decision.rejected and not math.isnan(m["gini"])}
    if eligible:
        best = max(sorted(eligible), key=lambda n: eligible[n])
        return best, f"NOT promoted ({decision.reason}); using the best eligible by gini: {best}"
    if decision.winner:
        return decision.winner, f"NOT promoted ({decision.reason}); no eligible candidate, using the gate's winner"
    return None, f"NOT promoted ({decision.reason}); no candidate at all"


def within_max_limits(ratio: float | None, deviation: float | None) -> bool:
    return (ratio is not None and deviation is not None
            and ratio <= RATIO_MAX_LIMIT and abs(deviation) <= DEVIATION_MAX_LIMIT)


def summarize(entries: list[dict]) -> dict:
    """Median and max of the champion's RMSE ratio and |total deviation| over ``entries``, with the verdicts.

    A pair without a champion counts as an infinite ratio and deviation (it fails).
    """
    ratios = np.array([e["champion_ratio"] if e["champion_ratio"] is not None else math.inf for e in entries])
    devs = np.array([abs(e["champion_total_deviation"]) if e["champion_total_deviation"] is not None else math.inf
                     for e in entries])
    out = {
        "pairs": len(entries),
        "ratio_median": float(np.median(ratios)),
        "ratio_max": float(ratios.max()),
        "abs_deviation_median": float(np.median(devs)),
        "abs_deviation_max": float(devs.max()),
    }
    out["checks"] = {
        f"ratio median <= {RATIO_MEDIAN_LIMIT}": out["ratio_median"] <= RATIO_MEDIAN_LIMIT,
        f"ratio max <= {RATIO_MAX_LIMIT}": out["ratio_max"] <= RATIO_MAX_LIMIT,
        f"|deviation| median <= {DEVIATION_MEDIAN_LIMIT:.0%}": out["abs_deviation_median"] <= DEVIATION_MEDIAN_LIMIT,
        f"|deviation| max <= {DEVIATION_MAX_LIMIT:.0%}": out["abs_deviation_max"] <= DEVIATION_MAX_LIMIT,
    }
    out["pass"] = all(out["checks"].values())
    return out


# ------------------------------------------------------------------------------------ printing


def print_line(line: str, entry: dict) -> None:
    champ = entry["champion"]
    cov = entry["coverage"]
    say(f"   champion: {champ} [{entry['gate']['action']} / {entry['gate']['status']}] -- {entry['champion_note']}")
    say(f"   window 0 ({entry['window0']['fit_cutoff']}, {entry['window0']['end']}]: customers: truth "
        f"{cov['truth_customers']:,}, back-test {cov['backtest_customers']:,}, joined {cov['joined']:,}")
    header = (f"   {'model':<11}{'ratio':>8}{'ratio 90% CI':>15}{'total dev':>11}{'rmse':>10}{'oracle':>10}"
              f"{'gini':>8}{'o.gini':>8}{'bias':>9}{'o.bias':>9}{'|lbl-real|':>11}")
    say(header)
    say("   " + "-" * (len(header) - 3))
    for name, m in entry["models"].items():
        mark = "*" if name == champ else " "
        ci = f"[{m['ratio_bootstrap']['q05']:.3f}, {m['ratio_bootstrap']['q95']:.3f}]"
        say(f" {mark} {name:<11}{m['ratio']:>8.3f}{ci:>15}{m['total_deviation']:>+11.2%}{m['rmse']:>10.2f}"
            f"{m['oracle_rmse']:>10.2f}{m['gini']:>8.3f}{m['oracle_gini']:>8.3f}{m['bias']:>+9.1%}"
            f"{m['oracle_bias']:>+9.1%}{m['label_vs_realised_max_abs_diff']:>11.2f}")
    for name, why in entry["train_errors"].items():
        say(f"   !! candidate {name} failed: {why}")
    verdict = "within" if entry["pass"] else "OUTSIDE"
    ratio, dev = entry["champion_ratio"], entry["champion_total_deviation"]
    if ratio is not None:
        say(f"   champion ratio {ratio:.3f}, total deviation {dev:+.2%}: {verdict} the max limits "
            f"({RATIO_MAX_LIMIT} / {DEVIATION_MAX_LIMIT:.0%}); lowest-RMSE candidate: {entry['rmse_best']}")
    else:
        say("   no champion: OUTSIDE the limits")


def markdown_tables(entries: list[dict], summary: dict, per_line: dict[str, dict]) -> str:
    """The seed x line table, each candidate's ratio / deviation, and the summary, as markdown."""
    fmt_ratio = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    fmt_dev = lambda v: "–" if v is None else f"{v:+.2%}"  # noqa: E731
    out = ["| seed | line | champion | action / status | RMSE ratio | total deviation | lowest-RMSE candidate | within max limits |",
           "|---:|---|---|---|---:|---:|---|---|"]
    for e in entries:
        out.append(f"| {e['seed']} | {e['line']} | `{e['champion']}` | {e['gate']['action']} / {e['gate']['status']} | "
                   f"{fmt_ratio(e['champion_ratio'])} | {fmt_dev(e['champion_total_deviation'])} | "
                   f"`{e['rmse_best']}` | {'yes' if e['pass'] else 'NO'} |")
    names = list(dict.fromkeys(n for e in entries for n in e["models"]))
    out += ["", "Every candidate, RMSE ratio / total deviation (champion in bold):", "",
            "| seed | line | " + " | ".join(f"`{n}`" for n in names) + " |",
            "|---:|---|" + "---:|" * len(names)]
    for e in entries:
        cells = []
        for n in names:
            m = e["models"].get(n)
            cell = "failed" if m is None else f"{m['ratio']:.3f} / {m['total_deviation']:+.1%}"
            cells.append(f"**{cell}**" if n == e["champion"] else cell)
        out.append(f"| {e['seed']} | {e['line']} | " + " | ".join(cells) + " |")
    out += ["", "| scope | pairs | ratio median | ratio max | abs deviation median | abs deviation max | pass |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for scope, s in [("all", summary), *per_line.items()]:
        out.append(f"| {scope} | {s['pairs']} | {s['ratio_median']:.3f} | {s['ratio_max']:.3f} | "
                   f"{s['abs_deviation_median']:.2%} | {s['abs_deviation_max']:.2%} | {'PASS' if s['pass'] else 'FAIL'} |")
    out += ["", "Thresholds (all pairs): " + "; ".join(f"{k}: {'pass' if v else 'FAIL'}"
                                                       for k, v in summary["checks"].items())]
    return "\n".join(out)


# --------------------------------------------------------------------------------------- main


WORKDIR_MARKER = ".ltv-oracle-workdir"


def wipe_workdir(workdir: Path) -> None:
    """Empty ``workdir`` (only if it is empty or was made by this script: it holds the marker file)."""
    if workdir.exists():
        if any(workdir.iterdir()) and not (workdir / WORKDIR_MARKER).exists():
            raise SystemExit(f"--workdir {workdir} is not empty and was not made by this script; not wiping it")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / WORKDIR_MARKER).write_text("scratch of bench/oracle_check.py; wiped at every seed\n")


def run_seed(spark, config, seed: int, args, processes, clock: Clock) -> tuple[dict, list[dict]]:
    """Simulate, ingest and train every line for one seed; returns (seed info, one entry per line)."""
    from ltv.training.registry import ModelRegistry
    from ltv.training.train import train_line

    horizon = args.horizon_days
    wipe_workdir(Path(args.workdir))  # per seed: a fresh lake and registry, so no previous champion
    # a new path per seed: MLflow caches its SQLite store per tracking URI within the process, so a lake
    # recreated at the SAME path would still see the previous seed's registry (and champions)
    workdir = Path(args.workdir) / f"seed-{seed}"
    workdir.mkdir()
    timings: dict[str, float] = {}
    t_seed = t0 = time.perf_counter()
    sim, paths, training_date, withheld = simulate_and_withhold(workdir, args.customers, processes, seed, horizon)
    timings["simulate_s"] = time.perf_counter() - t0
    cutoff = training_date - dt.timedelta(days=horizon)
    assert cutoff == TRUTH_AS_OF, (cutoff, TRUTH_AS_OF)
    say(f"{clock.stamp()} seed {seed}: simulated {args.customers:,} customers x {len(processes)} line(s) in "
        f"{timings['simulate_s']:.0f}s; withheld {withheld['rows_withheld_after_D']:,} of "
        f"{withheld['rows_simulated']:,} rows after D")

    t0 = time.perf_counter()
    lake, ingest = build_lake(spark, workdir / "lake", paths, training_date)
    timings["ingest_s"] = time.perf_counter() - t0
    say(f"{clock.stamp()} seed {seed}: ingested {ingest['transactions']['accepted']:,} transactions "
        f"(quarantined {ingest['transactions']['quarantined']:,}) in {timings['ingest_s']:.0f}s")

    entries = []
    recorder = BacktestRecorder()
    progress = TrainProgress(clock) if args.verbose else None
    for proc in processes:
        line = proc.name
        say(f"{clock.stamp()} seed {seed} / {line}: train_line(as_of={training_date}, H={horizon}) ...")
        previous = ModelRegistry(lake.root).champion(line)
        if previous is not None:
            raise RuntimeError(f"{line}: the fresh lake {lake.root} already has a champion ({previous}); "
                               "the comparison assumes the line's first run")
        t0 = time.perf_counter()
        with recorder.active():
            result = train_line(spark, lake, config, line, training_date, horizon, progress=progress)
        train_s = time.perf_counter() - t0
        champion, note = champion_of(result)
        names = list(result.metrics)  # candidates that produced a back-test (failures are in result.errors)
        t0 = time.perf_counter()
        predictions, window0 = recorder.window0(names)
        window0_metrics = {n: ms[0] for n, ms in result.decision.evidence.get("window_metrics", {}).items() if ms}
        truth = sim.ground_truth[sim.ground_truth["business_line"] == line]
        entry = compare_line(line, truth, predictions, window0_metrics, workdir / "predictions")
        compare_s = time.perf_counter() - t0
        models = entry["models"]
        rmse_best = min(models, key=lambda n: models[n]["rmse"]) if models else None
        ratio = models[champion]["ratio"] if champion in models else None
        deviation = models[champion]["total_deviation"] if champion in models else None
        gate = result.decision.as_dict()
        entry = {
            "seed": seed,
            "line": line,
            "process": describe_process(proc),
            "champion": champion,
            "champion_note": note,
            "champion_ratio": ratio,
            "champion_total_deviation": deviation,
            "pass": within_max_limits(ratio, deviation),
            "rmse_best": rmse_best,
            "gate_pick_differs_from_rmse_best": champion != rmse_best,
            "gate": {k: gate[k] for k in ("winner", "action", "status", "promote", "reason", "primary_metric",
                                          "rejected")},
            "backtest_windows": gate["evidence"].get("windows"),
            "window0": window0,
            "train_errors": result.errors,
            "train_line_pooled_metrics": result.metrics,
            **entry,
            "timings_s": {"train_line_s": round(train_s, 1), "compare_s": round(compare_s, 1)},
        }
        entries.append(entry)
        say(f"{clock.stamp()} seed {seed} / {line}: done in {train_s:.0f}s train_line + {compare_s:.0f}s compare")
        print_line(line, entry)
        timings[f"train_line_{line}_s"] = train_s
        timings[f"compare_{line}_s"] = compare_s
    timings["seed_total_s"] = time.perf_counter() - t_seed
    info = {"seed": seed, "training_date_D": training_date.isoformat(), **withheld, "ingest": ingest,
            "timings_s": {k: round(v, 1) for k, v in timings.items()}}
    return info, entries


def code_version() -> dict:
    """The git commit of the ``ltv`` package actually imported (and whether its tree is modified)."""
    import subprocess

    import ltv

    root = Path(ltv.__file__).resolve().parent.parent
    try:
        git = lambda *a: subprocess.run(["git", "-C", str(root), *a], capture_output=True, text=True,  # noqa: E731
                                        check=True, timeout=30).stdout.strip()
        return {"ltv_path": str(root), "commit": git("rev-parse", "HEAD"),
                "ltv_modified": bool(git("status", "--porcelain", "--", "ltv"))}
    except (OSError, subprocess.SubprocessError) as exc:
        return {"ltv_path": str(root), "commit": None, "error": str(exc)[:200]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default=DEFAULT_SEEDS,
                        help=f"comma separated simulation seeds, one full simulate/ingest/train pass each "
                             f"(default {DEFAULT_SEEDS})")
    parser.add_argument("--customers", type=int, default=10_000, help="customers per business line (default 10000)")
    parser.add_argument("--lines", default=DEFAULT_LINES,
                        help=f"comma separated subset of {DEFAULT_LINES} (default all four; see above)")
    parser.add_argument("--refund-rate", type=float, default=0.20,
                        help="refund_rate of the 'refunds' line (the retail preset otherwise; default 0.20)")
    parser.add_argument("--horizon-days", type=int, default=365, help="the horizon H (default 365)")
    parser.add_argument("--workdir", default="/tmp/ltv-oracle",
                        help="scratch directory for the simulation, lake and per-customer dumps (under "
                             "seed-<seed>/); WIPED at the start of every seed (default /tmp/ltv-oracle)")
    parser.add_argument("--out", default=str(HERE / "results" / "oracle.json"),
                        help="results JSON, rewritten after every seed (default bench/results/oracle.json)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print train_line's own progress (windows, per-candidate metrics, the gate)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    lines = [x.strip() for x in args.lines.split(",") if x.strip()]
    if not seeds or not lines:
        parser.error("give at least one seed and one line")
    horizon = args.horizon_days

    from ltv.config import LTVConfig, SparkSettings
    from ltv.models.registry import default_candidates
    from ltv.runtime.session import get_spark, stop_spark

    processes = line_processes(lines, args.refund_rate)
    config = LTVConfig()
    clock = Clock()
    report_code = code_version()
    training_date = TRUTH_AS_OF + dt.timedelta(days=horizon)
    say(f"{clock.stamp()} oracle check: seeds {seeds} x lines {lines}, {args.customers:,} customers per line; "
        f"candidates {default_candidates()}")
    say(f"   ltv from {report_code['ltv_path']} at {report_code.get('commit')}"
        + (" (ltv/ modified)" if report_code.get("ltv_modified") else ""))
    say(f"   truth window ({TRUTH_AS_OF}, {training_date}] = back-test window 0 of "
        f"train_line(as_of={training_date}, H={horizon})")
    for proc in processes:
        say(f"   {proc.name:<8} {describe_process(proc)}")

    command = " ".join([".venv/bin/python", "bench/oracle_check.py", *(argv if argv is not None else sys.argv[1:])])
    report = {
        "benchmark": "champion vs oracle on simulated data: RMSE ratio and total deviation (issue #16 acceptance)",
        "criterion": (f"over every (seed, line): champion RMSE / oracle RMSE median <= {RATIO_MEDIAN_LIMIT} and max "
                      f"<= {RATIO_MAX_LIMIT}; |sum champion predicted / sum oracle expected - 1| median <= "
                      f"{DEVIATION_MEDIAN_LIMIT:.0%} and max <= {DEVIATION_MAX_LIMIT:.0%}; per-pair 'pass' = within "
                      "the max limits"),
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "code": report_code,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "python": platform.python_version()},
        "setup": {
            "customers_per_line": args.customers,
            "seed": ",".join(map(str, seeds)),
            "seeds": seeds,
            "lines": {p.name: describe_process(p) for p in processes},
            "candidates": default_candidates(),
            "start": START.isoformat(),
            "truth_as_of_V": TRUTH_AS_OF.isoformat(),
            "training_date_D": training_date.isoformat(),
            "horizon_days": horizon,
            "simulate_end": (training_date + dt.timedelta(days=WITHHELD_DAYS)).isoformat(),
            "compared_on": "back-test window 0 (fit cutoff V), every customer of the V snapshot, train_line's own "
                           "predictions (recorded, not refitted)",
        },
        "complete": False,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    spark = get_spark(SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g"))
    seed_infos: list[dict] = []
    entries: list[dict] = []
    t_run = time.perf_counter()
    try:
        for k, seed in enumerate(seeds):
            t0 = time.perf_counter()
            info, seed_entries = run_seed(spark, config, seed, args, processes, clock)
            seed_infos.append(info)
            entries += seed_entries
            done = time.perf_counter() - t_run
            left = done / (k + 1) * (len(seeds) - k - 1)
            say(f"{clock.stamp()} seed {seed} done in {time.perf_counter() - t0:.0f}s "
                f"({k + 1}/{len(seeds)} seeds; about {left / 60:.0f} min left)")
            summary = summarize(entries)
            per_line = {line: summarize([e for e in entries if e["line"] == line]) for line in lines}
            report.update({
                "summary": summary,
                "quantile_summary": quantile_summary(entries),
                "per_line": per_line,
                "all_pass": summary["pass"],
                "seeds": seed_infos,
                "lines": {f"{e['line']} seed {e['seed']}": e for e in entries},
                "timings_s": {"total_s": round(time.perf_counter() - t_run, 1),
                              **{f"seed_{i['seed']}_s": i["timings_s"]["seed_total_s"] for i in seed_infos}},
                "complete": k == len(seeds) - 1,
            })
            out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    finally:
        stop_spark()

    summary, per_line = report["summary"], report["per_line"]
    table = markdown_tables(entries, summary, per_line)
    report["table_markdown"] = table
    report["quantile_table_markdown"] = quantile_markdown(report["quantile_summary"])
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    say("\n" + table)
    say("\nQuantiles on window 0 (issue #17): " + report["quantile_summary"]["criterion"] + "\n\n"
        + report["quantile_table_markdown"])
    say(f"\n{clock.stamp()} criterion {'PASSES' if summary['pass'] else 'FAILS'}: ratio median "
        f"{summary['ratio_median']:.3f} (<= {RATIO_MEDIAN_LIMIT}), max {summary['ratio_max']:.3f} "
        f"(<= {RATIO_MAX_LIMIT}); |deviation| median {summary['abs_deviation_median']:.2%} "
        f"(<= {DEVIATION_MEDIAN_LIMIT:.0%}), max {summary['abs_deviation_max']:.2%} (<= {DEVIATION_MAX_LIMIT:.0%}). "
        f"Results: {out}; total {report['timings_s']['total_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
