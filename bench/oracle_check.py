"""Acceptance check: champion RMSE vs the ORACLE's RMSE on simulated data (not a test).

The issue's criterion: "per business line the champion's RMSE against realised spend in the
horizon is within 10% of the oracle's -- the true expected spend given each customer's history
and the true process".

Time layout (all dates are ends of UTC days, horizons in DAYS):

    V = truth_as_of                 simulator ground-truth cut = platform back-test fit cutoff
    D = V + H                       the platform's training date (``train_line(..., as_of=D, H)``
                                    back-tests as of ``D - H = V`` on the window ``(V, D]``)
    end = D + withheld_days         the simulator runs past D; rows after the end of D are
                                    withheld from the lake (filtered in pandas before ingest)

Steps: simulate -> keep transactions with ``event_ts < D + 1 day`` -> ingest them and the
customers into a fresh lake -> ``train_line`` per line with every default candidate ->
re-fit each candidate exactly as the back-test does (as of V) and predict the window for every
customer of the V snapshot -> join with the ground truth on ``customer_id`` -> RMSE of the
model and of the oracle ``expected_spend`` against ``realised_spend`` on the same customers.

The ratio ``RMSE_model / RMSE_oracle`` of the champion must be <= 1.10.  Results go to
``bench/results/oracle.json``.

    .venv/bin/python bench/oracle_check.py [--customers 3000] [--lines retail,online,luxury]
        [--horizon-days 365] [--workdir /tmp/ltv-oracle] [--seed 11]
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
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
START = dt.date(2022, 1, 1)          # first possible acquisition
TRUTH_AS_OF = dt.date(2023, 12, 31)  # V: ground-truth cut = back-test fit cutoff
WITHHELD_DAYS = 30                   # the simulator runs this many days past D; never ingested
RATIO_LIMIT = 1.10


# ---------------------------------------------------------------------------------------- data


def simulate_and_withhold(workdir: Path, customers: int, lines: list[str], seed: int, horizon: int):
    """Simulate, write the CSVs, and write ``transactions_known.csv`` with rows up to the end of D only.

    Returns (SimulationResult, paths, D, info dict).
    """
    from ltv.datasets.simulate import simulate

    training_date = TRUTH_AS_OF + dt.timedelta(days=horizon)  # D
    end = training_date + dt.timedelta(days=WITHHELD_DAYS)
    sim = simulate(customers=customers, business_lines=lines, seed=seed, start=START, end=end,
                   truth_as_of=TRUTH_AS_OF, truth_horizon_days=horizon)
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


def backtest_predictions(spark, lake, config, line: str, training_date: dt.date, horizon: int,
                         names: list[str]) -> dict[str, pd.DataFrame]:
    """What ``train_line`` predicts in its back-test, per candidate: customer_id, predicted_ltv, label_spend.

    Mirrors :func:`ltv.training.train.train_line` step 2 (same inputs, cutoffs and settings).
    """
    from ltv.config import FeatureSettings
    from ltv.models.registry import create_model
    from ltv.scoring.predict import predict_spark
    from ltv.training.data import KnownData, training_data

    settings = config.line(line)
    versions = {name: lake.version(name) for name in ("transactions", "customers", "customer_features")}
    tx = lake.read("transactions", version=versions["transactions"])
    customers = lake.read("customers", version=versions["customers"])
    feature_settings = FeatureSettings(time_unit=settings.time_unit, windows_days=config.features.windows_days,
                                       attributes=config.features.attributes)
    known = KnownData.from_frames(line, training_date, tx, customers, feature_settings, versions)
    cutoff = training_date - dt.timedelta(days=horizon)  # V, exactly as train_line computes it
    out: dict[str, pd.DataFrame] = {}
    try:
        frame = known.labelled(cutoff, horizon)
        cache: dict[bool, object] = {}
        for name in names:
            model = create_model(name, **settings.hyperparameters.get(name, {}))
            if model.needs_examples not in cache:
                cache[model.needs_examples] = training_data(
                    known, cutoff, horizon, model.needs_examples,
                    n_cutoffs=settings.training_cutoffs, step_days=settings.cutoff_step_days)
            model.fit(cache[model.needs_examples])
            pdf = predict_spark(model, frame, horizon, keep=("customer_id", "label_spend")).toPandas()
            out[name] = pdf[["customer_id", "predicted_ltv", "label_spend"]].sort_values("customer_id", ignore_index=True)
    finally:
        known.release()
    return out


# ------------------------------------------------------------------------------------ metrics


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


def bootstrap_ratio(realised: np.ndarray, predicted: np.ndarray, oracle: np.ndarray,
                    reps: int = 1000, seed: int = 0) -> dict[str, float]:
    """Paired customer bootstrap of ``RMSE_model / RMSE_oracle``: 5/50/95% quantiles and P(ratio <= limit)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, realised.size, size=(reps, realised.size))
    model_se, oracle_se = (predicted - realised) ** 2, (oracle - realised) ** 2
    ratios = np.sqrt(model_se[idx].mean(axis=1) / oracle_se[idx].mean(axis=1))
    q05, q50, q95 = np.quantile(ratios, [0.05, 0.5, 0.95])
    return {"q05": float(q05), "q50": float(q50), "q95": float(q95),
            "p_within_limit": float((ratios <= RATIO_LIMIT).mean()), "reps": reps}


def compare_line(line: str, truth: pd.DataFrame, predictions: dict[str, pd.DataFrame],
                 train_metrics: dict[str, dict[str, float]], dump_dir: Path | None = None) -> dict:
    """Per candidate: RMSE, gini and bias of the model and of the oracle on the same customers.

    ``dump_dir``: if given, the joined per-customer rows go to ``<dump_dir>/<line>_<model>.csv``.
    """
    from ltv.evaluation.metrics import evaluate

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
        diff = np.abs(label - realised)
        model_m = evaluate(realised, joined["predicted_ltv"].to_numpy(float))
        oracle_m = evaluate(realised, joined["expected_spend"].to_numpy(float))
        latent_rmse = rmse(realised, joined["expected_spend_latent"].to_numpy(float))
        reported = train_metrics.get(name, {})
        models[name] = {
            "rmse": model_m["rmse"],
            "oracle_rmse": oracle_m["rmse"],
            "ratio": model_m["rmse"] / oracle_m["rmse"],
            "gini": model_m["gini"],
            "oracle_gini": oracle_m["gini"],
            "bias": model_m["bias"],
            "oracle_bias": oracle_m["bias"],
            "mae": model_m["mae"],
            "oracle_mae": oracle_m["mae"],
            "latent_rmse": latent_rmse,
            "ratio_bootstrap": bootstrap_ratio(realised, joined["predicted_ltv"].to_numpy(float),
                                               joined["expected_spend"].to_numpy(float)),
            "label_vs_realised_max_abs_diff": float(diff.max()),
            "label_vs_realised_rows_differing": int((diff > 0.005).sum()),
            "train_line_rmse": reported.get("rmse"),
            "train_line_gini": reported.get("gini"),
            "rmse_vs_train_line_abs_diff": (abs(model_m["rmse"] - reported["rmse"]) if "rmse" in reported else None),
        }
    return {"models": models, "coverage": coverage}


# --------------------------------------------------------------------------------------- main


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


def print_line(line: str, entry: dict) -> None:
    champ = entry["champion"]
    print(f"\n== {line} ({entry['process']}) -- champion: {champ}  [{entry['champion_note']}]")
    cov = entry["coverage"]
    print(f"   customers: truth {cov['truth_customers']:,}, back-test {cov['backtest_customers']:,}, "
          f"joined {cov['joined']:,}")
    header = (f"   {'model':<11}{'rmse':>10}{'oracle':>10}{'ratio':>8}{'ratio 90% CI':>15}{'gini':>8}{'o.gini':>8}"
              f"{'bias':>9}{'o.bias':>9}{'|lbl-real|':>11}")
    print(header)
    print("   " + "-" * (len(header) - 3))
    for name, m in entry["models"].items():
        mark = "*" if name == champ else " "
        ci = f"[{m['ratio_bootstrap']['q05']:.2f}, {m['ratio_bootstrap']['q95']:.2f}]"
        print(f" {mark} {name:<11}{m['rmse']:>10.2f}{m['oracle_rmse']:>10.2f}{m['ratio']:>8.3f}{ci:>15}{m['gini']:>8.3f}"
              f"{m['oracle_gini']:>8.3f}{m['bias']:>+9.1%}{m['oracle_bias']:>+9.1%}"
              f"{m['label_vs_realised_max_abs_diff']:>11.2f}")
    latent = next(iter(entry["models"].values()))["latent_rmse"]
    print(f"   (latent-parameter clairvoyant rmse {latent:.2f}; rmse-best model: {entry['rmse_best']}; "
          f"gate's pick by gini: {champ})")
    verdict = "PASS" if entry["pass"] else "FAIL"
    ratio = entry["champion_ratio"]
    print(f"   champion ratio {ratio:.3f} <= {RATIO_LIMIT:.2f}: {verdict} (bootstrap P(ratio <= {RATIO_LIMIT:.2f}) = "
          f"{entry['models'][champ]['ratio_bootstrap']['p_within_limit']:.2f})" if ratio is not None
          else f"   no champion: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000, help="customers per business line")
    parser.add_argument("--lines", default="retail,online,luxury",
                        help="comma separated; the simulator cycles presets retail, grocery, luxury by position")
    parser.add_argument("--horizon-days", type=int, default=365)
    parser.add_argument("--workdir", default="/tmp/ltv-oracle")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", default=str(HERE / "results" / "oracle.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    lines = [x.strip() for x in args.lines.split(",") if x.strip()]
    horizon = args.horizon_days

    from ltv.config import LTVConfig, SparkSettings
    from ltv.datasets.simulate import default_processes
    from ltv.runtime.session import get_spark, stop_spark
    from ltv.training.train import train_line

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    sim, paths, training_date, withheld = simulate_and_withhold(workdir, args.customers, lines, args.seed, horizon)
    timings["simulate_s"] = time.perf_counter() - t0
    cutoff = training_date - dt.timedelta(days=horizon)
    assert cutoff == TRUTH_AS_OF, (cutoff, TRUTH_AS_OF)
    print(f"simulated {args.customers:,} customers x {len(lines)} line(s); truth window ({TRUTH_AS_OF}, "
          f"{training_date}] = back-test window of train_line(as_of={training_date}, H={horizon}); "
          f"withheld {withheld['rows_withheld_after_D']:,} of {withheld['rows_simulated']:,} rows after D")

    config = LTVConfig()
    spark = get_spark(SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g"))
    results: dict[str, dict] = {}
    try:
        t0 = time.perf_counter()
        lake, ingest = build_lake(spark, workdir / "lake", paths, training_date)
        timings["ingest_s"] = time.perf_counter() - t0
        processes = {p.name: p for p in default_processes(lines)}
        for line in lines:
            t0 = time.perf_counter()
            result = train_line(spark, lake, config, line, training_date, horizon)
            timings[f"train_line_{line}_s"] = time.perf_counter() - t0
            champion, note = champion_of(result)
            names = list(result.metrics)  # candidates that produced a back-test (failures are in errors)
            t0 = time.perf_counter()
            predictions = backtest_predictions(spark, lake, config, line, training_date, horizon, names)
            timings[f"repredict_{line}_s"] = time.perf_counter() - t0
            truth = sim.ground_truth[sim.ground_truth["business_line"] == line]
            entry = compare_line(line, truth, predictions, result.metrics, workdir / "predictions")
            rmse_best = min(entry["models"], key=lambda n: entry["models"][n]["rmse"])
            ratio = entry["models"][champion]["ratio"] if champion in entry["models"] else None
            proc = processes[line]
            entry.update({
                "process": f"preset r={proc.r} alpha={proc.alpha} a={proc.a} b={proc.b} p={proc.p} q={proc.q} "
                           f"gamma={proc.gamma} refund_rate={proc.refund_rate}",
                "champion": champion,
                "champion_note": note,
                "gate": result.decision.as_dict(),
                "train_errors": result.errors,
                "rmse_best": rmse_best,
                "gate_pick_differs_from_rmse_best": champion != rmse_best,
                "champion_ratio": ratio,
                "pass": ratio is not None and ratio <= RATIO_LIMIT,
            })
            results[line] = entry
            print_line(line, entry)
    finally:
        stop_spark()

    report = {
        "benchmark": "champion RMSE vs oracle RMSE on simulated data (issue acceptance criterion)",
        "criterion": f"per line, champion RMSE / oracle RMSE <= {RATIO_LIMIT}",
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/oracle_check.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "python": platform.python_version()},
        "setup": {
            "customers_per_line": args.customers,
            "lines": lines,
            "seed": args.seed,
            "start": START.isoformat(),
            "truth_as_of_V": TRUTH_AS_OF.isoformat(),
            "training_date_D": training_date.isoformat(),
            "horizon_days": horizon,
            "simulate_end": (training_date + dt.timedelta(days=WITHHELD_DAYS)).isoformat(),
            **withheld,
            "ingest": ingest,
        },
        "lines": results,
        "all_pass": all(e["pass"] for e in results.values()),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nall lines pass: {report['all_pass']}; results: {out}; timings: {report['timings_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
