"""The evaluation report's HTML: metric formatting, the comparison table, gate and lineage sections.

:func:`render_html` is the report page (``index.html``: inline CSS, relative ``<img>`` links to the
PNGs written by :mod:`ltv.evaluation.report.figures`); ``ltv report``'s overview page
(:mod:`ltv.evaluation.overview`) reuses :data:`CSS`, :func:`gate_section` and :func:`metrics_table`.
Every text value placed in the HTML goes through :func:`escape` (:func:`html.escape`).
"""
from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

from ltv.evaluation.metrics import best_models, compare
from ltv.evaluation.report.payload import CALIBRATION_PNG, DISTRIBUTION_PNG, LORENZ_PNG, METRICS_JSON, REPORT_JSON

_METRIC_LABELS = {
    "mae": "MAE",
    "rmse": "RMSE",
    "gini": "Gini (norm.)",
    "spearman": "Spearman",
    "top_decile_capture": "Top-decile capture",
    "calibration_mape": "Calibration MAPE",
    "bias": "Bias",
    "coverage_80": "80% coverage",
    "n": "Customers",
    "actual_total": "Actual total",
    "predicted_total": "Predicted total",
    "pinball": "Pinball (p10/p50/p90)",
    "quantile_gap": "Quantile gap",
    "width_80": "Mean p90 - p10",
    "buyer_coverage_80": "80% coverage, buyers",
    "buyer_coverage_80_implied": "... implied by the model",
    "variance_ratio": "Squared error / predicted variance",
}
_MONEY = {"mae", "rmse", "actual_total", "predicted_total", "pinball", "width_80"}
_PERCENT = {"top_decile_capture", "calibration_mape", "bias", "coverage_80", "buyer_coverage_80",
            "buyer_coverage_80_implied"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
thead th{background:#f4f4f4}
tr.champion{background:#fff4cc}
.decision{padding:.6rem 1rem;border-radius:4px;display:inline-block}
.promoted{background:#e3f6e3;border:1px solid #7bc67b}.rejected{background:#fbe4e4;border:1px solid #d98080}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}
.note{color:#666;font-size:.85rem}
"""


def format_metric(name: str, value: Any) -> str:
    """How a metric value is displayed in the report: money with 2 decimals and thousands
    separators, shares as percentages with 1 decimal (bias signed), Gini / Spearman with 3
    decimals, counts as integers; missing / NaN as an em dash."""
    if value is None:
        return "\u2014"
    number = float(value)
    if math.isnan(number):
        return "\u2014"
    if name == "n":
        return f"{int(round(number)):,}"
    if name in _MONEY:
        return f"{number:,.2f}"
    if name == "bias":
        return f"{number:+.1%}"
    if name in _PERCENT:
        return f"{number:.1%}"
    return f"{number:.3f}"


def escape(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values (quotes included)."""
    return html.escape(str(value), quote=True)


def metrics_table(metrics: Mapping[str, Mapping[str, float]], champion: str | None) -> str:
    """The model comparison table (best value per metric in bold, the champion's row highlighted)."""
    table = compare(metrics)
    best = best_models(table)
    header = "".join(f"<th>{escape(_METRIC_LABELS.get(name, name))}</th>" for name in table.columns)
    rows = []
    for model, values in table.iterrows():
        cells = []
        for name in table.columns:
            text = escape(format_metric(name, values[name]))
            cells.append(f"<td><b>{text}</b></td>" if model in best.get(name, []) else f"<td>{text}</td>")
        row_class = ' class="champion"' if champion is not None and model == champion else ""
        marker = " \u2605" if row_class else ""
        rows.append(f"<tr{row_class}><td>{escape(model)}{marker}</td>{''.join(cells)}</tr>")
    return (
        f'<table id="metrics"><thead><tr><th>model</th>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        '<p class="note">Bold: best value per metric (lowest error, highest ranking power, bias closest '
        "to 0, coverage closest to 80%). \u2605 highlighted row: champion.</p>"
    )


def gate_section(champion: str | None, promoted: bool, reason: str) -> str:
    """The gate's decision: champion, promoted or not, and why."""
    verdict = "promoted" if promoted else "not promoted"
    css = "promoted" if promoted else "rejected"
    who = escape(champion) if champion is not None else "(none)"
    return (
        f'<div class="decision {css}"><b>Champion:</b> {who} &mdash; <b>{escape(verdict)}</b>'
        f"<br><b>Reason:</b> {escape(reason)}</div>"
    )


def lineage_table(lineage: Mapping[str, Any]) -> str:
    """Key/value provenance as a table (a note when there is none)."""
    if not lineage:
        return '<p class="note">no lineage recorded</p>'
    rows = "".join(f"<tr><td>{escape(key)}</td><td>{escape(value)}</td></tr>" for key, value in lineage.items())
    return f'<table id="lineage"><thead><tr><th>key</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>'


def _figure(file_name: str, alt: str) -> str:
    return f'<img src="{escape(file_name)}" alt="{escape(alt)}">'


def render_html(
    title: str,
    line: str,
    metrics: Mapping[str, Mapping[str, float]],
    champion: str | None,
    promoted: bool,
    reason: str,
    lineage: Mapping[str, Any],
) -> str:
    """The report page (``index.html``) as text; its images and JSON are linked by relative name."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} \u2014 {escape(line)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class=\"sub\">business line: <b>{escape(line)}</b></p>"
        f"<h2>Gate decision</h2>{gate_section(champion, promoted, reason)}"
        f"<h2>Model comparison</h2>{metrics_table(metrics, champion)}"
        f"<h2>Cumulative gain</h2>{_figure(LORENZ_PNG, 'Lorenz curves')}"
        f"<h2>Calibration by decile</h2>{_figure(CALIBRATION_PNG, 'decile calibration')}"
        f"<h2>Distributions</h2>{_figure(DISTRIBUTION_PNG, 'predicted vs actual distributions')}"
        f"<h2>Lineage</h2>{lineage_table(lineage)}"
        f'<p class="note">Numbers: <a href="{METRICS_JSON}">{METRICS_JSON}</a>, '
        f'curves and tables: <a href="{REPORT_JSON}">{REPORT_JSON}</a></p>'
        "</body></html>\n"
    )


__all__ = ["CSS", "escape", "format_metric", "gate_section", "lineage_table", "metrics_table", "render_html"]
