"""The evaluation report: comparison table, gate decision, lineage and three figures.

:func:`write_report` writes into ``out_dir``::

    index.html        self-contained page (inline CSS, relative <img> links)
    metrics.json      the same numbers, machine-readable (NaN written as null)
    report.json       everything needed to redraw the page, bounded in size (see :func:`load_report`):
                      metrics, Lorenz points (<= 201 per model), decile calibration tables, interval
                      coverage, the gate's decision and lineage
    lorenz.png        cumulative gain curves per model + ideal + random diagonal
    calibration.png   mean predicted vs mean actual per prediction decile, one panel per model
    distribution.png  predicted vs actual distributions (signed log1p scale)

The pieces live apart: :mod:`~ltv.evaluation.report.figures` (matplotlib, object API only),
:mod:`~ltv.evaluation.report.html` (the page; every text value escaped) and
:mod:`~ltv.evaluation.report.payload` (file names, the JSON content, :func:`load_report`). This
module wires them and re-exports what callers import.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ltv.evaluation.report.figures import DPI, plot_calibration, plot_distribution, plot_lorenz
from ltv.evaluation.report.html import format_metric, render_html
from ltv.evaluation.report.payload import (
    CALIBRATION_PNG,
    DISTRIBUTION_PNG,
    INDEX_HTML,
    LORENZ_PNG,
    METRICS_JSON,
    REPORT_CURVE_POINTS,
    REPORT_JSON,
    REPORT_SCHEMA_VERSION,
    Curves,
    EvaluationReport,
    load_report,
    metrics_payload,
    report_payload,
    to_json,
)

logger = logging.getLogger(__name__)


def _check_inputs(metrics: Mapping[str, Mapping[str, float]], curves: Curves) -> None:
    if not metrics:
        raise ValueError("no model metrics to report: pass {model_name: evaluate(...)} with at least one model")
    for model, arrays in curves.items():
        missing = [key for key in ("actual", "predicted") if arrays.get(key) is None]
        if missing:
            raise ValueError(f"curves[{model!r}] lacks {', '.join(missing)} (found: {', '.join(arrays) or 'nothing'})")


def write_report(
    out_dir: str | Path,
    title: str,
    line: str,
    metrics: Mapping[str, Mapping[str, float]],
    curves: Curves,
    champion: str | None,
    promoted: bool,
    reason: str,
    lineage: Mapping[str, Any],
) -> Path:
    """Write the evaluation report for one business line into ``out_dir`` (created if missing).

    Args:
        out_dir: directory for ``index.html``, ``metrics.json``, ``report.json`` and the three PNGs
            (overwritten).
        title: page title.
        line: business line name, shown in the page and in every figure title.
        metrics: ``{model_name: evaluate(...)}``; one table row per model, in this order.
        curves: ``{model_name: {"actual", "predicted", "p10", "p90"}}`` per-customer arrays used for
            the figures (``p10``/``p90`` may be None; they are not plotted).
        champion: the model chosen by the gate (its row is highlighted), or None.
        promoted: whether the gate promoted the champion to the registry.
        reason: the gate's explanation, shown verbatim (escaped).
        lineage: key/value provenance (data versions, config hash, cutoff...), shown as a table.

    Returns:
        Path of ``index.html``.
    """
    _check_inputs(metrics, curves)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    plot_lorenz(curves, line, directory / LORENZ_PNG)
    plot_calibration(curves, line, directory / CALIBRATION_PNG)
    plot_distribution(curves, line, directory / DISTRIBUTION_PNG)
    summary = metrics_payload(title, line, metrics, champion, promoted, reason, lineage)
    (directory / METRICS_JSON).write_text(to_json(summary, indent=2))
    report = report_payload(title, line, metrics, curves, champion, promoted, reason, lineage)
    (directory / REPORT_JSON).write_text(to_json(report))
    index = directory / INDEX_HTML
    index.write_text(render_html(title, line, metrics, champion, promoted, reason, lineage), encoding="utf-8")
    logger.info("evaluation report for %s written to %s", line, index)
    return index


__all__ = [
    "CALIBRATION_PNG",
    "DISTRIBUTION_PNG",
    "DPI",
    "INDEX_HTML",
    "LORENZ_PNG",
    "METRICS_JSON",
    "REPORT_CURVE_POINTS",
    "REPORT_JSON",
    "REPORT_SCHEMA_VERSION",
    "Curves",
    "EvaluationReport",
    "format_metric",
    "load_report",
    "plot_calibration",
    "plot_distribution",
    "plot_lorenz",
    "report_payload",
    "write_report",
]
