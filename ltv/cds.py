"""A class-data-sharing archive for the driver JVM of local Spark sessions (JDK AppCDS).

A fresh JVM spends seconds finding, parsing and verifying the ~15,000 classes of Spark, Scala,
Hadoop, Parquet and Delta it loads for a first query (each class is looked up jar by jar
through the ~250 jars on Spark's classpath). Every ``ltv`` command is such a fresh JVM. A
dynamic CDS archive (``-XX:ArchiveClassesAtExit``, JDK 13+) records those classes already
parsed and verified; a JVM started with ``-XX:SharedArchiveFile`` maps it instead. Measured on
this project's 2-core machine (2026-11-23, README "JVM start-up"): session start ~8 s -> ~5 s;
``ltv features`` on the tour's lake 43.4 / 44.1 s -> 35.4 / 32.4 s, ``ltv train`` 83.8 s ->
76.2 s.

* ``python -m ltv.cds`` (run by ``make setup``) builds the archive once: a throw-away local
  session runs a small workload (Delta write / MERGE / read, shuffle, window, Parquet, CSV,
  Arrow, a Python worker) and the JVM writes the archive when it exits (197 MB, 84 s here).
* :func:`session_conf` adds it to sessions that :func:`ltv.spark.get_spark` starts itself with
  a ``local`` master. ltv's jars (Delta's and ltv's extension,
  :func:`ltv.jars.driver_jars`) then also go on the driver's classpath
  (``spark.driver.extraClassPath``), because the JDK only archives classes of its built-in
  class loaders, not of the loader Spark uses for ``spark.jars``.
* The archive's file name is a hash of what must match for the JVM to use it: the ``java``
  binary, Spark's jars and ltv's jars. Anything else changed (a different classpath) makes
  the JVM ignore the archive and load classes as usual (``-Xshare:auto``), silently: only the
  speed-up is lost.
* ``LTV_CDS=0`` turns it off; ``LTV_CDS_DIR`` moves it (default ``~/.cache/ltv/cds``). A build
  keeps only the :data:`KEEP` most recently used archives (each use bumps its mtime).

``./spark-submit.sh`` passes the same driver settings on ``local`` masters (``python -m ltv.cds
--driver-options``); not used for executors on a cluster. Speed only: results are the same
with or without it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

SWITCH = "LTV_CDS"
DIR_VARIABLE = "LTV_CDS_DIR"
DUMP_VARIABLE = "LTV_CDS_DUMP"  # set only in the process that builds the archive
KEEP = 3
# an archive that does not match is ignored: keep that quiet, it only costs speed
QUIET = "-Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"


def enabled() -> bool:
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    override = os.environ.get(DIR_VARIABLE)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "ltv" / "cds"


def _java_binary() -> Path | None:
    """The ``java`` pyspark's launcher runs: ``$JAVA_HOME/bin/java``, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = Path(home) / "bin" / "java" if home else (Path(p) if (p := shutil.which("java")) else None)
    return found.resolve() if found is not None and found.exists() else None


def _spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home()).resolve()


def _fingerprint(path: Path) -> list:
    stat = path.stat()
    return [str(path), stat.st_size, int(stat.st_mtime)]


def archive_path(jars: Sequence[str]) -> Path | None:
    """Where the archive for this JDK + Spark + ltv jars classpath lives (None without ``java``)."""
    java = _java_binary()
    if java is None:
        return None
    spark_jars = sorted((_spark_home() / "jars").glob("*.jar"))
    identity = {
        "java": _fingerprint(java),
        "libjvm": [_fingerprint(p) for p in sorted(java.parent.parent.glob("lib/server/libjvm.so"))],
        "spark": [_fingerprint(p) for p in spark_jars],
        "jars": [_fingerprint(Path(p)) for p in jars],
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"ltv-driver-{digest}.jsa"


def session_conf(jars: Sequence[str], java_options: str) -> dict[str, str]:
    """``spark.driver.*`` settings that start the driver JVM on the archive, or {} without one.

    Args:
        jars: the jars ltv puts in ``spark.jars``: Delta's and ltv's extension (they also go on
            the driver classpath).
        java_options: the driver's ``extraJavaOptions`` so far; the result extends them.

    In the build process (:data:`DUMP_VARIABLE` set) the JVM records the archive instead.
    """
    if not enabled() or not jars:
        return {}
    dump = os.environ.get(DUMP_VARIABLE)
    if dump:
        option = f"-XX:ArchiveClassesAtExit={dump} -Xlog:cds=error -Xlog:cds+dynamic=error"
    else:
        archive = archive_path(jars)
        if archive is None or not archive.is_file():
            return {}
        _mark_used(archive)
        option = f"-XX:SharedArchiveFile={archive} {QUIET}"
    return {
        "spark.driver.extraClassPath": os.pathsep.join(jars),
        "spark.driver.extraJavaOptions": f"{java_options} {option}".strip(),
    }


# -- building ---------------------------------------------------------------------------------
def build(force: bool = False, timeout_s: float = 600.0) -> Path | None:
    """Build the archive for the current JDK + jars unless it exists; return its path.

    Runs :func:`_record` in a child Python process whose driver JVM writes the archive when it
    exits; the file is moved into place only once complete. Returns None (and logs why) when
    disabled or when the build failed: ltv works the same without an archive.
    """
    from ltv.jars import driver_jars

    if not enabled():
        log.info("class-data sharing is off (%s=0): nothing to build", SWITCH)
        return None
    target = archive_path(driver_jars())
    if target is None:
        log.warning("no `java` found (JAVA_HOME or PATH): no class-data-sharing archive")
        return None
    if target.is_file() and not force:
        log.info("class-data-sharing archive present: %s", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.stem}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    env = {**os.environ, DUMP_VARIABLE: str(partial)}
    log.info("building the class-data-sharing archive for ltv's driver JVM (once per JDK and jars, 1-2 min) ...")
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "ltv.cds", "--record"], env=env, capture_output=True,
                              text=True, timeout=timeout_s)
        failed = proc.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0
        detail = f"exit {proc.returncode}\n{(proc.stdout + proc.stderr)[-3000:]}"
    except subprocess.TimeoutExpired:
        failed, detail = True, f"no archive after {timeout_s:.0f} s"
    if failed:
        partial.unlink(missing_ok=True)
        log.warning("could not build the class-data-sharing archive (%s); ltv runs without it", detail)
        return None
    partial.replace(target)
    _prune(target.parent, keep=KEEP)
    log.info("class-data-sharing archive: %s (%.0f MB, built in %.0f s)", target,
             target.stat().st_size / 2**20, time.perf_counter() - started)
    return target


def _mark_used(archive: Path) -> None:
    """Bump the archive's modification time, so :func:`_prune` keeps the archives in use."""
    try:
        os.utime(archive)
    except OSError:  # a read-only cache: pruning may then pick by build time, nothing else changes
        pass


def _prune(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently used or built archives (other JDKs / checkouts)."""
    archives = sorted(folder.glob("ltv-driver-*.jsa"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in archives[keep:]:
        old.unlink(missing_ok=True)
        log.info("removed an older class-data-sharing archive: %s", old)


def _record() -> None:
    """Child process of :func:`build`: run the workload, then wait for the JVM to write the archive."""
    from pyspark import SparkContext

    from ltv.config import SparkSettings
    from ltv.spark import get_spark

    spark = get_spark(SparkSettings(master="local[2]", shuffle_partitions=2), app_name="ltv-cds")
    with tempfile.TemporaryDirectory(prefix="ltv-cds-") as tmp:
        _workload(spark, Path(tmp))
        gateway = SparkContext._gateway
        spark.stop()
        # The JVM (pyspark's gateway server) exits when its stdin closes and writes the archive
        # on the way out: wait for it here, so the caller finds a complete file.
        gateway.proc.stdin.close()
        gateway.proc.wait(timeout=300)


def _workload(spark, folder: Path) -> None:
    """Small versions of what ltv's commands do, so their classes end up in the archive."""
    import datetime as dt

    from delta.tables import DeltaTable
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = [(f"c{i % 50:03d}", "shop" if i % 3 else "web", dt.datetime(2024, 1, 1) + dt.timedelta(hours=7 * i),
             float(i % 17) - 2.0) for i in range(600)]
    frame = spark.createDataFrame(rows, "customer_id string, business_line string, event_ts timestamp, amount double")
    csv = folder / "in.csv"
    frame.toPandas().to_csv(csv, index=False)
    frame = spark.read.option("header", True).schema(frame.schema).csv(str(csv))
    table = str(folder / "delta")
    frame.write.format("delta").partitionBy("business_line").save(table)
    (frame.where("amount > 5 AND business_line = 'shop'").withColumn("amount", F.col("amount") * 2).write.format("delta")
     .mode("overwrite").option("replaceWhere", "business_line = 'shop'").save(table))
    target = DeltaTable.forPath(spark, table)
    (target.alias("t").merge(frame.limit(100).alias("s"), "t.customer_id = s.customer_id AND t.event_ts = s.event_ts")
     .whenNotMatchedInsertAll().execute())
    target.history().collect()
    data = spark.read.format("delta").load(table)
    window = Window.partitionBy("business_line", "customer_id").orderBy("event_ts")
    summary = (data.withColumn("gap", F.datediff("event_ts", F.lag("event_ts").over(window)))
               .groupBy("business_line", "customer_id")
               .agg(F.count(F.lit(1)).alias("n"), F.sum("amount").alias("spend"), F.avg("gap").alias("gap"),
                    F.min_by("amount", "event_ts").alias("first"), F.countDistinct(F.to_date("event_ts")).alias("days")))
    joined = summary.join(data.groupBy("customer_id").agg(F.max("event_ts").alias("last")), "customer_id", "left")
    joined.write.mode("overwrite").parquet(str(folder / "parquet"))
    spark.read.parquet(str(folder / "parquet")).toPandas()

    def doubled(batches):
        for batch in batches:
            yield batch.assign(spend=batch["spend"] * 2)

    summary.mapInPandas(doubled, summary.schema).collect()
    spark.sql(f"SELECT business_line, COUNT(*) FROM delta.`{table}` GROUP BY business_line").collect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ltv.cds",
        description="Build the class-data-sharing archive that makes ltv's local Spark driver JVM start "
                    f"faster (once per JDK + jars; {SWITCH}=0 turns it off).",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the archive exists")
    parser.add_argument("--quiet", action="store_true", help="print nothing when the archive is already there")
    parser.add_argument("--driver-options", action="store_true",
                        help="print the driver class path and Java options that use the archive (two lines, "
                             "empty without an archive); ./spark-submit.sh passes them on local masters")
    parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.record:
        _record()
        return 0
    if args.driver_options:
        from ltv.jars import driver_jars

        conf = session_conf(driver_jars(fetch=False), "")
        print(conf.get("spark.driver.extraClassPath", ""))
        print(conf.get("spark.driver.extraJavaOptions", ""))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quiet and not args.force and (not enabled() or _present()):
        return 0
    path = build(force=args.force)
    print(path if path is not None else "no class-data-sharing archive: ltv runs without it (see above)")
    return 0


def _present() -> bool:
    from ltv.jars import driver_jars

    jars = driver_jars()  # compiles ltv's extension first when its sources changed
    path = archive_path(jars) if jars else None
    return path is not None and path.is_file()


if __name__ == "__main__":
    sys.exit(main())
