"""The notebooks' background job: build the small lake, execute every notebook, record what happened.

Run as ``python -m tests.integration.notebook_job WORKDIR`` from the repository root (by
``tests/integration/test_notebooks.py`` through :mod:`tests.background`, beside the rest of the
suite). The small lake is built by the ``ltv`` commands (:func:`ltv.notebook.build_small_lake`)
on a SparkSession set up as the test session is (``tests/jvm.py``: it only prepares data), that
session is stopped, then each notebook in ``notebooks/`` is executed by nbclient in its own
``python3`` kernel with ``LTV_LAKE`` and ``LTV_NOTEBOOK_OUT`` set, as an analyst's machine would run
it (Spark's defaults; the short-JVM options of ``tests/jvm.py``). They run concurrently: two of them
wait on their own Spark JVM.

``WORKDIR`` gets ``lake/``, ``cwd/`` (the kernels' working directory), ``out/<notebook>/`` (what
each notebook saves), ``executed/<notebook>.ipynb`` (the notebooks with their outputs) and
``result.json``: the lake's files before and after the notebooks ran, and timings. The test reads
those; the checks are all there.
"""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT_S = 600


def files(folder: Path) -> dict[str, int]:
    """{relative path: size} of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def execute(name: str, cwd: Path, env: dict[str, str], executed: Path) -> float:
    """Run notebook ``name`` top to bottom; save it with its outputs (also on failure); seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
    )
    started = time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        nbformat.write(notebook, executed / f"{name}.ipynb")
    return time.perf_counter() - started


def main(workdir: Path) -> dict:
    from ltv.notebook import NOTEBOOK_SPARK, build_small_lake
    from ltv.runtime.session import get_spark
    from tests.jvm import INTERPRETED, SHORT_JVM_OPTIONS

    started = time.perf_counter()
    spark = get_spark(NOTEBOOK_SPARK, app_name="ltv-tests-small-lake", extra_conf=INTERPRETED)
    lake = build_small_lake(workdir / "lake")
    spark.stop()
    built_s = time.perf_counter() - started

    names = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    cwd, executed = workdir / "cwd", workdir / "executed"
    cwd.mkdir()
    executed.mkdir()
    lake_before = files(lake.root)
    envs = {}
    for name in names:
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYSPARK_GATEWAY_PORT")}
        env.update({"LTV_LAKE": str(lake.root), "LTV_NOTEBOOK_OUT": str(workdir / "out" / name),
                    "JDK_JAVA_OPTIONS": SHORT_JVM_OPTIONS})
        envs[name] = env
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {name: pool.submit(execute, name, cwd, envs[name], executed) for name in names}
        errors, seconds = {}, {}
        for name, future in futures.items():
            try:
                seconds[name] = future.result()
            except Exception as exc:  # every notebook runs; the test reports each one's error
                errors[name] = f"{type(exc).__name__}: {exc}"[-4000:]
    return {"lake": str(lake.root), "lake_build_s": built_s, "notebook_s": seconds, "errors": errors,
            "lake_before": lake_before, "lake_after": files(lake.root)}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    (out / "result.json").write_text(json.dumps(main(out), indent=1))
