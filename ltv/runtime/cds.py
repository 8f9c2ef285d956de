"""A class-data-sharing archive for the driver JVM of local Spark sessions (JDK AppCDS).

A pure start-up cache. A fresh JVM spends seconds finding, parsing and verifying the ~15,000
classes of Spark, Scala, Hadoop, Parquet and Delta it loads for a first query (each class is
looked up jar by jar through the ~250 jars on Spark's classpath); every ``ltv`` command is such a
fresh JVM. A dynamic CDS archive (``-XX:ArchiveClassesAtExit``, JDK 13+) records those classes
already parsed and verified; a JVM started with ``-XX:SharedArchiveFile`` maps them instead of
reading them from the jars. The classes are the same bytes from the same jars: results never
depend on the archive, only the start-up time does. Measured on this project's 2-core machine
(JDK 17, medians of 3 fresh processes, alternating with ``LTV_CDS=0``): session start 6.4 s ->
3.9 s; start + a small Delta write and read 20.5 s -> 16.7 s, 31 -> 25 JVM CPU seconds. It
costs 197 MB under ``~/.cache/ltv/cds`` and ~50 s (70 CPU s) to build, once per JDK and jars.

* ``python -m ltv.runtime.cds`` (run by ``make setup``) builds the archive once: a child process
  (:mod:`ltv.runtime.cds_build`) runs a small workload (Delta write / MERGE / read, shuffle,
  window, Parquet, CSV, Arrow, a Python worker) in a throw-away local session, and its JVM
  writes the archive when it exits.
* :func:`session_conf` adds it to the sessions that :func:`ltv.runtime.session.get_spark` starts
  itself with a ``local`` master. Delta's jars (:func:`ltv.runtime.jars.spark_jars`) then also go
  on the driver's classpath (``spark.driver.extraClassPath``), because the JDK only archives
  classes of its built-in class loaders, not of the loader Spark uses for ``spark.jars``.
* The archive's file name is a hash of what must match for the JVM to use it: the ``java``
  binary, Spark's jars and Delta's jars. Anything else changed (a different classpath) makes
  the JVM ignore the archive and load classes as usual (``-Xshare:auto``), silently: only the
  speed-up is lost.
* ``LTV_CDS=0`` turns it off; ``LTV_CDS_DIR`` moves it (default ``~/.cache/ltv/cds``). A build
  keeps only the :data:`KEEP` most recently used archives (each use bumps its mtime).

``./spark-submit.sh`` passes the same driver settings on ``local`` masters (``python -m
ltv.runtime.cds --driver-options``); never used for executors on a cluster.

This module never starts a session: the workload that needs one runs in the child process.
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
import time
from collections.abc import Sequence
from pathlib import Path

from ltv.runtime.jars import fetch_jars, spark_jars

log = logging.getLogger(__name__)

SWITCH = "LTV_CDS"
DIR_VARIABLE = "LTV_CDS_DIR"
DUMP_VARIABLE = "LTV_CDS_DUMP"  # set only in the process that builds the archive
BUILD_MODULE = "ltv.runtime.cds_build"  # run as a child process by build()
KEEP = 3
# An archive that does not match is ignored: keep that quiet, it only costs speed. These options
# choose where classes are read from and what is logged; none of them changes what a class does.
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
    """Where the archive for this JDK + Spark + Delta jars classpath lives (None without ``java``)."""
    java = _java_binary()
    if java is None:
        return None
    identity = {
        "java": _fingerprint(java),
        "libjvm": [_fingerprint(p) for p in sorted(java.parent.parent.glob("lib/server/libjvm.so"))],
        "spark": [_fingerprint(p) for p in sorted((_spark_home() / "jars").glob("*.jar"))],
        "jars": [_fingerprint(Path(p)) for p in jars],
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"ltv-driver-{digest}.jsa"


def session_conf(jars: Sequence[str], java_options: str) -> dict[str, str]:
    """``spark.driver.*`` settings that start the driver JVM on the archive, or {} without one.

    Args:
        jars: the jars ltv puts in ``spark.jars`` (Delta's); they also go on the driver classpath.
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


def present() -> bool:
    """True when the archive for the fetched Delta jars exists (no Maven, no JVM)."""
    jars = spark_jars()
    path = archive_path(jars) if jars else None
    return path is not None and path.is_file()


def _mark_used(archive: Path) -> None:
    """Bump the archive's modification time, so :func:`prune` keeps the archives in use."""
    try:
        os.utime(archive)
    except OSError:  # a read-only cache: pruning may then pick by build time, nothing else changes
        pass


def prune(folder: Path, keep: int = KEEP) -> None:
    """Delete all but the ``keep`` most recently used or built archives (other JDKs / checkouts)."""
    archives = sorted(folder.glob("ltv-driver-*.jsa"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in archives[keep:]:
        old.unlink(missing_ok=True)
        log.info("removed an older class-data-sharing archive: %s", old)


# -- building ---------------------------------------------------------------------------------
def build(force: bool = False, timeout_s: float = 600.0) -> Path | None:
    """Build the archive for the current JDK + jars unless it exists; return its path.

    Runs :mod:`ltv.runtime.cds_build` in a child Python process whose driver JVM writes the
    archive when it exits; the file is moved into place only once complete. Returns None (and
    logs why) when disabled or when the build failed: ltv works the same without an archive.
    """
    if not enabled():
        log.info("class-data sharing is off (%s=0): nothing to build", SWITCH)
        return None
    target = archive_path(fetch_jars())
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
        proc = subprocess.run([sys.executable, "-m", BUILD_MODULE], env=env, capture_output=True,
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
    prune(target.parent)
    log.info("class-data-sharing archive: %s (%.0f MB, built in %.0f s)", target,
             target.stat().st_size / 2**20, time.perf_counter() - started)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m ltv.runtime.cds``: build the archive, or print the driver options that use it."""
    parser = argparse.ArgumentParser(
        prog="python -m ltv.runtime.cds",
        description="Build the class-data-sharing archive that makes ltv's local Spark driver JVM start "
                    f"faster (once per JDK + jars; {SWITCH}=0 turns it off). A start-up cache only.",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when the archive exists")
    parser.add_argument("--quiet", action="store_true", help="print nothing when the archive is already there")
    parser.add_argument("--driver-options", action="store_true",
                        help="print the driver class path and Java options that use the archive (two lines, "
                             "empty without an archive); ./spark-submit.sh passes them on local masters")
    args = parser.parse_args(argv)
    if args.driver_options:
        conf = session_conf(spark_jars(), "")
        print(conf.get("spark.driver.extraClassPath", ""))
        print(conf.get("spark.driver.extraJavaOptions", ""))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quiet and not args.force and (not enabled() or present()):
        return 0
    path = build(force=args.force)
    print(path if path is not None else "no class-data-sharing archive: ltv runs without it (see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
