"""ltv.notebook: the notebook helpers on hand-built rows, a real MLflow store and real Delta tables;
ltv.analysis: its deprecated alias."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltv import notebook
from ltv.evaluation.metrics import evaluate
from ltv.evaluation.report import write_report
from ltv.models.base import TrainingData
from ltv.models.btyd import BGNBDGammaGamma

D = dt.date


def _tx(spark, rows):
    return spark.createDataFrame(
        pd.DataFrame(rows, columns=["business_line", "customer_id", "event_date", "amount"])
    )


def test_cohort_spend_by_month_since_first_purchase(spark):
    rows = [
        ("shop", "a", D(2024, 1, 5), 10.0),
        ("shop", "a", D(2024, 1, 20), 5.0),
        ("shop", "a", D(2024, 3, 2), 30.0),
        ("shop", "a", D(2024, 3, 9), -6.0),   # refund: counts in net spend
        ("shop", "b", D(2024, 1, 31), 20.0),
        ("shop", "c", D(2024, 2, 1), 7.0),
        ("shop", "d", D(2023, 12, 30), -4.0),  # refund before d's first purchase: left out
        ("shop", "d", D(2024, 2, 10), 8.0),
        ("web", "a", D(2024, 2, 3), 1.0),      # same id, other line: its own customer
    ]
    out = notebook.cohort_spend(_tx(spark, rows)).toPandas()
    got = {(r.business_line, str(r.cohort), r.months_since): (r.cohort_size, r.active_customers, r.net_spend)
           for r in out.itertuples()}
    assert got == {
        ("shop", "2024-01-01", 0): (2, 2, 35.0),
        ("shop", "2024-01-01", 2): (2, 1, 24.0),
        ("shop", "2024-02-01", 0): (2, 2, 15.0),
        ("web", "2024-02-01", 0): (1, 1, 1.0),
    }
    first = out[(out.cohort.astype(str) == "2024-01-01") & (out.months_since == 2)].iloc[0]
    assert first.spend_per_customer == pytest.approx(12.0)


def test_cohort_matrix_zero_inside_the_observed_window_nan_after():
    cohorts = pd.DataFrame({
        "business_line": ["shop"] * 4 + ["web"],
        "cohort": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 2, 1), D(2024, 3, 1), D(2024, 1, 1)],
        "months_since": [0, 2, 0, 0, 0],
        "cohort_size": [4, 4, 2, 1, 9],
        "active_customers": [4, 1, 2, 1, 9],
        "net_spend": [40.0, 8.0, 10.0, 3.0, 1.0],
        "spend_per_customer": [10.0, 2.0, 5.0, 3.0, 0.1],
    })
    spend = notebook.cohort_matrix(cohorts, "shop")
    assert list(spend.index) == ["2024-01", "2024-02", "2024-03"] and list(spend.columns) == [0, 1, 2]
    assert spend.loc["2024-01"].tolist() == [10.0, 0.0, 2.0]   # month 1: nobody came back
    assert spend.loc["2024-02", 1] == 0.0 and np.isnan(spend.loc["2024-02", 2])  # March is the last month seen
    assert spend.loc["2024-03", 0] == 3.0 and spend.loc["2024-03"].isna().sum() == 2
    assert notebook.cohort_matrix(cohorts, "shop", "active_share").loc["2024-01", 2] == 0.25
    with pytest.raises(ValueError, match="no cohorts"):
        notebook.cohort_matrix(cohorts, "other")


def test_latest_per_line_keeps_each_lines_own_latest_date(spark):
    frame = spark.createDataFrame(pd.DataFrame({
        "business_line": ["a", "a", "b", "b"],
        "customer_id": ["1", "1", "1", "2"],
        "as_of": [D(2024, 1, 1), D(2024, 6, 1), D(1998, 6, 30), D(1998, 6, 30)],
    }))
    out = notebook.latest_per_line(frame).toPandas()
    assert sorted(zip(out.business_line, out.as_of.astype(str))) == [
        ("a", "2024-06-01"), ("b", "1998-06-30"), ("b", "1998-06-30")]


def test_sample_to_pandas_is_bounded(spark):
    frame = spark.range(1_000)
    assert len(notebook.sample_to_pandas(frame, max_rows=5_000)) == 1_000  # all rows when few enough
    sample = notebook.sample_to_pandas(frame, max_rows=100, seed=1)
    assert 50 <= len(sample) <= 100 and sample["id"].is_unique
    assert sample["id"].max() > 500  # spread over the table, not its first rows
    with pytest.raises(ValueError, match="max_rows"):
        notebook.sample_to_pandas(frame, max_rows=0)


def test_read_table_and_change_feed(spark, tmp_path):
    from ltv.lake.io import Lake
    from ltv.lake.tables import CUSTOMER_LTV

    lake = Lake(spark, tmp_path / "lake")
    lake.ensure("customers")
    with pytest.raises(ValueError, match="enableChangeDataFeed"):
        notebook.read_changes(lake, "customers", 0)
    base = {name: None for name in CUSTOMER_LTV.schema.names}

    def scores(as_of, value):
        row = {**base, "business_line": "shop", "customer_id": "c1", "as_of": as_of, "horizon_days": 30,
               "predicted_ltv": value, "model_name": "m", "model_version": "1", "scored_at": dt.datetime(2024, 1, 1),
               "entity_key": "shop:c1", "event_timestamp": dt.datetime(2024, 1, 1)}
        return spark.createDataFrame([row], CUSTOMER_LTV.schema)

    lake.replace_where("customer_ltv", scores(D(2024, 1, 31), 10.0), "as_of = DATE'2024-01-31'")
    first_version = lake.version("customer_ltv")
    lake.replace_where("customer_ltv", scores(D(2024, 2, 29), 12.0), "as_of = DATE'2024-02-29'")
    increment = notebook.read_changes(lake, "customer_ltv", first_version + 1).toPandas()
    assert list(increment["_change_type"]) == ["insert"] and str(increment["as_of"][0]) == "2024-02-29"
    latest = notebook.read_table(lake, "customer_ltv", latest=True).toPandas()
    assert list(latest["predicted_ltv"]) == [12.0]
    assert notebook.read_table(lake, "customer_ltv", as_of=D(2024, 1, 31)).count() == 1
    assert notebook.read_table(lake, "customer_ltv", business_lines=["other"]).count() == 0


def _fitted_bgnbd(seed: int = 0) -> BGNBDGammaGamma:
    rng = np.random.default_rng(seed)
    n = 2_000
    T = rng.uniform(100, 400, n).round()
    frequency = rng.poisson(T / 80.0)
    recency = np.where(frequency > 0, (T * rng.uniform(0.3, 1.0, n)).round(), 0.0)
    customers = pd.DataFrame({"frequency": frequency.astype(float), "recency": recency, "T": T,
                              "monetary_value": np.where(frequency > 0, rng.gamma(4, 10, n).round(2), 0.0)})
    patterns = customers.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    buyers = customers[customers.frequency > 0]
    spend = buyers.groupby(["frequency", "monetary_value"]).size().rename("weight").reset_index()
    data = TrainingData(time_unit="days", horizon_days=180, patterns=patterns, spend_patterns=spend)
    return BGNBDGammaGamma().fit(data)


def test_frequency_recency_matrix_shapes_and_monotonicity():
    model = _fitted_bgnbd()
    grids = notebook.frequency_recency_matrix(model, T=365, horizon_days=180, max_frequency=8, recency_points=12)
    purchases, alive = grids["predicted_purchases"], grids["p_alive"]
    assert purchases.shape == alive.shape == (9, 12)
    assert list(purchases.index) == list(range(9)) and purchases.columns[-1] == 365
    assert alive.to_numpy().min() >= 0 and alive.to_numpy().max() <= 1
    # BG/NBD: for a repeat buyer, a more recent last purchase means more likely alive, more purchases
    assert (np.diff(alive.loc[5].to_numpy()) >= -1e-12).all()
    assert purchases.loc[5].iloc[-1] > purchases.loc[5].iloc[0]
    assert alive.loc[5].iloc[-1] == pytest.approx(alive.loc[8].iloc[-1], abs=0.05)  # bought on the last day
    assert alive.loc[0].nunique() == 1  # no repeat purchase: recency does not apply
    with pytest.raises(ValueError):
        notebook.frequency_recency_matrix(model, T=0, horizon_days=180, max_frequency=3)


def test_backtest_results_and_reports_from_mlflow(tmp_path):
    from ltv.training.registry import ModelRegistry

    lake_root = tmp_path / "lake"
    registry = ModelRegistry(lake_root)
    assert notebook.backtest_results(lake_root, "shop").empty
    assert notebook.latest_report(lake_root, "shop") is None
    rng = np.random.default_rng(3)
    actual = rng.gamma(0.5, 100, 300)
    curves = {m: {"actual": actual, "predicted": actual * f + rng.normal(0, 5, 300).clip(0), "p10": None, "p90": None}
              for m, f in (("baseline", 0.5), ("bgnbd_gg", 0.9))}
    metrics = {m: evaluate(c["actual"], c["predicted"]) for m, c in curves.items()}
    report_dir = tmp_path / "report"
    write_report(report_dir, "t", "shop", metrics, curves, "bgnbd_gg", True, "better gini", {"as_of": "2024-06-30"})
    decision = {"action": "promote", "promote": True, "winner": "bgnbd_gg", "reason": "better gini"}
    run_id = registry.log_training(
        "shop", {"as_of": "2024-06-30", "horizon_days": 90, "candidates": "baseline,bgnbd_gg,xgboost"},
        metrics, decision, {"as_of": "2024-06-30"}, report_dir, None,
    )
    results = notebook.backtest_results(lake_root, "shop")
    assert list(results["model"]) == ["baseline", "bgnbd_gg"]  # xgboost logged no metrics: failed
    assert list(results["winner"]) == [False, True] and set(results["run_id"]) == {run_id}
    assert results.loc[1, "gini"] == pytest.approx(metrics["bgnbd_gg"]["gini"])
    assert results.loc[0, "horizon_days"] == 90 and results.loc[0, "as_of"] == "2024-06-30"
    report = notebook.latest_report(lake_root, "shop")
    assert report is not None and report.champion == "bgnbd_gg"
    assert report.directory != report_dir.resolve() and report.directory.is_relative_to(lake_root.resolve())
    assert set(report.lorenz) == {"baseline", "bgnbd_gg"}


def test_output_dir_and_save_figure(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    monkeypatch.setenv(notebook.OUT_ENV, str(tmp_path / "figs"))
    out = notebook.output_dir()
    assert out == (tmp_path / "figs").resolve() and out.is_dir()
    figure = Figure(figsize=(3, 2))
    figure.add_subplot().plot([0, 1], [1, 0])
    path = notebook.save_figure(figure, out, "line")
    assert path == out / "line.png" and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(Exception, match="figure name"):
        notebook.save_figure(figure, out, "../escape")


def test_lake_root_prefers_argument_then_env(tmp_path, monkeypatch):
    monkeypatch.setenv(notebook.LAKE_ENV, str(tmp_path))
    assert notebook.lake_root() == tmp_path.resolve()
    with pytest.raises(FileNotFoundError, match="ltv demo"):
        notebook.lake_root(tmp_path / "missing")


def test_small_lake_steps_cover_the_pipeline(tmp_path):
    spec = notebook.SmallLake(root=tmp_path)
    commands = [step[0] for step in spec.cli_steps()]
    assert commands == ["simulate", "ingest", "ingest", "features", "train", "score", "score", "materialize"]
    assert len(spec.feature_dates) == 2  # two scorings: the change data feed has an increment
    from ltv.cli import build_parser

    for step in spec.cli_steps():  # every command parses
        build_parser().parse_args(["--lake", str(tmp_path), *step])
    (tmp_path / "x").write_text("")
    with pytest.raises(FileExistsError):
        notebook.build_small_lake(tmp_path)


# every public name of ltv.analysis before it became an alias of ltv.notebook
ANALYSIS_NAMES = [
    "LAKE_ENV", "OUT_ENV", "NOTEBOOK_SPARK", "SmallLake", "build_small_lake", "get_session", "lake_root",
    "open_lake", "output_dir", "save_figure", "latest_per_line", "read_table", "sample_to_pandas",
    "read_changes", "cohort_spend", "cohort_matrix", "load_champion", "btyd_model", "frequency_recency_matrix",
    "run_report", "latest_report", "backtest_results",
]


def test_ltv_analysis_warns_and_still_provides_the_old_names(monkeypatch):
    monkeypatch.delitem(sys.modules, "ltv.analysis", raising=False)  # a fresh import, so it warns again
    with pytest.warns(DeprecationWarning, match=r"ltv\.notebook") as caught:
        import ltv.analysis as analysis
    warning = next(w for w in caught if "ltv.notebook" in str(w.message))
    assert warning.filename == __file__  # attributed to the importing line, not to ltv or importlib
    assert sorted(analysis.__all__) == sorted(ANALYSIS_NAMES)
    for name in ANALYSIS_NAMES:
        assert getattr(analysis, name) is getattr(notebook, name), name
    assert set(ANALYSIS_NAMES) <= set(notebook.__all__)
