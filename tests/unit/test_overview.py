"""``ltv report``: the overview page finds each line's report and shows every candidate and chart."""
from __future__ import annotations

import base64
import datetime as dt
import json
import re

import numpy as np
import pytest

from ltv.cli import main
from ltv.errors import LTVError
from ltv.evaluation.metrics import evaluate
from ltv.evaluation.overview import find_reports, write_overview
from ltv.evaluation.report import format_metric, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write(lake, line: str, as_of: str, models: tuple[str, ...], seed: int, champion: str | None):
    rng = np.random.default_rng(seed)
    actual = rng.gamma(0.5, 100.0, size=500)
    metrics, curves = {}, {}
    for i, model in enumerate(models):
        predicted = np.clip(actual + rng.normal(0, 20.0 * (i + 1), size=actual.size), 0, None)
        p10, p90 = np.clip(predicted - 30, 0, None), predicted + 30
        curves[model] = {"actual": actual, "predicted": predicted, "p10": p10, "p90": p90}
        metrics[model] = evaluate(actual, predicted, p10, p90)
    write_report(lake / "reports" / line / as_of, title=f"{line} {as_of}", line=line, metrics=metrics,
                 curves=curves, champion=champion, promoted=champion is not None,
                 reason="because" if champion else "nothing beat the baseline", lineage={"as_of": as_of})
    return metrics


@pytest.fixture()
def lake(tmp_path):
    root = tmp_path / "lake"
    old = _write(root, "retail", "2024-03-31", ("baseline", "bgnbd_gg"), 1, "bgnbd_gg")
    new = _write(root, "retail", "2024-06-30", ("baseline", "bgnbd_gg", "hybrid"), 2, "hybrid")
    music = _write(root, "music", "1997-09-30", ("baseline", "pareto_gg", "xgboost"), 3, None)
    return root, {"retail-old": old, "retail": new, "music": music}


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_overview_shows_latest_report_per_line_with_every_candidate_and_image(lake):
    root, metrics = lake
    path, found = write_overview(root)
    assert path == (root / "reports" / "index.html").resolve()
    assert [(f.line, f.as_of) for f in found] == [("music", dt.date(1997, 9, 30)), ("retail", dt.date(2024, 6, 30))]
    page = path.read_text()
    for key in ("retail", "music"):
        for model, values in metrics[key].items():
            assert f"<td>{model}" in page
            for name in ("gini", "rmse", "bias"):
                assert format_metric(name, values[name]) in page
    images = _images(page)
    assert len(images) == 6 and all(img.startswith(PNG_MAGIC) and len(img) > 5_000 for img in images)
    # the older retail run is not shown: its rmse values do not appear
    assert format_metric("rmse", metrics["retail-old"]["bgnbd_gg"]["rmse"]) not in page


def test_overview_filters_by_line_and_date_and_names_the_fix(lake, tmp_path):
    root, _ = lake
    found = find_reports(root, ["retail"], dt.date(2024, 3, 31))
    assert [(f.line, f.as_of, f.report.candidates) for f in found] == [
        ("retail", dt.date(2024, 3, 31), ["baseline", "bgnbd_gg"])]
    with pytest.raises(LTVError, match="ltv train --as-of 2020-01-01"):
        find_reports(root, ["retail"], dt.date(2020, 1, 1))
    with pytest.raises(LTVError, match="no training reports"):
        find_reports(tmp_path / "empty")
    with pytest.raises(LTVError, match=".html"):
        write_overview(root, out=tmp_path / "page.pdf")


def test_report_command_json_and_exit_codes(lake, tmp_path, capsys):
    root, _ = lake
    out = tmp_path / "share" / "ltv.html"
    assert main(["report", "--lake", str(root), "--business-line", "music", "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["page"] == str(out.resolve()) and out.is_file()
    assert [(r["business_line"], r["champion"], r["promoted"]) for r in doc["reports"]] == [("music", None, False)]
    assert len(_images(out.read_text())) == 3
    assert main(["report", "--lake", str(root), "--business-line", "nope"]) == 1
    assert "ltv train" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: usage error
        main(["report", "--lake", str(root), "--business-line", "bad name!"])
    assert exc.value.code == 2
