"""ltv.evaluation.report: the report renders, its files are valid and its text is escaped."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ltv.evaluation.metrics import METRIC_NAMES, decile_calibration, evaluate, lorenz_curve
from ltv.evaluation.report import (
    REPORT_CURVE_POINTS,
    EvaluationReport,
    format_metric,
    load_report,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert('x')</script>"
MODELS = ("bgnbd_gg", "xgb", EVIL)


def _fake_run(n: int = 2_000, seed: int = 5):
    rng = np.random.default_rng(seed)
    actual = rng.gamma(0.4, 150.0, size=n) - rng.binomial(1, 0.02, size=n) * 20.0  # a few refunds
    curves, metrics = {}, {}
    for noise, model in zip((30.0, 80.0, 200.0), MODELS):
        predicted = np.clip(actual + rng.normal(0, noise, size=n), 0, None)
        with_interval = model != "xgb"  # one model without an interval -> coverage "—"
        p10 = np.clip(predicted - noise, 0, None) if with_interval else None
        p90 = predicted + noise if with_interval else None
        curves[model] = {"actual": actual, "predicted": predicted, "p10": p10, "p90": p90}
        metrics[model] = evaluate(actual, predicted, p10, p90)
    return metrics, curves


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    metrics, curves = _fake_run()
    out_dir = tmp_path_factory.mktemp("report")
    index = write_report(
        out_dir,
        title="LTV evaluation <holdout>",
        line="retail & wholesale",
        metrics=metrics,
        curves=curves,
        champion="xgb",
        promoted=True,
        reason=f"gini beats champion by 0.03 & bias within 5% {EVIL}",
        lineage={"features_version": 12, "config_hash": "abc123", "note": EVIL, "cutoff": "2024-01-01"},
    )
    return index, metrics, curves


def _row(page: str, model: str) -> str:
    """The HTML of the comparison-table row whose first cell is ``model``."""
    for row in page.split("<tr")[1:]:
        if re.match(r'(?: class="champion")?><td>' + re.escape(html.escape(model)), row):
            return row.split("</tr>")[0]
    raise AssertionError(f"no table row for {model!r}")


def test_returns_index_and_writes_every_file(report):
    index, *_ = report
    assert index.name == "index.html" and index.is_file()
    for name in ("lorenz.png", "calibration.png", "distribution.png", "metrics.json", "report.json"):
        assert (index.parent / name).is_file(), name


@pytest.mark.parametrize("name", ["lorenz.png", "calibration.png", "distribution.png"])
def test_figures_are_valid_pngs(report, name):
    data = (report[0].parent / name).read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000  # a real plot, not an empty canvas


def test_html_has_every_model_and_metric_value(report):
    index, metrics, _ = report
    page = index.read_text(encoding="utf-8")
    for model, values in metrics.items():
        row = _row(page, model)
        for name in METRIC_NAMES:
            assert html.escape(format_metric(name, values[name])) in row, (model, name)
    assert "\u2014" in _row(page, "xgb")  # no interval -> coverage shown as a dash


def test_champion_highlighted_and_best_values_bold(report):
    index, metrics, _ = report
    page = index.read_text(encoding="utf-8")
    assert '<tr class="champion"><td>xgb' in page
    assert page.count('class="champion"') == 1
    # the least noisy model has the best MAE, shown in bold in its row only
    best_mae = format_metric("mae", metrics["bgnbd_gg"]["mae"])
    assert f"<b>{best_mae}</b>" in _row(page, "bgnbd_gg")
    assert "<b>" + format_metric("mae", metrics["xgb"]["mae"]) + "</b>" not in page


def test_images_point_at_existing_files(report):
    index, *_ = report
    sources = re.findall(r'<img src="([^"]+)"', index.read_text(encoding="utf-8"))
    assert sorted(sources) == ["calibration.png", "distribution.png", "lorenz.png"]
    for source in sources:
        assert not Path(source).is_absolute()
        assert (index.parent / source).is_file()


def test_text_is_escaped(report):
    index, *_ = report
    page = index.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert html.escape(EVIL) in page
    assert "retail &amp; wholesale" in page and "LTV evaluation &lt;holdout&gt;" in page
    assert "gini beats champion by 0.03 &amp; bias within 5%" in page
    assert "abc123" in page and "features_version" in page  # lineage table


def test_metrics_json_is_strict_json(report):
    index, metrics, _ = report
    payload = json.loads((index.parent / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert payload["champion"] == "xgb" and payload["promoted"] is True
    assert set(payload["metrics"]) == set(metrics)
    assert payload["metrics"]["xgb"]["coverage_80"] is None  # NaN written as null
    assert payload["metrics"][EVIL]["gini"] == pytest.approx(metrics[EVIL]["gini"])
    assert payload["lineage"]["features_version"] == 12


def test_report_survives_non_positive_total_and_no_champion(tmp_path):
    actual = np.array([-5.0, 1.0, 2.0, 0.0])  # refunds exceed purchases: no Lorenz curve
    predicted = np.array([0.0, 1.0, 3.0, 0.5])
    name = "cost $5 $model"  # "$" must not be parsed as matplotlib mathtext
    index = write_report(
        tmp_path / "nested" / "out",
        title="t",
        line="line $1",
        metrics={name: evaluate(actual, predicted)},
        curves={name: {"actual": actual, "predicted": predicted, "p10": None, "p90": None}},
        champion=None,
        promoted=False,
        reason="no candidate passed",
        lineage={},
    )
    page = index.read_text(encoding="utf-8")
    assert "not promoted" in page and 'class="champion"' not in page
    assert (index.parent / "lorenz.png").read_bytes()[:8] == PNG_MAGIC
    loaded = load_report(index.parent)
    assert loaded.lorenz == {} and loaded.champion is None  # no curve when total actual <= 0
    assert loaded.coverage[name]["coverage_80"] is None and len(loaded.calibration[name]) == 4


def test_report_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no model metrics"):
        write_report(tmp_path, "t", "l", {}, {}, None, False, "", {})
    with pytest.raises(ValueError, match="lacks predicted"):
        write_report(tmp_path, "t", "l", {"m": {"mae": 1.0}}, {"m": {"actual": [1.0]}}, None, False, "", {})


def test_format_metric():
    assert format_metric("n", 12345) == "12,345"
    assert format_metric("mae", 1234.567) == "1,234.57"
    assert format_metric("top_decile_capture", 0.4567) == "45.7%"
    assert format_metric("bias", -0.05) == "-5.0%"
    assert format_metric("gini", 0.81234) == "0.812"
    assert format_metric("coverage_80", float("nan")) == "\u2014"
    assert format_metric("coverage_80", None) == "\u2014"


# --------------------------------------------------------------------------- report.json / load_report


def test_report_json_is_strict_bounded_and_reloads(report):
    index, metrics, curves = report
    raw = (index.parent / "report.json").read_text()
    json.loads(raw, parse_constant=lambda c: pytest.fail(c))  # no NaN / Infinity
    assert len(raw) < 200_000  # 2,000 customers -> bounded summary, not per-customer data
    loaded = load_report(index.parent)
    assert isinstance(loaded, EvaluationReport) and loaded.schema_version == 1
    assert loaded.html == index.resolve()
    assert loaded.line == "retail & wholesale" and loaded.champion == "xgb" and loaded.promoted is True
    assert loaded.candidates == list(MODELS)
    assert list(loaded.comparison().index) == list(MODELS)
    assert loaded.comparison().loc["bgnbd_gg", "gini"] == pytest.approx(metrics["bgnbd_gg"]["gini"])
    assert loaded.lineage["features_version"] == 12
    # the same report from a file inside the folder
    assert load_report(index).metrics == loaded.metrics


def test_report_json_lorenz_is_downsampled_from_the_full_curve(report):
    index, _, curves = report
    loaded = load_report(index.parent)
    for model in MODELS:
        points = loaded.lorenz[model]
        assert 100 < len(points["x"]) <= REPORT_CURVE_POINTS
        assert len(points["x"]) == len(points["y"]) == len(points["ideal"])
        assert points["x"][0] == 0.0 and points["x"][-1] == 1.0 and points["y"][-1] == pytest.approx(1.0)
        full_x, full_y = lorenz_curve(curves[model]["actual"], curves[model]["predicted"])
        n = len(full_x) - 1
        for x, y in zip(points["x"], points["y"]):  # every kept point lies on the full curve
            assert y == pytest.approx(full_y[round(x * n)], abs=1e-6)
        # the ideal ordering dominates every model
        assert all(i >= y - 1e-9 for i, y in zip(points["ideal"], points["y"]))


def test_report_json_calibration_and_coverage(report):
    index, metrics, curves = report
    loaded = load_report(index.parent)
    for model in MODELS:
        expected = decile_calibration(curves[model]["actual"], curves[model]["predicted"])
        table = loaded.calibration_table(model)
        assert list(table.index) == list(range(1, 11))
        np.testing.assert_allclose(table["mean_actual"], expected["mean_actual"])
        np.testing.assert_allclose(table["mean_predicted"], expected["mean_predicted"])
    coverage = loaded.coverage_table()
    assert coverage.loc["bgnbd_gg", "coverage_80"] == pytest.approx(metrics["bgnbd_gg"]["coverage_80"])
    inside_below_above = coverage.loc["bgnbd_gg", ["coverage_80", "below_p10", "above_p90"]].sum()
    assert inside_below_above == pytest.approx(1.0)
    assert coverage.loc["bgnbd_gg", "mean_width"] > 0
    assert np.isnan(coverage.loc["xgb", "coverage_80"])  # no interval given


def test_load_report_reads_older_metrics_only_reports(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"title": "t", "line": "l", "champion": "m", "promoted": False, "reason": "r",
         "metrics": {"m": {"gini": 0.5}}, "lineage": {}}
    ))
    loaded = load_report(tmp_path)
    assert loaded.schema_version == 0 and loaded.candidates == ["m"] and loaded.lorenz == {}


def test_load_report_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="ltv train"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99"):
        load_report(tmp_path)
