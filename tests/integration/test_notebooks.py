"""The analyst notebooks run top to bottom on a small lake built with the CLI and produce their artefacts.

The work is one background child (:mod:`tests.integration.notebook_job`, started by
:mod:`tests.background` when the session starts and run beside the in-process tests): it builds
the small lake (``ltv simulate`` -> ingest transactions and customers -> features at two dates ->
train -> score at both dates -> materialize, all through ``ltv.cli.main``), then executes each notebook in ``notebooks/`` with nbclient in its own ``python3``
kernel (this interpreter: jupyter_client maps the spec's ``python`` to ``sys.executable``) with
``LTV_LAKE`` and ``LTV_NOTEBOOK_OUT`` set. The checks here are on what the notebooks produced: PNG
files that are real images, image outputs in the executed cells, and data extracts that agree with
the lake, the MLflow registry and the Feast online store as read here independently.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests import background
from tests.conftest import ROOT
from tests.integration.notebook_job import NOTEBOOK_DIR

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

FIGURES = {
    "01_explore_customers": ["01_rfm_distributions", "01_expected_purchases_heatmap", "01_p_alive_heatmap",
                             "01_cohort_spend"],
    "02_compare_models": ["02_lorenz", "02_calibration", "02_interval_coverage"],
    "03_use_scores": ["03_top_customers", "03_ltv_by_segment"],
}


#: the tests that read what the background child produced (the marker starts the child)
needs_notebooks = pytest.mark.background("notebooks")


@background.job("notebooks")
def _notebooks_job(workdir: Path) -> background.Job:
    # the child's JVM builds the lake as the session JVM would (C2; tests/jvm.py), its kernels use short JVMs
    env = {k: v for k, v in os.environ.items() if k not in ("LTV_LAKE", "MLFLOW_TRACKING_URI", "JDK_JAVA_OPTIONS")}
    env["PYSPARK_PYTHON"] = sys.executable
    return background.Job([sys.executable, "-m", "tests.integration.notebook_job", str(workdir)], cwd=ROOT, env=env,
                          timeout=900)


@pytest.fixture(scope="module")
def executed():
    """Every notebook executed once, on the small lake (what the background child left)."""
    import nbformat

    from ltv.notebook import SmallLake

    outcome = background.result("notebooks")
    done, workdir = outcome.completed, outcome.workdir
    assert done.returncode == 0, f"notebook job failed (exit {done.returncode}):\n{done.stderr[-6000:]}"
    result = json.loads((workdir / "result.json").read_text())
    log.warning("small lake built by the CLI in %.0f s; notebooks executed (%s)", result["lake_build_s"],
                ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result["notebook_s"].items()))
    assert not result["errors"], result["errors"]
    assert sorted(result["notebook_s"]) == sorted(FIGURES)
    return {
        "lake": SmallLake(root=Path(result["lake"])), "cwd": workdir / "cwd",
        "lake_before": result["lake_before"], "lake_after": result["lake_after"],
        "notebooks": {name: nbformat.read(workdir / "executed" / f"{name}.ipynb", as_version=4) for name in FIGURES},
        "outs": {name: workdir / "out" / name for name in FIGURES},
    }


def _outputs(notebook, kind: str):
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
            if o.get("output_type") == kind or kind in o.get("data", {})]


# -- stored form ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_is_stored_without_outputs_and_with_clean_metadata(name):
    import nbformat

    notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    assert set(notebook.metadata) <= {"kernelspec", "language_info"}
    for cell in notebook.cells:
        assert set(cell.metadata) == set(), cell.source[:60]
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(FIGURES)


# -- figures ---------------------------------------------------------------------------------------------
@needs_notebooks
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_saves_and_displays_its_figures(executed, name):
    import matplotlib.image

    notebook, out = executed["notebooks"][name], executed["outs"][name]
    assert not _outputs(notebook, "error")
    for figure in FIGURES[name]:
        path = out / f"{figure}.png"
        assert path.is_file(), f"{path.name} not saved; have {sorted(p.name for p in out.iterdir())}"
        assert path.stat().st_size > 15_000, f"{path.name} is only {path.stat().st_size} bytes"
        pixels = matplotlib.image.imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 250 and pixels.shape[1] > 400, pixels.shape
        assert float(pixels[..., :3].std()) > 0.05, f"{path.name} is (almost) blank"
    assert len(_outputs(notebook, "image/png")) >= len(FIGURES[name])


# -- data ------------------------------------------------------------------------------------------------
@needs_notebooks
def test_explore_summary_matches_the_feature_table(executed, spark):
    from pyspark.sql import functions as F

    from ltv.notebook import read_table
    from ltv.lake.io import Lake

    summary = pd.read_csv(executed["outs"]["01_explore_customers"] / "01_rfm_summary.csv", index_col="business_line")
    lake = Lake(spark, executed["lake"].root)
    expected = (
        read_table(lake, "customer_features", latest=True)
        .groupBy("business_line").agg(F.count(F.lit(1)).alias("customers"), F.avg("frequency").alias("f"))
        .toPandas().set_index("business_line")
    )
    assert sorted(summary.index) == sorted(executed["lake"].business_lines) == sorted(expected.index)
    for line in expected.index:  # the sample holds every customer of a small lake
        assert summary.loc[line, "customers"] == expected.loc[line, "customers"] == executed["lake"].customers
        assert summary.loc[line, "mean_frequency"] == pytest.approx(expected.loc[line, "f"])


@needs_notebooks
def test_comparison_table_has_every_candidate_the_registry_has(executed):
    from ltv.training.registry import ModelRegistry

    comparison = pd.read_csv(executed["outs"]["02_compare_models"] / "02_comparison.csv")
    registry = ModelRegistry(executed["lake"].root)
    assert sorted(comparison["business_line"].unique()) == registry.lines() == sorted(executed["lake"].business_lines)
    for line in registry.lines():
        run = registry.runs(line, max_results=1)[0]
        logged = {key.rpartition(".")[0] for key in run.data.metrics}
        rows = comparison[comparison["business_line"] == line].set_index("model")
        assert set(rows.index) == logged and len(logged) >= 3  # baseline + the two BTYD candidates
        for model in logged:
            assert rows.loc[model, "gini"] == pytest.approx(run.data.metrics[f"{model}.gini"])
        champion = registry.champion(line)
        promoted = run.data.tags["ltv.promoted"] == "true"
        assert list(rows.index[rows["champion"]]) == ([run.data.tags["ltv.winner"]] if promoted else [])
        if champion is not None and champion.run_id == run.info.run_id:
            assert rows.loc[champion.model_name, "champion"]


@needs_notebooks
def test_scores_increment_campaign_and_online_lookup(executed, spark):
    from pyspark.sql import functions as F

    from ltv.lake.io import Lake

    lake_spec, out = executed["lake"], executed["outs"]["03_use_scores"]
    newest = str(max(lake_spec.feature_dates))
    scores = Lake(spark, lake_spec.root).read("customer_ltv").where(F.col("as_of") == F.lit(newest)).toPandas()
    by_key = scores.set_index(["business_line", "customer_id"])

    increment = pd.read_csv(out / "03_increment.csv")
    assert set(increment["_change_type"]) == {"insert"}
    assert set(increment["as_of"]) == {newest}
    assert increment.groupby("business_line")["rows"].sum().to_dict() == {
        line: lake_spec.customers for line in lake_spec.business_lines}
    assert increment["total_predicted_ltv"].sum() == pytest.approx(scores["predicted_ltv"].sum())

    campaign = pd.read_csv(out / "03_campaign.csv", dtype={"customer_id": str})
    unknown = campaign[campaign["customer_id"] == "not-a-customer"]
    assert len(unknown) == 1 and unknown["predicted_ltv"].isna().all()
    known = campaign[campaign["customer_id"] != "not-a-customer"]
    assert len(known) == 6
    for row in known.itertuples():
        assert row.predicted_ltv == pytest.approx(by_key.loc[(row.business_line, row.customer_id), "predicted_ltv"])

    check = json.loads((out / "03_lookup.json").read_text())
    expected = by_key.loc[(check["business_line"], check["customer_id"])]
    assert expected["predicted_ltv"] == scores["predicted_ltv"][scores["business_line"] == check["business_line"]].max()
    assert check["online"]["predicted_ltv"] == pytest.approx(expected["predicted_ltv"], rel=1e-9)
    assert check["online"]["model_version"] == expected["model_version"]
    assert check["online"]["scores_as_of"] == newest


@needs_notebooks
def test_notebooks_write_only_to_their_output_folder(executed):
    assert executed["lake_after"] == executed["lake_before"], "a notebook changed the lake"
    assert list(executed["cwd"].iterdir()) == [], "a notebook wrote into its working directory"
    produced = {name: sorted(p.name for p in out.iterdir()) for name, out in executed["outs"].items()}
    for name, files in produced.items():
        assert all(f.startswith(name[:3]) for f in files), (name, files)


def test_python3_kernel_is_this_interpreter():
    """The notebooks' ``python3`` kernel runs the venv's Python (so it has ``ltv`` and Spark's jars)."""
    from jupyter_client.manager import KernelManager

    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert command[0] == sys.executable and command[1:3] == ["-m", "ipykernel_launcher"], (
        f"kernel python3 runs {command[0]}, not {sys.executable}: another kernelspec named python3 wins; "
        f"run `{sys.executable} -m ipykernel install --sys-prefix` or remove it (`jupyter kernelspec list`)"
    )
