"""ltv's Spark session extension: one physical-plan rule, compiled once from Java shipped with ltv.

Spark plans each hash aggregation as a Partial operator (pre-aggregate every input partition)
and a Final one (merge the partial results after a shuffle on the grouping keys). ltv groups
rows that are already clustered by customer (``rfm_summary`` and the behaviour features
repartition by customer once, then aggregate per customer-day and per customer), so Spark
inserts no shuffle between the two halves and runs both in the same task on the same rows:
the Final half builds a second hash map as large as the first only to merge buffers that are
already complete. ``CollapsePartialAggregates`` (``ltv/data/jvm``) replaces such a pair by one
aggregation in Complete mode, and only when the plan proves it is safe (see the Java source).
On the 10M-row RFM benchmark (``bench/bench_features.py``) it is the difference recorded in
``bench/README.md``.

* The jar is compiled with ``javac`` against the installed pyspark's jars, the first time a
  session needs it (~2 s), into ``~/.cache/ltv/ext/ltv-spark-ext-<hash>.jar``
  (``LTV_SPARK_EXTENSION_DIR`` moves it); the hash covers the Java sources and the pyspark
  version. ``python -m ltv.sparkext`` builds it ahead of time and prints its path; ``make
  setup`` builds it through ``python -m ltv.jars``.
* :func:`ltv.spark.get_spark` adds the jar and ``ltv.spark.LtvSparkExtensions`` to the sessions
  it starts; ``./spark-submit.sh`` passes both to ``spark-submit``. The rule runs on the driver
  only: executors need nothing from the jar.
* Without a JDK compiler (a JRE only) or with ``LTV_SPARK_EXTENSION=0`` there is no extension:
  the results are the same, the aggregations slower. Per session,
  ``spark.ltv.collapsePartialAggregates.enabled=false`` turns the rule off.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

SWITCH = "LTV_SPARK_EXTENSION"
DIR_VARIABLE = "LTV_SPARK_EXTENSION_DIR"
EXTENSION_CLASS = "ltv.spark.LtvSparkExtensions"
COLLAPSE_CONF = "spark.ltv.collapsePartialAggregates.enabled"
SOURCES = ("CollapsePartialAggregates.java", "LtvSparkExtensions.java")
JAR_PREFIX = "ltv-spark-ext-"
_warned: set[str] = set()


def enabled() -> bool:
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def _sources() -> list[tuple[str, bytes]]:
    folder = resources.files("ltv").joinpath("data/jvm")
    return [(name, folder.joinpath(name).read_bytes()) for name in SOURCES]


def _pyspark() -> tuple[str, Path]:
    import pyspark

    return pyspark.__version__, Path(pyspark.__file__).parent / "jars"


def cache_dir() -> Path:
    override = os.environ.get(DIR_VARIABLE)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "ltv" / "ext"


def jar_path() -> Path:
    """Where the jar for these sources and this pyspark lives (it may not exist yet)."""
    version, _ = _pyspark()
    digest = hashlib.sha256(version.encode())
    for name, text in _sources():
        digest.update(name.encode() + b"\0" + text)
    return cache_dir() / f"{JAR_PREFIX}{digest.hexdigest()[:16]}.jar"


def _warn_once(message: str, *args) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message, *args)


def build(force: bool = False) -> Path | None:
    """Compile the extension unless its jar exists; return the jar, or None (logged) when it cannot.

    Needs ``javac`` (``$JAVA_HOME/bin`` or PATH). The jar is written beside the target and moved
    into place once complete, so a concurrent session never loads half a jar.
    """
    target = jar_path()
    if target.is_file() and not force:
        return target
    java_home = os.environ.get("JAVA_HOME")
    javac = next((str(p) for p in ([Path(java_home) / "bin" / "javac"] if java_home else []) if p.is_file()),
                 shutil.which("javac"))
    if javac is None:
        _warn_once("no `javac` (a JDK) found: ltv's Spark extension is not built; aggregations run as Spark "
                   "plans them (same results, slower)")
        return None
    _, spark_jars = _pyspark()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "classes"
        src.mkdir()
        out.mkdir()
        for name, text in _sources():
            (src / name).write_bytes(text)
        command = [javac, "--release", "17", "-nowarn", "-encoding", "UTF-8", "-cp", str(spark_jars / "*"),
                   "-d", str(out), *(str(src / name) for name in SOURCES)]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            _warn_once("could not compile ltv's Spark extension (aggregations run as Spark plans them):\n%s",
                       (proc.stdout + proc.stderr)[-3000:])
            return None
        partial = target.with_name(f"{target.stem}.{os.getpid()}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: ltv.sparkext\n\n")
            for path in sorted(out.rglob("*.class")):
                jar.write(path, path.relative_to(out).as_posix())
        partial.replace(target)  # older jars stay: another checkout's sessions may be using them (~10 kB each)
    log.info("built ltv's Spark extension: %s", target)
    return target


def extension_jar(build_missing: bool = True) -> Path | None:
    """The extension jar to load, building it when missing; None when switched off or unbuildable."""
    if not enabled():
        return None
    target = jar_path()
    if target.is_file():
        return target
    return build() if build_missing else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ltv.sparkext",
        description="Build ltv's Spark extension jar (a physical-plan rule that runs a Partial/Final pair of "
                    "hash aggregations over already-clustered rows as one aggregation) and print its path.",
    )
    parser.add_argument("--force", action="store_true", help="recompile even when the jar exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not enabled():
        print(f"ltv's Spark extension is off ({SWITCH}=0)", file=sys.stderr)
        return 1
    path = build(force=args.force)
    if path is None:
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
