"""Online lookup latency on the SQLite online store (not a test).

Builds a lake with ~10k simulated customers (``ltv.datasets.simulate``), ingests them, builds two
feature snapshots, materializes, then times

* 1,000 single-customer :func:`ltv.serving.lookup.lookup` calls (random customers), and
* 100 batch lookups of 100 customers each (one ``get_online_features`` call per batch),

and prints p50 / p90 / p99 / max in milliseconds; results go to ``bench/results/lookup.json``.
Target: single-lookup p99 < 10 ms.

    .venv/bin/python bench/bench_lookup.py [--customers 10000] [--workdir DIR] [--keep]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

HERE = Path(__file__).resolve().parent
LINE = "default"


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def pct(p: float) -> float:
        index = min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))
        return ordered[index] / 1e6

    return {
        "n": len(ordered),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": ordered[-1] / 1e6,
        "mean_ms": sum(ordered) / len(ordered) / 1e6,
    }


def build_lake(root: Path, customers: int, seed: int) -> dict[str, float]:
    """Simulate, ingest, two snapshots, materialize; returns the stage timings in seconds."""
    from ltv.config import LTVConfig, SparkSettings
    from ltv.datasets.simulate import simulate
    from ltv.features.pipeline import build_features
    from ltv.ingest.pipeline import ingest_transactions
    from ltv.lake.io import Lake
    from ltv.serving.materialize import materialize
    from ltv.runtime.session import get_spark

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    spark = get_spark(SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="2g"))
    timings["spark_start_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    sim = simulate(customers=customers, business_lines=[LINE], seed=seed, start=dt.date(2022, 1, 1),
                   end=dt.date(2024, 12, 31), truth_as_of=dt.date(2023, 12, 31))
    paths = sim.write(root.parent / "sim")
    timings["simulate_s"] = time.perf_counter() - t0

    lake = Lake(spark, root)
    config = LTVConfig()
    t0 = time.perf_counter()
    ingest_transactions(spark, lake, paths["transactions"])
    timings["ingest_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for as_of in (dt.date(2023, 6, 30), dt.date(2023, 12, 31)):
        build_features(spark, lake, config, as_of, [LINE])
    timings["features_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = materialize(spark, lake, config)
    timings["materialize_s"] = time.perf_counter() - t0
    timings["customers_materialized"] = result.rows["customer_features"]
    timings["transactions"] = len(sim.transactions)
    return timings


def measure(root: Path, customers: int, seed: int, singles: int, batches: int, batch_size: int) -> dict:
    from ltv.serving.lookup import lookup, lookup_many
    from ltv.serving.store import feature_store, online_store_description

    store = feature_store(root, apply=False)
    rng = random.Random(seed)
    ids = [f"c{i:06d}" for i in range(customers)]
    present = []  # customers with a purchase by the last snapshot (simulated acquisition is spread out)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        present += [cid for cid, row in zip(chunk, lookup_many(store, [(LINE, c) for c in chunk])) if row is not None]
    for cid in present[:50]:  # warm-up: registry load, SQLite connection, code paths
        lookup(store, cid, LINE)

    single_ns = []
    for _ in range(singles):
        cid = rng.choice(present)
        t0 = time.perf_counter_ns()
        lookup(store, cid, LINE)
        single_ns.append(time.perf_counter_ns() - t0)

    batch_ns = []
    for _ in range(batches):
        chosen = [(LINE, cid) for cid in rng.sample(present, batch_size)]
        t0 = time.perf_counter_ns()
        rows = lookup_many(store, chosen)
        batch_ns.append(time.perf_counter_ns() - t0)
        assert all(r is not None for r in rows)
    return {
        "online_store": online_store_description(store.config),
        "customers_online": len(present),
        "single": percentiles(single_ns),
        f"batch_{batch_size}": percentiles(batch_ns),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--singles", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--workdir", default=None, help="where the lake goes (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--lake", default=None,
                        help="measure an already materialized lake (e.g. a kept --workdir's lake); no build")
    parser.add_argument("--out", default=str(HERE / "results" / "lookup.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ltv-bench-lookup-"))
    root = Path(args.lake).resolve() if args.lake else work / "lake"
    try:
        build: dict[str, float] = {}
        if not args.lake:
            from ltv.runtime.session import stop_spark

            try:
                build = build_lake(root, args.customers, args.seed)
            finally:
                stop_spark()  # lookups need no Spark; an idle JVM would only add noise
        latency = measure(root, args.customers, args.seed, args.singles, args.batches, args.batch_size)
    finally:
        if not args.keep and args.workdir is None and not args.lake:
            shutil.rmtree(work, ignore_errors=True)

    import feast

    results = {
        "benchmark": "online lookup latency",
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "python": platform.python_version(),
                    "feast": feast.__version__},
        "customers_simulated": args.customers,
        "build": build,
        **latency,
        "target": {"single_p99_ms": 10.0, "met": latency["single"]["p99_ms"] < 10.0},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")

    header = f"{'lookup':<22}{'n':>6}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    print(f"online store: {latency['online_store']} ({latency['customers_online']:,} customers)")
    print(header)
    print("-" * len(header))
    for name, label in (("single", "single customer"), (f"batch_{args.batch_size}", f"batch of {args.batch_size}")):
        s = latency[name]
        print(f"{label:<22}{s['n']:>6}{s['p50_ms']:>10.2f}{s['p90_ms']:>10.2f}{s['p99_ms']:>10.2f}{s['max_ms']:>10.2f}")
    print(f"target single p99 < 10 ms: {'met' if results['target']['met'] else 'NOT met'}")
    print(f"build: {json.dumps(build)}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
