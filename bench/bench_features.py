"""RFM summary at scale: ltv's Spark path vs lifetimes vs DuckDB, side by side (not a test).

For each size N (``--sizes``) it builds ONE Parquet file of N simulated transactions under
``--workdir`` (reused when present) and computes the same BTYD summary per customer -- frequency,
recency, T, monetary_value in DAYS, observation end = the end of ``--as-of`` -- with

* ``spark_rfm``: :func:`ltv.features.rfm.rfm_summary` on the Parquet (``local[*]``), first run
  in the fresh JVM written to Parquet like DuckDB's ``COPY`` (``seconds``); the session start is
  timed apart (``spark_start_s``); then the same query written to a Delta table, the platform's
  sink (``then_delta_write_s``), and a warm run into the ``noop`` sink (``warm_noop_s``);
* ``spark_snapshot``: :func:`ltv.features.pipeline.build_snapshot` (RFM + every behaviour
  feature, no customer attributes) written to Delta the same way;
* ``lifetimes``: ``lifetimes.utils.summary_data_from_transaction_data(freq='D')`` on a pandas
  DataFrame of the purchase rows; ``seconds`` is the function only, reading the Parquet into
  pandas is ``load_s``; run with a timeout (``--lifetimes-timeout``), recorded as ``timeout``;
* ``duckdb``: one SQL query (:data:`DUCKDB_SQL`) on the Parquet file, ``COPY``-ed to Parquet.

Every tool runs in its own fresh Python process (``--worker``), so memory is not shared between
tools. Measured per run: wall ``seconds`` of the timed section, CPU seconds of the process tree
in it (``cpu_s``; less sensitive than wall time to other jobs on the machine), peak RSS of the
Python process (``VmHWM``, whole worker lifetime) and, for Spark, the peak RSS of the JVM process
tree (polled every 0.2 s during the timed section). Results agree when the output row counts are
equal and, on 1,000 sampled customers, every column is within 1e-6 of the reference (ltv's
``spark_rfm``; lifetimes when Spark did not run).

Data: :func:`ltv.datasets.simulate.simulate` (BG/NBD + Gamma-Gamma, the grocery-like preset:
~7 rows per customer over 2022-01-01..2024-12-31, ~2% partial refunds), in chunks of 200k
customers, cut to exactly N rows (whole customers; the one customer at the cut loses its latest
rows). Refunds (amount < 0) are not purchases in ltv; lifetimes and DuckDB get the same rule
(lifetimes is given the purchase rows only, filtered in ``load_s``).

    .venv/bin/python bench/bench_features.py [--sizes 1000000,10000000] [--workdir /tmp/ltv-bench]

The Spark tools run in sessions as ltv starts them (``ltv.runtime.session.get_spark``: stock Spark +
Delta, the class-data-sharing archive when built); ``--spark-conf KEY=VALUE`` adds settings, e.g.
``spark.sql.adaptive.enabled=false``.

Results: printed table and ``bench/results/features.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

HERE = Path(__file__).resolve().parent
LINE = "bench"
DATA_START = dt.date(2022, 1, 1)
DATA_END = dt.date(2024, 12, 31)
TRUTH_AS_OF = dt.date(2023, 12, 31)
CUSTOMERS_PER_CHUNK = 200_000
ROW_GROUP_ROWS = 262_144
SAMPLE_CUSTOMERS = 1_000
TOLERANCE = 1e-6
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
TOOLS = ("duckdb", "spark_rfm", "spark_snapshot", "lifetimes")

# Same rules as ltv.features.rfm: purchases are rows with amount >= 0 known by the end of as_of,
# merged per UTC day; monetary_value = mean per-day spend over the repeat days (0 without repeats).
DUCKDB_SQL = """
WITH days AS (
    SELECT business_line, customer_id, CAST(event_ts AS DATE) AS day, SUM(amount) AS day_spend
    FROM read_parquet('{parquet}')
    WHERE amount >= 0 AND event_ts < TIMESTAMPTZ '{end_exclusive} 00:00:00+00'
    GROUP BY ALL
)
SELECT
    business_line,
    customer_id,
    CAST(COUNT(*) - 1 AS DOUBLE) AS frequency,
    CAST(MAX(day) - MIN(day) AS DOUBLE) AS recency,
    CAST(DATE '{as_of}' - MIN(day) AS DOUBLE) AS T,
    CASE WHEN COUNT(*) > 1 THEN (SUM(day_spend) - arg_min(day_spend, day)) / (COUNT(*) - 1) ELSE 0.0 END
        AS monetary_value
FROM days
GROUP BY ALL
"""


# -- data ------------------------------------------------------------------------------------------
def ensure_data(workdir: Path, rows: int, seed: int) -> tuple[Path, dict]:
    """``workdir/transactions_<rows>.parquet`` (built once, reused); returns (path, facts)."""
    import pyarrow.parquet as pq

    path = workdir / f"transactions_{rows}.parquet"
    if path.exists():
        meta = pq.ParquetFile(path).metadata
        return path, {"built_s": None, "reused": True, "rows": meta.num_rows, "bytes": path.stat().st_size}
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    partial = path.with_suffix(".partial")
    written = write_simulated(partial, rows, seed)
    partial.rename(path)
    return path, {"built_s": round(time.perf_counter() - started, 2), "reused": False, "rows": written,
                  "bytes": path.stat().st_size}


def write_simulated(path: Path, rows: int, seed: int) -> int:
    """Simulate chunks of customers until ``rows`` transaction rows, write them as one Parquet file."""
    from dataclasses import replace

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ltv.datasets.simulate import default_processes, simulate

    grocery = replace(default_processes(["retail", "grocery"])[1], name=LINE)
    schema = pa.schema([("business_line", pa.string()), ("customer_id", pa.string()),
                        ("event_ts", pa.timestamp("us", tz="UTC")), ("amount", pa.float64())])
    written, chunk = 0, 0
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        while written < rows:
            sim = simulate(customers=CUSTOMERS_PER_CHUNK, business_lines=[LINE], seed=seed + chunk,
                           start=DATA_START, end=DATA_END, truth_as_of=TRUTH_AS_OF, processes=[grocery])
            tx = _first_rows_by_customer(sim.transactions, rows - written)
            tx = tx.assign(customer_id=f"k{chunk:03d}-" + tx["customer_id"])[list(schema.names)]
            writer.write_table(pa.Table.from_pandas(tx, schema=schema, preserve_index=False),
                               row_group_size=ROW_GROUP_ROWS)
            written += len(tx)
            chunk += 1
    return written


def _first_rows_by_customer(transactions, limit: int):
    """At most ``limit`` rows, keeping whole customer histories (in customer order); only the one
    customer at the cut loses its latest rows. Row order (by time) is kept."""
    if len(transactions) <= limit:
        return transactions
    counts = transactions.groupby("customer_id", sort=True).size()
    before = counts.cumsum() - counts  # rows of the customers before each one
    taken = transactions["customer_id"].map(before) + transactions.groupby("customer_id").cumcount()
    return transactions[taken.to_numpy() < limit]


def sample_customers(parquet: Path, n: int, seed: int) -> list[str]:
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids = pc.unique(pq.read_table(parquet, columns=["customer_id"])["customer_id"]).to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(ids, size=min(n, len(ids)), replace=False).tolist())


# -- measurement (worker side) -----------------------------------------------------------------------
class TreeMonitor:
    """Polls this process and its descendants every ``interval`` s: peak RSS of the descendants' sum."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self._me = psutil.Process()
        self.interval = interval
        self.peak_self = 0
        self.peak_children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def children_cpu_s(self) -> float:
        total = 0.0
        for child in self._me.children(recursive=True):
            try:
                t = child.cpu_times()
                total += t.user + t.system
            except Exception:  # noqa: BLE001 -- a child may exit between listing and reading
                pass
        return total

    def _poll(self) -> None:
        self.peak_self = max(self.peak_self, self._me.memory_info().rss)
        total = 0
        for child in self._me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except Exception:  # noqa: BLE001
                pass
        self.peak_children = max(self.peak_children, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()


@dataclasses.dataclass
class Timed:
    seconds: float = 0.0
    cpu_s: float = 0.0
    jvm_peak_rss_mb: float | None = None


class timed_section:
    """Wall time, CPU time (this process + descendants) and descendants' peak RSS of a block."""

    def __init__(self, with_children: bool):
        self.with_children = with_children
        self.result = Timed()

    def __enter__(self) -> Timed:
        self.monitor = TreeMonitor().__enter__()
        self.cpu0 = _self_cpu() + (self.monitor.children_cpu_s() if self.with_children else 0.0)
        self.t0 = time.perf_counter()
        return self.result

    def __exit__(self, *exc) -> None:
        self.result.seconds = time.perf_counter() - self.t0
        cpu1 = _self_cpu() + (self.monitor.children_cpu_s() if self.with_children else 0.0)
        self.result.cpu_s = cpu1 - self.cpu0
        self.monitor.__exit__()
        if self.with_children:
            self.result.jvm_peak_rss_mb = self.monitor.peak_children / 2**20


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _python_peak_rss_mb() -> float:
    """Peak RSS of this process (VmHWM). Not ``ru_maxrss``: Linux carries that over ``exec`` from
    the parent's forked copy, so a worker would report the orchestrator's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_spark(kind: str, parquet: Path, as_of: dt.date, out: Path, sample: list[str], partitions: int,
              spark_conf: dict[str, str] | None = None) -> dict:
    from pyspark.sql import functions as F

    from ltv.config import SparkSettings
    from ltv.features.pipeline import build_snapshot
    from ltv.features.rfm import rfm_summary
    from ltv.runtime.session import get_spark, stop_spark

    t0 = time.perf_counter()
    spark = get_spark(SparkSettings(master="local[*]", shuffle_partitions=partitions), app_name="bench-features",
                      extra_conf=spark_conf)
    spark_start_s = time.perf_counter() - t0

    def query():
        transactions = spark.read.parquet(str(parquet))
        if kind == "spark_rfm":
            return rfm_summary(transactions, as_of, "days")
        return build_snapshot(transactions, as_of)

    # First run (cold JVM): the same sink as DuckDB's COPY, a Parquet file set. Then the platform's
    # own sink, a Delta table (overwrite), and a warm run into the noop sink (compute only).
    target = out / f"{kind}_parquet"
    with timed_section(with_children=True) as timing:
        query().write.mode("overwrite").parquet(str(target))
    delta_target = out / f"{kind}_delta"
    with timed_section(with_children=True) as delta:
        query().write.format("delta").mode("overwrite").save(str(delta_target))
    with timed_section(with_children=True) as warm:
        query().write.format("noop").mode("overwrite").save()

    result = spark.read.parquet(str(target))
    rows = result.count()
    picked = result.where(F.col("customer_id").isin(sample)).select("customer_id", *SUMMARY_COLUMNS).toPandas()
    columns = len(result.columns)
    options = spark.sparkContext.getConf().get("spark.driver.extraJavaOptions", "")
    archive = next((o.split("=", 1)[1] for o in options.split() if o.startswith("-XX:SharedArchiveFile=")), None)
    extensions = spark.conf.get("spark.sql.extensions")
    stop_spark()
    return {"timing": timing, "rows": rows, "sample": picked, "sink": "parquet (cold JVM; as DuckDB's COPY)",
            "extra": {"spark_start_s": round(spark_start_s, 2), "warm_noop_s": round(warm.seconds, 2),
                      "then_delta_write_s": round(delta.seconds, 2),
                      "output_columns": columns, "shuffle_partitions": partitions,
                      "cds_archive": archive,  # ltv/runtime/cds.py: the driver JVM's class-data-sharing archive
                      "spark_extensions": extensions,
                      "spark_conf": spark_conf or {},
                      "driver_memory": SparkSettings().driver_memory}}


def run_lifetimes(parquet: Path, as_of: dt.date, sample: list[str]) -> dict:
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    t0 = time.perf_counter()
    frame = pd.read_parquet(parquet, columns=["customer_id", "event_ts", "amount"])
    frame = frame[frame["amount"] >= 0]  # refunds are not purchases (ltv's rule)
    frame["event_ts"] = frame["event_ts"].dt.tz_convert(None)  # naive UTC, as lifetimes compares naive times
    load_s = time.perf_counter() - t0
    with timed_section(with_children=False) as timing:
        summary = summary_data_from_transaction_data(
            frame, "customer_id", "event_ts", monetary_value_col="amount",
            observation_period_end=pd.Timestamp(as_of), freq="D",
        )
    picked = summary.loc[summary.index.isin(sample), list(SUMMARY_COLUMNS)].reset_index()
    return {"timing": timing, "rows": len(summary), "sample": picked, "sink": "in-memory pandas (function only)",
            "extra": {"load_s": round(load_s, 2), "purchase_rows": len(frame)}}


def run_duckdb(parquet: Path, as_of: dt.date, out: Path, sample: list[str]) -> dict:
    import duckdb
    import pandas as pd

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    target = out / "duckdb_rfm.parquet"
    sql = DUCKDB_SQL.format(parquet=parquet, as_of=as_of.isoformat(),
                            end_exclusive=(as_of + dt.timedelta(days=1)).isoformat())
    with timed_section(with_children=False) as timing:
        con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)").fetchall()
    rows = con.execute(f"SELECT COUNT(*) FROM read_parquet('{target}')").fetchall()[0][0]
    con.register("sample_ids", pd.DataFrame({"customer_id": sample}))
    picked = con.execute(
        f"SELECT customer_id, {', '.join(SUMMARY_COLUMNS)} FROM read_parquet('{target}') "
        "WHERE customer_id IN (SELECT customer_id FROM sample_ids)"
    ).df()
    return {"timing": timing, "rows": rows, "sample": picked, "sink": "COPY to parquet",
            "extra": {"threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
                      "duckdb": duckdb.__version__}}


def worker(args: argparse.Namespace) -> int:
    """One tool, one size, in this process; writes ``--result`` (JSON) and ``<result>.sample.parquet``."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parquet, out, as_of = Path(args.parquet), Path(args.out_dir), dt.date.fromisoformat(args.as_of)
    sample = json.loads(Path(args.sample_file).read_text())
    out.mkdir(parents=True, exist_ok=True)
    if args.worker in ("spark_rfm", "spark_snapshot"):
        run = run_spark(args.worker, parquet, as_of, out, sample, args.shuffle_partitions,
                        dict(_key_value(item) for item in args.spark_conf))
    elif args.worker == "lifetimes":
        run = run_lifetimes(parquet, as_of, sample)
    else:
        run = run_duckdb(parquet, as_of, out, sample)
    timing: Timed = run["timing"]
    result_path = Path(args.result)
    run["sample"].to_parquet(result_path.with_suffix(".sample.parquet"), index=False)
    python_mb = _python_peak_rss_mb()
    result = {
        "seconds": round(timing.seconds, 2),
        "cpu_s": round(timing.cpu_s, 2),
        "python_peak_rss_mb": round(python_mb, 1),
        "jvm_peak_rss_mb": None if timing.jvm_peak_rss_mb is None else round(timing.jvm_peak_rss_mb, 1),
        "peak_rss_mb": round(python_mb + (timing.jvm_peak_rss_mb or 0.0), 1),
        "rows": int(run["rows"]),
        "sink": run["sink"],
        **run["extra"],
    }
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _key_value(item: str) -> tuple[str, str]:
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


# -- orchestration -----------------------------------------------------------------------------------
def run_worker(tool: str, parquet: Path, args: argparse.Namespace, sample_file: Path, size: int) -> dict:
    """Run one tool in a fresh process with a timeout; the record (or a timeout / error record)."""
    result = Path(args.workdir) / "runs" / f"{tool}_{size}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    result.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", tool, "--parquet", str(parquet),
           "--as-of", args.as_of, "--out-dir", str(Path(args.workdir) / "out" / str(size)),
           "--sample-file", str(sample_file), "--result", str(result),
           "--shuffle-partitions", str(args.shuffle_partitions),
           *(option for item in args.spark_conf for option in ("--spark-conf", item))]
    timeout = args.lifetimes_timeout if tool == "lifetimes" else args.timeout
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    log = result.with_suffix(".log")
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
            status = "ok" if code == 0 and result.exists() else f"error (exit {code}, see {log})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker's own session: it and its JVM, nothing else
            proc.wait()
            status = f"timeout after {timeout} s"
    record = {"N": size, "tool": tool, "status": status, "load_avg_1m_before": round(load_before, 2),
              "load_avg_1m_after": round(os.getloadavg()[0], 2),
              "process_wall_s": round(time.perf_counter() - started, 1)}
    if status == "ok":
        record.update(json.loads(result.read_text()))
    return record


def compare(records: list[dict], workdir: Path, size: int) -> None:
    """Fill ``agree`` / ``max_abs_diff`` of each record against the reference tool's sample.

    The reference is ltv (``spark_rfm``), else lifetimes, else the first tool that ran.
    """
    import pandas as pd

    ran = [r["tool"] for r in records if r["status"] == "ok"]
    reference = next((t for t in ("spark_rfm", "lifetimes", *ran) if t in ran), None)

    def sample_of(tool: str):
        path = workdir / "runs" / f"{tool}_{size}.sample.parquet"
        return pd.read_parquet(path).set_index("customer_id").sort_index() if path.exists() else None

    ref_record = next((r for r in records if r["tool"] == reference and r["status"] == "ok"), None)
    ref = sample_of(reference) if ref_record else None
    for record in records:
        if record["status"] != "ok" or ref is None:
            record["agree"], record["max_abs_diff"] = None, None
            continue
        mine = sample_of(record["tool"])
        same_ids = list(mine.index) == list(ref.index)
        diffs = {c: float((mine[c].astype(float) - ref[c].astype(float)).abs().max()) if same_ids else None
                 for c in SUMMARY_COLUMNS}
        worst = max(diffs.values()) if same_ids else None
        record["sample_customers"] = len(mine)
        record["max_abs_diff"] = worst
        record["max_abs_diff_by_column"] = diffs
        record["compared_with"] = reference
        record["agree"] = bool(same_ids and record["rows"] == ref_record["rows"] and worst <= TOLERANCE)


def summarise(records: list[dict]) -> list[dict]:
    """Per size and tool over the rounds that succeeded: median, min and max of wall and CPU seconds."""
    out = []
    for size in sorted({r["N"] for r in records}):
        for tool in dict.fromkeys(r["tool"] for r in records if r["N"] == size):
            runs = [r for r in records if r["N"] == size and r["tool"] == tool]
            ok = [r for r in runs if r["status"] == "ok"]
            row = {"N": size, "tool": tool, "runs": len(runs), "ok": len(ok)}
            for key in ("seconds", "cpu_s", "peak_rss_mb", "spark_start_s", "load_s", "warm_noop_s"):
                values = [r[key] for r in ok if r.get(key) is not None]
                if values:
                    row[key] = {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
                                "max": round(max(values), 2)}
            row["all_agree"] = bool(ok) and all(r.get("agree") for r in ok)
            out.append(row)
    return out


def targets(records: list[dict]) -> list[dict]:
    """The issue's targets per size: Spark faster than lifetimes, and within 5x of DuckDB.

    With several rounds, each tool's median wall time is compared; ``..._by_round`` gives the
    ratio within each round (the tools of one round ran back to back).
    """
    out = []
    stats = {(s["N"], s["tool"]): s for s in summarise(records)}
    for size in sorted({r["N"] for r in records}):
        spark, life, duck = (stats.get((size, t)) for t in ("spark_rfm", "lifetimes", "duckdb"))
        row: dict = {"N": size}
        if spark and spark["ok"]:
            s = spark["seconds"]["median"]
            if life and life["ok"]:
                row["spark_vs_lifetimes_speedup"] = round(life["seconds"]["median"] / s, 2)
                row["spark_faster_than_lifetimes"] = s < life["seconds"]["median"]
                row["spark_with_start_faster_than_lifetimes_with_load"] = (
                    s + spark["spark_start_s"]["median"] < life["seconds"]["median"] + life["load_s"]["median"])
            elif life:
                statuses = [r["status"] for r in records if r["N"] == size and r["tool"] == "lifetimes"]
                row["spark_faster_than_lifetimes"] = all(st.startswith("timeout") for st in statuses) or None
                row["lifetimes_status"] = statuses
            if duck and duck["ok"]:
                row["spark_over_duckdb"] = round(s / duck["seconds"]["median"], 2)
                row["spark_within_5x_duckdb"] = s <= 5 * duck["seconds"]["median"]
                by_round = {}
                for r in records:
                    if r["N"] == size and r["status"] == "ok" and r["tool"] in ("spark_rfm", "duckdb"):
                        by_round.setdefault(r["round"], {})[r["tool"]] = r["seconds"]
                row["spark_over_duckdb_by_round"] = [
                    round(pair["spark_rfm"] / pair["duckdb"], 2) for _, pair in sorted(by_round.items())
                    if len(pair) == 2]
        out.append(row)
    return out


def print_table(records: list[dict], goals: list[dict], stats: list[dict]) -> None:
    header = (f"{'N':>11} {'round':>5} {'tool':<15}{'seconds':>9}{'cpu_s':>8}{'py MB':>8}{'jvm MB':>8}{'peak MB':>9}"
              f"{'rows':>10}{'agree':>7}{'max|diff|':>11}{'load1m':>8}  notes")
    print(header)
    print("-" * len(header))
    for r in records:
        if r["status"] != "ok":
            print(f"{r['N']:>11,} {r['round']:>5} {r['tool']:<15}{r['status']}")
            continue
        notes = []
        if "spark_start_s" in r:
            notes.append(f"start {r['spark_start_s']} s, then Delta {r.get('then_delta_write_s')} s, "
                         f"warm noop {r['warm_noop_s']} s")
        if "load_s" in r:
            notes.append(f"parquet->pandas {r['load_s']} s")
        diff = "-" if r.get("max_abs_diff") is None else f"{r['max_abs_diff']:.1e}"
        jvm = "-" if r["jvm_peak_rss_mb"] is None else f"{r['jvm_peak_rss_mb']:.0f}"
        print(f"{r['N']:>11,} {r['round']:>5} {r['tool']:<15}{r['seconds']:>9.2f}{r['cpu_s']:>8.1f}{r['python_peak_rss_mb']:>8.0f}"
              f"{jvm:>8}{r['peak_rss_mb']:>9.0f}{r['rows']:>10,}{str(r.get('agree')):>7}{diff:>11}"
              f"{r['load_avg_1m_before']:>8.1f}  {'; '.join(notes)}")
    if any(st["runs"] > 1 for st in stats):
        print()
        for st in stats:
            if st["ok"]:
                sec, cpu = st["seconds"], st["cpu_s"]
                print(f"{st['N']:>11,} {st['tool']:<15} median {sec['median']:.2f} s (min {sec['min']:.2f}, "
                      f"max {sec['max']:.2f}) over {st['ok']}/{st['runs']} runs; cpu median {cpu['median']:.1f} s")
    for goal in goals:
        print(f"N={goal['N']:,}: " + ", ".join(f"{k}={v}" for k, v in goal.items() if k != "N"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=10_000_000, help="one size (ignored with --sizes)")
    parser.add_argument("--sizes", default=None, help="comma-separated sizes, e.g. 1000000,10000000")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    parser.add_argument("--workdir", default="/tmp/ltv-bench")
    parser.add_argument("--as-of", default=DATA_END.isoformat(), help="observation end (its whole day included)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--shuffle-partitions", type=int, default=16)
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark setting for the Spark tools (repeatable), e.g. "
                             "spark.sql.adaptive.enabled=false")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per Spark / DuckDB run")
    parser.add_argument("--lifetimes-timeout", type=int, default=1200, help="seconds per lifetimes run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds per size; every round runs each tool once in a fresh process, the "
                             "order rotated between rounds; targets compare median times")
    parser.add_argument("--out", default=str(HERE / "results" / "features.json"))
    # worker mode (internal): one tool in this process
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    for name in ("--parquet", "--out-dir", "--sample-file", "--result"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for item in args.spark_conf:
        if "=" not in item or not item.split("=", 1)[0].startswith("spark."):
            parser.error(f"--spark-conf takes spark.KEY=VALUE, got {item!r}")
    if args.worker:
        return worker(args)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.transactions]
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tool(s) {unknown}; choose from {', '.join(TOOLS)}")
    workdir = Path(args.workdir)
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load_start = os.getloadavg()
    records, datasets = [], {}
    for size in sizes:
        parquet, facts = ensure_data(workdir, size, args.seed)
        datasets[str(size)] = {"path": str(parquet), **facts}
        origin = "reused" if facts["reused"] else f"built in {facts['built_s']} s"
        print(f"N={size:,}: {parquet} ({facts['bytes'] / 2**20:.0f} MiB, {origin})", flush=True)
        sample_file = workdir / "runs" / f"sample_{size}.json"
        sample_file.parent.mkdir(parents=True, exist_ok=True)
        sample_file.write_text(json.dumps(sample_customers(parquet, SAMPLE_CUSTOMERS, args.seed)))
        for round_no in range(1, args.repeat + 1):
            shift = (round_no - 1) % len(tools)
            round_records = []
            for tool in tools[shift:] + tools[:shift]:
                record = run_worker(tool, parquet, args, sample_file, size)
                record["round"] = round_no
                print(f"  round {round_no}/{args.repeat} {tool:<15} {record['status']:<8} "
                      f"{record.get('seconds', '-')} s (load avg {record['load_avg_1m_before']})", flush=True)
                round_records.append(record)
            compare(round_records, workdir, size)  # each run's sample file is overwritten by the next round
            records.extend(round_records)

    goals = targets(records)
    stats = summarise(records)
    import psutil

    results = {
        "benchmark": "RFM summary (frequency, recency, T, monetary_value in days) at scale",
        "when": when,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
                    "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "load_avg_start": [round(x, 2) for x in load_start],
                    "load_avg_end": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version()},
        "as_of": args.as_of,
        "datasets": datasets,
        "duckdb_sql": DUCKDB_SQL.strip(),
        "spark_conf": dict(_key_value(item) for item in args.spark_conf),
        "tolerance": TOLERANCE,
        "repeat": args.repeat,
        "results": records,
        "summary": stats,
        "targets": goals,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print_table(records, goals, stats)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
