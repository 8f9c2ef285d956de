"""The Delta Lake jars, fetched once with Maven and put on Spark's classpath.

Spark's own Ivy resolver (``spark.jars.packages``) is fragile behind proxies and re-resolves
on every JVM start. Instead :func:`fetch_jars` runs ``mvn dependency:copy-dependencies`` on a
pom shipped with ltv, keeps only jars that pyspark does not already ship (so Spark's own
versions of jackson, log4j, parquet... are never shadowed), and :func:`spark_jars` returns the
list for ``spark.jars``. ``python -m ltv.runtime.jars`` fetches them and prints that list
(``./spark-submit.sh`` passes it with ``--jars``).

Location: ``$LTV_JARS_DIR``, else ``~/.cache/ltv/jars/delta-<version>``.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

DELTA_VERSION = "4.4.0"
FORCE_VARIABLE = "LTV_JARS_FORCE"
_VERSION_SUFFIX = re.compile(r"-\d[\w.\-]*\.jar$")
_MARKER = ".complete"


def jar_dir() -> Path:
    override = os.environ.get("LTV_JARS_DIR")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "ltv" / "jars" / f"delta-{DELTA_VERSION}"


def _artifact(jar_name: str) -> str:
    """``jackson-core-2.13.5.jar`` -> ``jackson-core``."""
    return _VERSION_SUFFIX.sub("", jar_name)


def _pyspark_artifacts() -> set[str]:
    import pyspark

    spark_jars = Path(pyspark.__file__).parent / "jars"
    return {_artifact(p.name) for p in spark_jars.glob("*.jar")}


def spark_jars() -> list[str]:
    """Absolute paths of the fetched jars, or [] when they have not been fetched."""
    folder = jar_dir()
    if not (folder / _MARKER).exists():
        return []
    return sorted(str(p) for p in folder.glob("*.jar"))


def fetch_jars(force: bool = False) -> list[str]:
    """Download Delta and its runtime dependencies with Maven into :func:`jar_dir`.

    Idempotent; ``force`` re-downloads. Raises RuntimeError naming the fix when Maven is
    missing or fails.
    """
    folder = jar_dir()
    if not force and (folder / _MARKER).exists():
        return spark_jars()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(
            "Maven (`mvn`) is needed once to fetch the Delta jars; install it (apt-get install maven) "
            f"or put the jars of io.delta:delta-spark_4.2_2.13:{DELTA_VERSION} in $LTV_JARS_DIR"
        )
    pom = resources.files("ltv").joinpath("data/delta-jars-pom.xml")
    with tempfile.TemporaryDirectory() as tmp:
        pom_path = Path(tmp) / "pom.xml"
        pom_path.write_text(pom.read_text())
        out = Path(tmp) / "out"
        log.info("fetching Delta %s jars with Maven into %s", DELTA_VERSION, folder)
        proc = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={out}"],
            capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"mvn could not fetch the Delta jars:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        shipped = _pyspark_artifacts()
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.jar"):
            old.unlink()
        kept = []
        for jar in sorted(out.glob("*.jar")):
            if _artifact(jar.name) in shipped:
                continue
            shutil.copy2(jar, folder / jar.name)
            kept.append(jar.name)
        (folder / _MARKER).write_text("\n".join(kept) + "\n")
    log.info("Delta jars ready: %s", ", ".join(kept))
    return spark_jars()


def main() -> int:
    """``python -m ltv.runtime.jars``: fetch the jars (again with ``LTV_JARS_FORCE=1``), print the list."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    jars = fetch_jars(force=os.environ.get(FORCE_VARIABLE) == "1")
    print(",".join(jars))  # the command's output: the list for spark.jars / --jars
    return 0


if __name__ == "__main__":
    sys.exit(main())
