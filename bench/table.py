"""Write ``bench/RESULTS.md``, the benchmark tables, from the JSON files in ``bench/results/``.

    .venv/bin/python bench/table.py            # (re)write bench/RESULTS.md
    .venv/bin/python bench/table.py --check    # exit 1 when bench/RESULTS.md is not what the JSON gives

The JSON files are the record; the page is only a view of them. A benchmark run writes its
file (``--out bench/results/NAME.json``), then this script rebuilds the page. Nothing here
needs ltv, Spark or a network.

Runs with ltv's former Spark extension: a physical-plan rule that merged partial and final
hash aggregations. It was removed, so its runs measured code that no longer exists. They stay
in the record and are labelled as such. A run counts as one when its Spark results record the
extension (``spark_extensions`` naming ``LtvSparkExtensions``, or a
``collapse_partial_aggregates`` field), when its settings name the rule, or, for the first two
runs, which predate those fields, when the file name has the ``_ext`` suffix they were given.
Likewise a run used the driver's class-data-sharing archive when its results name it
(``cds_archive``) or, for the first such run, its file name has the ``_cds`` suffix.
"""
from __future__ import annotations

import argparse
import difflib
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE / "RESULTS.md"
REGENERATE = ".venv/bin/python bench/table.py"
EXTENSION_RULE = "spark.ltv.collapsePartialAggregates.enabled"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _when(doc: dict[str, Any]) -> str:
    stamp = doc.get("when") or doc.get("started_at") or ""
    return stamp[:16].replace("T", " ")


def _load_avg(doc: dict[str, Any]) -> str:
    machine = doc.get("machine", {})
    if "load_avg_start" in machine:
        return f"{machine['load_avg_start'][0]:.1f}"
    if "load_avg_1m" in machine:
        return f"{machine['load_avg_1m']:.1f}"
    return "–"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


# -- RFM summary (bench_features.py) ----------------------------------------------------------
def setup_label(name: str, doc: dict[str, Any]) -> str:
    """How Spark ran in one results file: stock, with the CDS archive, or with the removed extension."""
    spark = [r for r in doc.get("results", []) if str(r.get("tool", "")).startswith("spark")]
    conf = {**doc.get("spark_conf", {}), **{k: v for r in spark for k, v in (r.get("spark_conf") or {}).items()}}
    recorded = any("LtvSparkExtensions" in str(r.get("spark_extensions", "")) or "collapse_partial_aggregates" in r
                   for r in spark)
    extension = recorded or EXTENSION_RULE in conf or EXTENSION_RULE in doc.get("command", "") or "_ext" in name
    archive = any(r.get("cds_archive") for r in spark) or "_cds" in name  # the first archive run predates the field
    if extension:
        rule_off = str(conf.get(EXTENSION_RULE, "true")).lower() == "false" or any(
            r.get("collapse_partial_aggregates") is False for r in spark)
        return "removed Spark extension, rule " + ("off" if rule_off else "on") + (" + CDS archive" if archive else "")
    return "stock Spark" + (" + CDS archive" if archive else "")


def _tool_stats(doc: dict[str, Any], size: int, tool: str) -> dict[str, float] | None:
    runs = [r for r in doc.get("results", []) if r.get("N") == size and r.get("tool") == tool and r.get("status") == "ok"]
    if not runs:
        return None
    seconds = [r["seconds"] for r in runs]
    return {
        "median": statistics.median(seconds), "min": min(seconds), "max": max(seconds), "runs": len(runs),
        "cpu": statistics.median(r["cpu_s"] for r in runs if r.get("cpu_s") is not None),
        "peak": statistics.median(r["peak_rss_mb"] for r in runs if r.get("peak_rss_mb") is not None),
    }


def features_rows() -> tuple[list[list[str]], list[str]]:
    rows, files = [], []
    docs = sorted(((p.name, json.loads(p.read_text(encoding="utf-8"))) for p in RESULTS.glob("features*.json")),
                  key=lambda item: item[1].get("when", ""))
    for name, doc in docs:
        files.append(name)
        label = setup_label(name, doc)
        sizes = sorted({r["N"] for r in doc.get("results", [])})
        targets = {t["N"]: t for t in doc.get("targets", [])}
        for size in sizes:
            spark, duck, life = (_tool_stats(doc, size, t) for t in ("spark_rfm", "duckdb", "lifetimes"))
            ratio = spark["median"] / duck["median"] if spark and duck else None
            by_round = targets.get(size, {}).get("spark_over_duckdb_by_round")
            ratio_text = "–" if ratio is None else f"{ratio:.2f}x" + (
                f" ({', '.join(f'{x:.2f}' for x in by_round)})" if by_round and len(by_round) > 1 else "")
            spark_text = "–" if spark is None else (
                f"{spark['median']:.2f}" + (f" ({spark['min']:.2f}-{spark['max']:.2f})" if spark["runs"] > 1 else ""))
            rows.append([
                _when(doc), f"`{name}`", label, f"{size / 1e6:g}M", str(spark["runs"] if spark else "–"),
                spark_text, _num(spark["cpu"] if spark else None, 1), _num(duck["median"] if duck else None),
                _num(life["median"] if life else None), ratio_text,
                "–" if not spark or not life else f"{life['median'] / spark['median']:.2f}x",
                _load_avg(doc),
            ])
    return rows, files


def features_section() -> str:
    rows, _ = features_rows()
    return (
        "## RFM summary: `bench_features.py`\n\n"
        "Per customer `frequency`, `recency`, `T`, `monetary_value` from N simulated transactions: ltv's "
        "`rfm_summary` on Spark (a fresh JVM per run, written to Parquet; session start not included) "
        "next to lifetimes' `summary_data_from_transaction_data` and one DuckDB query. Times are medians "
        "over the rounds of a file (min-max for Spark), in seconds; \"Spark / DuckDB\" is the ratio "
        "of medians, with the per-round ratios in brackets; \"lifetimes / Spark\" above 1 means Spark "
        "was faster. Targets: Spark faster than lifetimes, and within 5x of DuckDB.\n\n"
        + _table(["run (UTC)", "results file", "setup", "N", "rounds", "Spark s", "Spark CPU s", "DuckDB s",
                  "lifetimes s", "Spark / DuckDB", "lifetimes / Spark", "load"], rows)
        + "\n\"removed Spark extension\": the run measured ltv's former Spark extension (see the top of this "
          "page). Those numbers are history and do not describe the current code. Current code runs "
          "\"stock Spark\" (+ the CDS archive when `make setup` built it).\n"
    )


# -- scoring, lookup, oracle -----------------------------------------------------------------
def scoring_section() -> str:
    doc = _load("scoring.json")
    if doc is None:
        return ""
    rows = [[f"`{r['model']}`", r["tool"], _num(r.get("seconds")), _num(r.get("customers_per_s"), 0),
             _num(r.get("cpu_s"), 1), _num(r.get("warm_s")), _num(r.get("load_avg_1m_before"), 1)]
            for r in doc["records"] if r.get("status") == "ok"]
    data = doc.get("data", {})
    return (
        "\n## Scoring: `bench_scoring.py`\n\n"
        f"`{doc.get('command', '')}`, {_when(doc)} UTC, {data.get('customers_scored', 0):,} customers "
        f"({data.get('snapshot_columns', '?')} snapshot columns), models fitted on "
        f"{data.get('fit_customers', 0):,}. `spark` = ltv's `mapInPandas` scoring (noop sink; `warm` = "
        "the same query again in the same JVM), `ltv_pandas` = the same model's `predict` in one process, "
        "`lifetimes` = its point prediction only (ltv also computes `p_alive`, `prob_purchase` and the exact "
        "p10/p50/p90 of each customer's predictive distribution; runs before 0.4 drew 200 Monte Carlo "
        "samples instead).\n\n"
        + _table(["model", "tool", "seconds", "customers/s", "CPU s", "warm s", "load"], rows)
    )


def lookup_section() -> str:
    doc = _load("lookup.json")
    if doc is None:
        return ""
    rows = [[label, str(doc[key]["n"]), _num(doc[key]["p50_ms"]), _num(doc[key]["p90_ms"]),
             _num(doc[key]["p99_ms"]), _num(doc[key]["max_ms"])]
            for key, label in (("single", "one customer"), ("batch_100", "100 customers"))]
    target = doc.get("target", {})
    return (
        "\n## Online lookup: `bench_lookup.py`\n\n"
        f"{_when(doc)} UTC, Feast {doc.get('machine', {}).get('feast', '?')}, SQLite online store, "
        f"{doc.get('customers_online', 0):,} customers online, load {_load_avg(doc)}. Milliseconds.\n\n"
        + _table(["lookup", "calls", "p50", "p90", "p99", "max"], rows)
        + f"\nTarget: one-customer p99 under {target.get('single_p99_ms', '?')} ms: "
          f"{'met' if target.get('met') else 'not met'}.\n"
    )


def oracle_section() -> str:
    docs = sorted(((p.name, json.loads(p.read_text(encoding="utf-8"))) for p in RESULTS.glob("oracle*.json")),
                  key=lambda item: item[1].get("when", ""))
    if not docs:
        return ""
    rows = []
    for name, doc in docs:
        setup = doc.get("setup", {})
        for line, result in doc["lines"].items():
            rows.append([_when(doc), f"`{name}`", str(setup.get("seed", "–")), line, f"`{result['champion']}`",
                         f"{result['champion_ratio']:.3f}", f"`{result.get('rmse_best', '–')}`",
                         "yes" if result.get("pass") else "no"])
    criterion = docs[0][1].get("criterion", "")
    return (
        "\n## Champion against the oracle: `oracle_check.py`\n\n"
        f"Simulated lines with a known process, {docs[0][1].get('setup', {}).get('customers_per_line', '?'):,} "
        f"customers per line. The oracle is the true expected spend. Criterion: {criterion}.\n\n"
        + _table(["run (UTC)", "results file", "seed", "line", "champion", "champion RMSE / oracle RMSE",
                  "lowest-RMSE candidate", "pass"], rows)
    )


def cdnow_section() -> str:
    """Each ``cdnow*.json`` run: its per-date tables as the script printed them (``table_markdown``,
    and ``quantile_markdown`` where the run recorded quantile figures)."""
    docs = sorted(((p.name, json.loads(p.read_text(encoding="utf-8"))) for p in RESULTS.glob("cdnow*.json")),
                  key=lambda item: item[1].get("when", ""))
    if not docs:
        return ""
    parts = ["\n## Real data: `cdnow_check.py`\n"]
    for name, doc in docs:
        load = doc.get("machine", {}).get("load_avg_1m_start")
        parts.append(f"\n`{name}`, {_when(doc)}, load {_num(load) if load is not None else '?'}: "
                     f"`{doc.get('command', '')}`. Criterion: {doc.get('criterion', '')}.\n")
        for entry in doc.get("dates", {}).values():
            parts.append("\n" + entry["table_markdown"].strip() + "\n")
            if entry.get("quantile_markdown"):
                parts.append("\n" + entry["quantile_markdown"].strip() + "\n")
    return "".join(parts)


def render() -> str:
    return (
        "# Benchmark results\n\n"
        f"<!-- Generated by bench/table.py from bench/results/*.json. Do not edit by hand: run "
        f"`{REGENERATE}`. -->\n\n"
        "Generated from the JSON files in [`results/`](results/), which are the record: every file "
        "holds the command, the time, the machine and its load, and every single run. How to run each "
        "benchmark and what it measures: [README.md](README.md). All runs below were on a 2-core "
        "machine shared with other work, so wall times are noisy and CPU seconds are the steadier "
        "figure. `load` is the 1-minute load average when the run started.\n\n"
        + features_section() + scoring_section() + lookup_section() + oracle_section() + cdnow_section()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when bench/RESULTS.md is stale")
    args = parser.parse_args(argv)
    text = render()
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if args.check:
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       "bench/RESULTS.md (committed)", "bench/RESULTS.md (from JSON)"))
            print(f"\nbench/RESULTS.md is stale; run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        PAGE.write_text(text, encoding="utf-8")
        print("wrote bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
