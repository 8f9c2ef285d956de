"""Scoring throughput: customers scored per second with each model family, ltv's Spark path next to
single-process prediction (ltv's own pandas ``predict``, and lifetimes for the BTYD models). Not a test.

Data (built once under ``--workdir``, reused): ``--customers`` simulated customers of one line
(:func:`ltv.datasets.simulate.simulate`, the grocery-like preset of ``bench_features.py``, chunks
of 200k customers, 2022-01-01..2024-12-31) -> transactions Parquet -> ONE feature snapshot as of
``--as-of`` (:func:`ltv.features.pipeline.build_snapshot`, Spark) written as Parquet. Every model
family (``--models``) is fitted once as ltv trains it (:func:`ltv.training.data.training_data`,
fit cutoff = ``--as-of``, horizon ``--horizon-days``) on a ``--fit-customers`` subset and saved as
its JSON files under ``workdir/models``.

Tools, each in its own fresh Python process (``--worker``), all on the same snapshot:

* ``spark``: :func:`ltv.scoring.predict.predict_spark` (``mapInPandas``; the model travels as a
  broadcast of its JSON files) on ``spark.read.parquet(snapshot)``, ``local[*]``, forced with a
  ``noop`` write; session start timed apart (``spark_start_s``); the same query run again in the
  same JVM is ``warm_s``.
* ``ltv_pandas``: the same model's ``predict`` on the whole snapshot as one pandas frame, one
  process (reading the Parquet is ``load_s``, not timed).
* ``lifetimes`` (``bgnbd_gg``, ``pareto_gg`` only): lifetimes' ``BetaGeoFitter`` /
  ``ParetoNBDFitter`` ``conditional_expected_number_of_purchases_up_to_time`` times
  ``GammaGammaFitter.conditional_expected_average_profit``, with the parameters of ltv's fitted
  model (so the same predictions are expected); reading the Parquet is ``load_s``.

ltv's BTYD ``predict`` does more than lifetimes' two calls: it also computes ``p_alive``,
``prob_purchase`` and the exact p10/p50/p90 of each customer's predictive spend distribution
(:mod:`ltv.models.btyd.predictive`; before 0.4, a Monte Carlo interval of 200 draws). ``agree`` compares ``predicted_ltv`` on 1,000
sampled customers with ltv's Spark output (max relative difference).

    .venv/bin/python bench/bench_scoring.py [--customers 1000000] [--models baseline,bgnbd_gg,...]

Results: printed table and ``bench/results/scoring.json``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_features import _python_peak_rss_mb, timed_section  # noqa: E402  (same measurement as features)

LINE = "bench"
DATA_START = dt.date(2022, 1, 1)
DATA_END = dt.date(2024, 12, 31)
CUSTOMERS_PER_CHUNK = 200_000
SAMPLE_CUSTOMERS = 1_000
MODELS = ("baseline", "bgnbd_gg", "pareto_gg", "xgboost", "hybrid")
LIFETIMES_MODELS = ("bgnbd_gg", "pareto_gg")
TOOLS = ("spark", "ltv_pandas", "lifetimes")


# -- data and models (prepare worker) -----------------------------------------------------------------
def paths(workdir: Path, customers: int) -> dict[str, Path]:
    base = workdir / f"c{customers}"
    return {"base": base, "transactions": base / "transactions.parquet", "snapshot": base / "snapshot.parquet",
            "models": base / "models", "sample": base / "sample.json", "facts": base / "facts.json"}


def prepare(args: argparse.Namespace) -> int:
    """Simulate, build the snapshot, fit and save every model (skips what exists)."""
    import logging
    from dataclasses import replace

    import pyarrow as pa
    import pyarrow.parquet as pq

    logging.basicConfig(level=logging.WARNING)
    p = paths(Path(args.workdir), args.customers)
    p["base"].mkdir(parents=True, exist_ok=True)
    facts = json.loads(p["facts"].read_text()) if p["facts"].exists() else {}
    as_of = dt.date.fromisoformat(args.as_of)
    if not p["transactions"].exists():
        from ltv.datasets.simulate import default_processes, simulate

        started = time.perf_counter()
        grocery = replace(default_processes(["retail", "grocery"])[1], name=LINE)
        schema = pa.schema([("business_line", pa.string()), ("customer_id", pa.string()),
                            ("event_ts", pa.timestamp("us", tz="UTC")), ("amount", pa.float64())])
        partial = p["transactions"].with_suffix(".partial")
        rows, done, chunk = 0, 0, 0
        with pq.ParquetWriter(partial, schema, compression="snappy") as writer:
            while done < args.customers:
                n = min(CUSTOMERS_PER_CHUNK, args.customers - done)
                sim = simulate(customers=n, business_lines=[LINE], seed=args.seed + chunk, start=DATA_START,
                               end=DATA_END, truth_as_of=dt.date(2023, 12, 31), processes=[grocery])
                tx = sim.transactions.assign(customer_id=f"k{chunk:03d}-" + sim.transactions["customer_id"])
                writer.write_table(pa.Table.from_pandas(tx[list(schema.names)], schema=schema, preserve_index=False))
                rows += len(tx)
                done += n
                chunk += 1
        partial.rename(p["transactions"])
        facts.update({"transactions": rows, "simulate_s": round(time.perf_counter() - started, 1)})

    from pyspark.sql import functions as F

    from ltv.config import FeatureSettings, SparkSettings
    from ltv.runtime.session import get_spark, stop_spark

    spark = get_spark(SparkSettings(master="local[*]", shuffle_partitions=args.shuffle_partitions), app_name="bench-scoring-prep")
    transactions = spark.read.parquet(str(p["transactions"]))
    if not p["snapshot"].exists():
        from ltv.features.pipeline import build_snapshot

        started = time.perf_counter()
        build_snapshot(transactions, as_of, FeatureSettings()).write.mode("overwrite").parquet(str(p["snapshot"]))
        facts["snapshot_s"] = round(time.perf_counter() - started, 1)
    snapshot = spark.read.parquet(str(p["snapshot"]))
    facts["customers_scored"] = snapshot.count()
    facts["snapshot_columns"] = len(snapshot.columns)
    if not p["sample"].exists():
        ids = [r[0] for r in snapshot.select("customer_id").collect()[:: max(1, facts["customers_scored"] // SAMPLE_CUSTOMERS)]]
        p["sample"].write_text(json.dumps(sorted(ids)[:SAMPLE_CUSTOMERS]))

    from ltv.models.registry import create_model
    from ltv.training.data import KnownData, training_data

    missing = [m for m in args.models.split(",") if not (p["models"] / m / "model.json").exists()]
    if missing:
        fraction = min(1.0, args.fit_customers / max(1, facts["customers_scored"]))
        subset = transactions.where(F.abs(F.xxhash64("customer_id")) % 1_000_000 < int(fraction * 1_000_000))
        known = KnownData.from_frames(LINE, as_of, subset, None, FeatureSettings(), {})
        fit_s = facts.setdefault("fit_s", {})
        try:
            for name in missing:
                model = create_model(name)
                started = time.perf_counter()
                data = training_data(known, as_of, args.horizon_days, model.needs_examples, n_cutoffs=1)
                model.fit(data)
                model.save(p["models"] / name)
                fit_s[name] = round(time.perf_counter() - started, 1)
        finally:
            known.release()
    stop_spark()
    facts["fit_customers"] = args.fit_customers
    p["facts"].write_text(json.dumps(facts, indent=2))
    print(json.dumps(facts))
    return 0


# -- measurement (worker side) --------------------------------------------------------------------------
def run_spark(model_dir: Path, snapshot: Path, horizon: int, sample: list[str], partitions: int) -> dict:
    from pyspark.sql import functions as F

    from ltv.config import SparkSettings
    from ltv.models.registry import load_model
    from ltv.scoring.predict import predict_spark
    from ltv.runtime.session import get_spark, stop_spark

    t0 = time.perf_counter()
    spark = get_spark(SparkSettings(master="local[*]", shuffle_partitions=partitions), app_name="bench-scoring")
    spark_start_s = time.perf_counter() - t0
    model = load_model(model_dir)
    features = spark.read.parquet(str(snapshot))
    rows = features.count()
    keep = ("business_line", "customer_id", "as_of")
    with timed_section(with_children=True) as timing:
        predict_spark(model, features, horizon, keep=keep).write.format("noop").mode("overwrite").save()
    with timed_section(with_children=True) as warm:
        predict_spark(model, features, horizon, keep=keep).write.format("noop").mode("overwrite").save()
    picked = (predict_spark(model, features.where(F.col("customer_id").isin(sample)), horizon, keep=keep)
              .select("customer_id", "predicted_ltv").toPandas())
    partitions_read = features.rdd.getNumPartitions()
    stop_spark()
    return {"timing": timing, "rows": rows, "sample": picked, "sink": "noop",
            "extra": {"spark_start_s": round(spark_start_s, 2), "warm_s": round(warm.seconds, 2),
                      "input_partitions": partitions_read}}


def run_ltv_pandas(model_dir: Path, snapshot: Path, horizon: int, sample: list[str]) -> dict:
    import pandas as pd

    from ltv.models.registry import load_model

    model = load_model(model_dir)
    t0 = time.perf_counter()
    frame = pd.read_parquet(snapshot)
    load_s = time.perf_counter() - t0
    with timed_section(with_children=False) as timing:
        predictions = model.predict(frame, horizon)
    picked = pd.DataFrame({"customer_id": frame["customer_id"], "predicted_ltv": predictions["predicted_ltv"]})
    picked = picked[picked["customer_id"].isin(sample)]
    return {"timing": timing, "rows": len(frame), "sample": picked, "sink": "in-memory pandas",
            "extra": {"load_s": round(load_s, 2)}}


def run_lifetimes(model_dir: Path, snapshot: Path, horizon: int, sample: list[str]) -> dict:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

    state = json.loads((model_dir / "model.json").read_text())
    name = state.get("name") or state.get("model")
    fits = state.get("state", state)
    fitter = BetaGeoFitter() if name == "bgnbd_gg" else ParetoNBDFitter()
    fitter.params_ = pd.Series(fits["purchase_fit"]["params"])
    spend = GammaGammaFitter()
    spend.params_ = pd.Series(fits["spend_fit"]["params"])
    days_per_unit = {"days": 1.0, "weeks": 7.0}[fits["time_unit"]]
    t0 = time.perf_counter()
    frame = pd.read_parquet(snapshot, columns=["customer_id", "frequency", "recency", "T", "monetary_value"])
    load_s = time.perf_counter() - t0
    with timed_section(with_children=False) as timing:
        purchases = fitter.conditional_expected_number_of_purchases_up_to_time(
            horizon / days_per_unit, frame["frequency"], frame["recency"], frame["T"])
        profit = spend.conditional_expected_average_profit(frame["frequency"], frame["monetary_value"])
        ltv = purchases * profit
    picked = pd.DataFrame({"customer_id": frame["customer_id"], "predicted_ltv": ltv.to_numpy()})
    picked = picked[picked["customer_id"].isin(sample)]
    return {"timing": timing, "rows": len(frame), "sample": picked, "sink": "in-memory pandas (two calls)",
            "extra": {"load_s": round(load_s, 2), "lifetimes_class": type(fitter).__name__}}


def worker(args: argparse.Namespace) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.worker == "prepare":
        return prepare(args)
    p = paths(Path(args.workdir), args.customers)
    sample = json.loads(p["sample"].read_text())
    model_dir = p["models"] / args.model
    if args.worker == "spark":
        run = run_spark(model_dir, p["snapshot"], args.horizon_days, sample, args.shuffle_partitions)
    elif args.worker == "ltv_pandas":
        run = run_ltv_pandas(model_dir, p["snapshot"], args.horizon_days, sample)
    else:
        run = run_lifetimes(model_dir, p["snapshot"], args.horizon_days, sample)
    timing = run["timing"]
    result_path = Path(args.result)
    run["sample"].to_parquet(result_path.with_suffix(".sample.parquet"), index=False)
    python_mb = _python_peak_rss_mb()
    result = {
        "seconds": round(timing.seconds, 2),
        "customers_per_s": round(run["rows"] / timing.seconds, 1) if timing.seconds > 0 else None,
        "cpu_s": round(timing.cpu_s, 2),
        "python_peak_rss_mb": round(python_mb, 1),
        "jvm_peak_rss_mb": None if timing.jvm_peak_rss_mb is None else round(timing.jvm_peak_rss_mb, 1),
        "rows": int(run["rows"]),
        "sink": run["sink"],
        **run["extra"],
    }
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


# -- orchestration ----------------------------------------------------------------------------------------
def launch(cmd: list[str], log: Path, timeout: float) -> str:
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
            return "ok" if code == 0 else f"error (exit {code}, see {log})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker's own session: it and its JVM, nothing else
            proc.wait()
            return f"timeout after {timeout} s"


def common_args(args: argparse.Namespace) -> list[str]:
    return ["--workdir", str(args.workdir), "--customers", str(args.customers), "--as-of", args.as_of,
            "--horizon-days", str(args.horizon_days), "--models", args.models, "--seed", str(args.seed),
            "--fit-customers", str(args.fit_customers), "--shuffle-partitions", str(args.shuffle_partitions)]


def run_worker(tool: str, model: str, args: argparse.Namespace) -> dict:
    runs = Path(args.workdir) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    result = runs / f"{tool}_{model}_{args.customers}.json"
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, "--model", model,
           "--result", str(result), *common_args(args)]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    status = launch(cmd, result.with_suffix(".log"), args.timeout)
    if status == "ok" and not result.exists():
        status = "error (no result file)"
    record = {"model": model, "tool": tool, "status": status, "load_avg_1m_before": round(load_before, 2),
              "load_avg_1m_after": round(os.getloadavg()[0], 2),
              "process_wall_s": round(time.perf_counter() - started, 1)}
    if status == "ok":
        record.update(json.loads(result.read_text()))
    return record


def compare(records: list[dict], workdir: Path, customers: int) -> None:
    """``agree``: max relative difference of predicted_ltv vs ltv's Spark output on the sample."""
    import numpy as np
    import pandas as pd

    def sample_of(tool: str, model: str):
        path = workdir / "runs" / f"{tool}_{model}_{customers}.sample.parquet"
        return pd.read_parquet(path).set_index("customer_id").sort_index() if path.exists() else None

    for record in records:
        if record["status"] != "ok" or record["tool"] == "spark":
            continue
        ref = sample_of("spark", record["model"])
        mine = sample_of(record["tool"], record["model"])
        if ref is None or mine is None:
            continue
        joined = ref.join(mine, lsuffix="_spark", rsuffix="_other", how="inner")
        a, b = joined["predicted_ltv_spark"].to_numpy(float), joined["predicted_ltv_other"].to_numpy(float)
        rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-9)
        record["sample_compared"] = int(len(joined))
        record["max_rel_diff_vs_spark"] = float(rel.max()) if len(rel) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--workdir", default="/tmp/ltv-bench-scoring")
    parser.add_argument("--as-of", default=DATA_END.isoformat())
    parser.add_argument("--horizon-days", type=int, default=365)
    parser.add_argument("--fit-customers", type=int, default=50_000, help="customers the models are fitted on")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", default=str(HERE / "results" / "scoring.json"))
    parser.add_argument("--worker", choices=("prepare", *TOOLS), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    models = [m for m in args.models.split(",") if m]
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(models) - set(MODELS)) + sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown models/tools {unknown}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    started_at = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()
    print(f"preparing {args.customers:,} customers under {workdir} (load {load_start[0]:.2f})", flush=True)
    prep = launch([sys.executable, str(Path(__file__).resolve()), "--worker", "prepare", *common_args(args)],
                  workdir / f"prepare_{args.customers}.log", args.timeout * 2)
    if prep != "ok":
        print(f"prepare failed: {prep}", file=sys.stderr)
        return 1
    facts = json.loads(paths(workdir, args.customers)["facts"].read_text())
    records = []
    for model in models:
        for tool in tools:
            if tool == "lifetimes" and model not in LIFETIMES_MODELS:
                continue
            record = run_worker(tool, model, args)
            records.append(record)
            print(f"{model:<10} {tool:<10} {record['status']:<6} {record.get('seconds', '-'):>8} s "
                  f"{record.get('customers_per_s', '-'):>12} customers/s  load {record['load_avg_1m_before']}", flush=True)
    compare(records, workdir, args.customers)
    doc = {
        "benchmark": "scoring", "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_start": [round(x, 2) for x in load_start],
                    "load_avg_end": [round(x, 2) for x in os.getloadavg()]},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "data": facts, "horizon_days": args.horizon_days, "as_of": args.as_of, "records": records,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
