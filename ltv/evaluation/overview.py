"""``ltv report``: one HTML page with every business line's latest back-test report.

Each ``ltv train`` run writes a report folder ``<lake>/reports/<line>/<as_of>/`` (see
:mod:`ltv.evaluation.report`). This module finds them -- the latest ``as_of`` per line, or
the one asked for -- and renders a single self-contained page: per line the gate decision,
the comparison table of every candidate and the charts, embedded as data URIs so the file
can be mailed or attached to a ticket as it is. No Spark, no MLflow: it reads the folders.
"""
from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ltv.config import validate_name
from ltv.errors import LTVError
from ltv.evaluation.report.html import CSS, escape, gate_section, metrics_table
from ltv.evaluation.report.payload import (
    CALIBRATION_PNG,
    DISTRIBUTION_PNG,
    LORENZ_PNG,
    EvaluationReport,
    load_report,
)

REPORTS_DIR = "reports"
OVERVIEW_HTML = "index.html"
FIGURES = (
    (LORENZ_PNG, "Cumulative gain (Lorenz)"),
    (CALIBRATION_PNG, "Calibration by decile"),
    (DISTRIBUTION_PNG, "Predicted vs actual distributions"),
)


@dataclass(frozen=True)
class FoundReport:
    """One line's report picked for the overview."""

    line: str
    as_of: dt.date
    report: EvaluationReport

    def as_dict(self) -> dict:
        r = self.report
        return {
            "business_line": self.line,
            "as_of": self.as_of.isoformat(),
            "champion": r.champion,
            "promoted": r.promoted,
            "reason": r.reason,
            "candidates": r.candidates,
            "report": str(r.html),
        }


def reports_root(lake_root: str | os.PathLike[str]) -> Path:
    return Path(lake_root) / REPORTS_DIR


def find_reports(
    lake_root: str | os.PathLike[str],
    lines: list[str] | None = None,
    as_of: dt.date | None = None,
) -> list[FoundReport]:
    """The report of each line: for ``as_of`` exactly, else the latest one.

    Args:
        lake_root: the lake folder.
        lines: business lines to include (default: every line with a report).
        as_of: training date of the reports to show (default: each line's latest).

    Raises:
        LTVError: no report matches, with the command that makes one.
    """
    root = reports_root(lake_root)
    wanted = [validate_name(x, "business line") for x in lines] if lines else None
    present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    found: list[FoundReport] = []
    missing: list[str] = []
    for line in wanted or present:
        dates = _report_dates(root / line)
        pick = (as_of if as_of in dates else None) if as_of else (max(dates) if dates else None)
        if pick is None:
            missing.append(line)
            continue
        found.append(FoundReport(line, pick, load_report(dates[pick])))
    when = f" as of {as_of}" if as_of else ""
    if missing and wanted:
        raise LTVError(
            f"no training report{when} for business line(s) {missing} under {root}; "
            f"run `ltv train --as-of {as_of or 'DATE'} --business-line {missing[0]}` first"
        )
    if not found:
        raise LTVError(f"no training reports{when} under {root}; run `ltv train --as-of {as_of or 'DATE'}` first")
    return found


def _report_dates(line_dir: Path) -> dict[dt.date, Path]:
    dates: dict[dt.date, Path] = {}
    if not line_dir.is_dir():
        return dates
    for child in line_dir.iterdir():
        try:
            day = dt.date.fromisoformat(child.name)
        except ValueError:
            continue
        if child.is_dir() and ((child / "report.json").is_file() or (child / "metrics.json").is_file()):
            dates[day] = child
    return dates


def _embedded_image(path: Path, alt: str) -> str:
    if not path.is_file():
        return f'<p class="note">{escape(alt)}: not available ({escape(path.name)} missing)</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def render_overview(found: list[FoundReport], lake_root: str | os.PathLike[str]) -> str:
    """The overview page as HTML text (self-contained: inline CSS, images as data URIs)."""
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = "".join(
        f'<li><a href="#line-{escape(f.line)}">{escape(f.line)}</a> &mdash; as of {escape(f.as_of)}: '
        f"{escape(f.report.champion or 'no winner')} ({'promoted' if f.report.promoted else 'not promoted'})</li>"
        for f in found
    )
    sections = []
    for f in found:
        r = f.report
        figures = "".join(f"<h3>{escape(alt)}</h3>{_embedded_image(r.directory / name, alt)}" for name, alt in FIGURES)
        sections.append(
            f'<section id="line-{escape(f.line)}"><h2>{escape(f.line)} &mdash; back-test as of {escape(f.as_of)}</h2>'
            f"<p class=\"sub\">{escape(r.title)}</p>"
            f"{gate_section(r.champion, r.promoted, r.reason)}"
            f"{metrics_table(r.metrics, r.champion)}"
            f"{figures}"
            f'<p class="note">full report: {escape(r.html)}</p></section>'
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"><title>ltv model report</title>'
        f"<style>{CSS}</style></head><body>"
        "<h1>ltv model report</h1>"
        f"<p class=\"sub\">lake {escape(Path(lake_root).resolve())} &middot; generated {generated}</p>"
        f"<ul>{toc}</ul>{''.join(sections)}</body></html>\n"
    )


def write_overview(
    lake_root: str | os.PathLike[str],
    lines: list[str] | None = None,
    as_of: dt.date | None = None,
    out: str | os.PathLike[str] | None = None,
) -> tuple[Path, list[FoundReport]]:
    """Find the reports (:func:`find_reports`) and write the overview page.

    Returns: (path of the page -- ``out`` or ``<lake>/reports/index.html`` --, the reports shown).
    """
    found = find_reports(lake_root, lines, as_of)
    path = Path(out).expanduser() if out else reports_root(lake_root) / OVERVIEW_HTML
    if path.suffix.lower() not in (".html", ".htm"):
        raise LTVError(f"--out must be an .html file, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_overview(found, lake_root), encoding="utf-8")
    tmp.replace(path)
    return path.resolve(), found


__all__ = ["FoundReport", "find_reports", "render_overview", "write_overview", "reports_root"]
