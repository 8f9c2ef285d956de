"""The evaluation report: comparison table, gate decision, lineage and three figures.

:func:`write_report` writes into ``out_dir``::

    index.html        self-contained page (inline CSS, relative <img> links)
    metrics.json      the same numbers, machine-readable (NaN written as null)
    lorenz.png        cumulative gain curves per model + ideal + random diagonal
    calibration.png   mean predicted vs mean actual per prediction decile, one panel per model
    distribution.png  predicted vs actual distributions (signed log1p scale)

Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure`` + Agg canvas), so
nothing here touches pyplot's global state or the caller's backend. Every text value placed in
the HTML goes through :func:`html.escape`.
"""
from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ltv.evaluation.metrics import METRIC_NAMES, best_models, compare, decile_calibration, lorenz_curve

logger = logging.getLogger(__name__)

LORENZ_PNG = "lorenz.png"
CALIBRATION_PNG = "calibration.png"
DISTRIBUTION_PNG = "distribution.png"
METRICS_JSON = "metrics.json"
INDEX_HTML = "index.html"
DPI = 100
_MAX_CURVE_POINTS = 2_000  # Lorenz curves are subsampled to this many points for plotting

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
}
_MONEY = {"mae", "rmse", "actual_total", "predicted_total"}
_PERCENT = {"top_decile_capture", "calibration_mape", "bias", "coverage_80"}

Curves = Mapping[str, Mapping[str, Any]]


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


# --------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI, format="png")


def _no_data(axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="grey")
    axes.set_axis_off()


def _label(text: Any) -> str:
    """Text for a matplotlib label: ``$`` escaped so names are never parsed as mathtext."""
    return str(text).replace("$", r"\$")


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size <= _MAX_CURVE_POINTS:
        return x, y
    keep = np.unique(np.linspace(0, x.size - 1, _MAX_CURVE_POINTS).round().astype(int))
    return x[keep], y[keep]


def plot_lorenz(curves: Curves, line: str, path: Path) -> Path:
    """Gain curves (share of customers targeted vs share of actual spend captured) per model,
    the ideal ordering of each distinct ``actual`` array, and the random diagonal."""
    figure = _new_figure(7, 5.5)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="random")
    ideals: list[np.ndarray] = []
    plotted = 0
    for model, arrays in curves.items():
        actual = np.asarray(arrays["actual"], dtype=float)
        try:
            x, y = lorenz_curve(actual, arrays["predicted"])
        except ValueError as error:
            logger.warning("lorenz curve skipped for model %s: %s", model, error)
            continue
        if not any(actual.shape == seen.shape and np.array_equal(actual, seen) for seen in ideals):
            label = "ideal" if not ideals else _label(f"ideal ({model} holdout)")
            axes.plot(*_thin(*lorenz_curve(actual, actual)), color="black", linestyle="--", label=label)
            ideals.append(actual)
        axes.plot(*_thin(x, y), label=_label(model))
        plotted += 1
    if not plotted:
        _no_data(axes, "no model with positive total actual spend")
    else:
        axes.set_xlim(0, 1)
        axes.set_xlabel("share of customers, ranked by predicted LTV")
        axes.set_ylabel("share of actual spend captured")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
    axes.set_title(_label(f"{line}: cumulative gain (Lorenz) curves"))
    _save(figure, path)
    return path


def plot_calibration(curves: Curves, line: str, path: Path) -> Path:
    """One panel per model: mean predicted vs mean actual spend per prediction decile (1 = highest)."""
    models = list(curves)
    columns = max(1, min(3, len(models)))
    rows = max(1, math.ceil(len(models) / columns))
    figure = _new_figure(4.5 * columns, 3.6 * rows)
    if not models:
        _no_data(figure.add_subplot(), "no predictions supplied")
    for position, model in enumerate(models, start=1):
        axes = figure.add_subplot(rows, columns, position)
        table = decile_calibration(curves[model]["actual"], curves[model]["predicted"])
        deciles = table.index.to_numpy()
        width = 0.4
        axes.bar(deciles - width / 2, table["mean_predicted"], width, label="mean predicted", color="tab:blue")
        axes.bar(deciles + width / 2, table["mean_actual"], width, label="mean actual", color="tab:orange")
        axes.set_xticks(deciles)
        axes.set_xlabel("prediction decile (1 = highest)")
        axes.set_ylabel("spend per customer")
        axes.set_title(_label(model))
        axes.grid(axis="y", alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle(_label(f"{line}: decile calibration"))
    _save(figure, path)
    return path


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: log-like scale that keeps zeros and refunds (negative spend)."""
    return np.sign(values) * np.log1p(np.abs(values))


def plot_distribution(curves: Curves, line: str, path: Path) -> Path:
    """Histograms of actual spend and each model's predictions on a signed log1p scale."""
    figure = _new_figure(7, 5)
    axes = figure.add_subplot()
    if not curves:
        _no_data(axes, "no predictions supplied")
    else:
        first = next(iter(curves.values()))
        actual = _signed_log1p(np.asarray(first["actual"], dtype=float))
        predictions = {m: _signed_log1p(np.asarray(a["predicted"], dtype=float)) for m, a in curves.items()}
        everything = np.concatenate([actual, *predictions.values()])
        bins = np.linspace(everything.min(), everything.max() + 1e-9, 50)
        axes.hist(actual, bins=bins, color="lightgrey", edgecolor="grey", label="actual")
        for model, values in predictions.items():
            axes.hist(values, bins=bins, histtype="step", linewidth=1.5, label=_label(f"predicted: {model}"))
        axes.set_xlabel("spend in horizon, sign(x)\u00b7log1p(|x|)")
        axes.set_ylabel("customers")
        axes.grid(alpha=0.3)
        axes.legend()
    axes.set_title(_label(f"{line}: predicted vs actual distribution"))
    _save(figure, path)
    return path


# --------------------------------------------------------------------------- html / json

_CSS = """
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


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _metrics_table(metrics: Mapping[str, Mapping[str, float]], champion: str | None) -> str:
    table = compare(metrics)
    best = best_models(table)
    header = "".join(f"<th>{_e(_METRIC_LABELS.get(name, name))}</th>" for name in table.columns)
    rows = []
    for model, values in table.iterrows():
        cells = []
        for name in table.columns:
            text = _e(format_metric(name, values[name]))
            cells.append(f"<td><b>{text}</b></td>" if model in best.get(name, []) else f"<td>{text}</td>")
        row_class = ' class="champion"' if champion is not None and model == champion else ""
        marker = " \u2605" if row_class else ""
        rows.append(f"<tr{row_class}><td>{_e(model)}{marker}</td>{''.join(cells)}</tr>")
    return (
        f'<table id="metrics"><thead><tr><th>model</th>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        '<p class="note">Bold: best value per metric (lowest error, highest ranking power, bias closest '
        "to 0, coverage closest to 80%). \u2605 highlighted row: champion.</p>"
    )


def _gate_section(champion: str | None, promoted: bool, reason: str) -> str:
    verdict = "promoted" if promoted else "not promoted"
    css = "promoted" if promoted else "rejected"
    who = _e(champion) if champion is not None else "(none)"
    return (
        f'<div class="decision {css}"><b>Champion:</b> {who} &mdash; <b>{_e(verdict)}</b>'
        f"<br><b>Reason:</b> {_e(reason)}</div>"
    )


def _lineage_table(lineage: Mapping[str, Any]) -> str:
    if not lineage:
        return '<p class="note">no lineage recorded</p>'
    rows = "".join(f"<tr><td>{_e(key)}</td><td>{_e(value)}</td></tr>" for key, value in lineage.items())
    return f'<table id="lineage"><thead><tr><th>key</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>'


def _figure(file_name: str, alt: str) -> str:
    return f'<img src="{_e(file_name)}" alt="{_e(alt)}">'


def _render_html(
    title: str,
    line: str,
    metrics: Mapping[str, Mapping[str, float]],
    champion: str | None,
    promoted: bool,
    reason: str,
    lineage: Mapping[str, Any],
) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} \u2014 {_e(line)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class=\"sub\">business line: <b>{_e(line)}</b></p>"
        f"<h2>Gate decision</h2>{_gate_section(champion, promoted, reason)}"
        f"<h2>Model comparison</h2>{_metrics_table(metrics, champion)}"
        f"<h2>Cumulative gain</h2>{_figure(LORENZ_PNG, 'Lorenz curves')}"
        f"<h2>Calibration by decile</h2>{_figure(CALIBRATION_PNG, 'decile calibration')}"
        f"<h2>Distributions</h2>{_figure(DISTRIBUTION_PNG, 'predicted vs actual distributions')}"
        f"<h2>Lineage</h2>{_lineage_table(lineage)}"
        f'<p class="note">Numbers: <a href="{METRICS_JSON}">{METRICS_JSON}</a></p>'
        "</body></html>\n"
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


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
        out_dir: directory for ``index.html``, ``metrics.json`` and the three PNGs (overwritten).
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
    payload = {
        "title": title,
        "line": line,
        "champion": champion,
        "promoted": bool(promoted),
        "reason": reason,
        "metric_names": list(METRIC_NAMES),
        "metrics": metrics,
        "lineage": lineage,
    }
    (directory / METRICS_JSON).write_text(json.dumps(_json_safe(payload), indent=2, allow_nan=False) + "\n")
    index = directory / INDEX_HTML
    index.write_text(_render_html(title, line, metrics, champion, promoted, reason, lineage), encoding="utf-8")
    logger.info("evaluation report for %s written to %s", line, index)
    return index
