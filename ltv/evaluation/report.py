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

Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure`` + Agg canvas), so
nothing here touches pyplot's global state or the caller's backend. Every text value placed in
the HTML goes through :func:`html.escape`.
"""
from __future__ import annotations

import html
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltv.evaluation.metrics import (
    METRIC_NAMES,
    best_models,
    compare,
    decile_calibration,
    interval_coverage,
    lorenz_curve,
)

logger = logging.getLogger(__name__)

LORENZ_PNG = "lorenz.png"
CALIBRATION_PNG = "calibration.png"
DISTRIBUTION_PNG = "distribution.png"
METRICS_JSON = "metrics.json"
REPORT_JSON = "report.json"
INDEX_HTML = "index.html"
#: layout version of ``report.json``; :func:`load_report` refuses other versions
REPORT_SCHEMA_VERSION = 1
#: at most this many points per Lorenz curve in ``report.json``
REPORT_CURVE_POINTS = 201
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
        f'<p class="note">Numbers: <a href="{METRICS_JSON}">{METRICS_JSON}</a>, '
        f'curves and tables: <a href="{REPORT_JSON}">{REPORT_JSON}</a></p>'
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
    report = report_payload(title, line, metrics, curves, champion, promoted, reason, lineage)
    (directory / REPORT_JSON).write_text(json.dumps(_json_safe(report), allow_nan=False) + "\n")
    index = directory / INDEX_HTML
    index.write_text(_render_html(title, line, metrics, champion, promoted, reason, lineage), encoding="utf-8")
    logger.info("evaluation report for %s written to %s", line, index)
    return index


# --------------------------------------------------------------------------- report.json


def _curve_indices(size: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices into ``range(size)``, first and last included."""
    if size <= max_points:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, max_points).round().astype(int))


def _lorenz_points(actual: np.ndarray, predicted: np.ndarray, max_points: int) -> dict[str, list[float]] | None:
    """Model and ideal Lorenz curves on a shared x grid of <= ``max_points`` points (None: undefined)."""
    try:
        x, y = lorenz_curve(actual, predicted)
        _, ideal = lorenz_curve(actual, actual)
    except ValueError:
        return None
    keep = _curve_indices(x.size, max_points)
    return {name: np.round(values[keep], 6).tolist() for name, values in (("x", x), ("y", y), ("ideal", ideal))}


def _coverage(actual: np.ndarray, p10: Any, p90: Any) -> dict[str, float | int | None]:
    """How the 80% interval ``[p10, p90]`` did: share inside (target 0.8), below, above, mean width."""
    out: dict[str, float | int | None] = {"n": int(actual.size), "coverage_80": None, "below_p10": None,
                                         "above_p90": None, "mean_width": None}
    if p10 is None or p90 is None:
        return out
    lower = np.asarray(p10, dtype=float)
    upper = np.asarray(p90, dtype=float)
    out["coverage_80"] = interval_coverage(actual, lower, upper)
    out["below_p10"] = float(np.mean(actual < lower))
    out["above_p90"] = float(np.mean(actual > upper))
    out["mean_width"] = float(np.mean(upper - lower))
    return out


def report_payload(
    title: str,
    line: str,
    metrics: Mapping[str, Mapping[str, float]],
    curves: Curves,
    champion: str | None,
    promoted: bool,
    reason: str,
    lineage: Mapping[str, Any],
    max_curve_points: int = REPORT_CURVE_POINTS,
) -> dict[str, Any]:
    """The content of ``report.json`` (see :func:`load_report` for the layout).

    Bounded whatever the number of customers: <= ``max_curve_points`` Lorenz points and 10
    calibration rows per model. Models without ``curves`` (or whose Lorenz curve is undefined
    because total actual spend is <= 0) are absent from the matching section.
    """
    lorenz: dict[str, Any] = {}
    calibration: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    for model, arrays in curves.items():
        actual = np.asarray(arrays["actual"], dtype=float)
        predicted = np.asarray(arrays["predicted"], dtype=float)
        points = _lorenz_points(actual, predicted, max_curve_points)
        if points is not None:
            lorenz[model] = points
        table = decile_calibration(actual, predicted).reset_index()
        calibration[model] = table.to_dict(orient="records")
        coverage[model] = _coverage(actual, arrays.get("p10"), arrays.get("p90"))
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "title": title,
        "line": line,
        "champion": champion,
        "promoted": bool(promoted),
        "reason": reason,
        "candidates": list(metrics),
        "metric_names": list(METRIC_NAMES),
        "metrics": metrics,
        "lorenz": lorenz,
        "calibration": calibration,
        "coverage": coverage,
        "lineage": lineage,
        "files": {
            "html": INDEX_HTML,
            "metrics": METRICS_JSON,
            "lorenz": LORENZ_PNG,
            "calibration": CALIBRATION_PNG,
            "distribution": DISTRIBUTION_PNG,
        },
    }


@dataclass(frozen=True)
class EvaluationReport:
    """A report written by :func:`write_report`, read back by :func:`load_report`.

    Attributes:
        directory: the report folder (``index.html``, PNGs, JSON).
        title, line: as given to :func:`write_report`.
        champion: the gate's winner (None when nothing won); ``promoted``: whether it was registered.
        reason: the gate's explanation.
        candidates: model names in table order.
        metrics: ``{model: {metric: value}}`` (:data:`~ltv.evaluation.metrics.METRIC_NAMES`; None = undefined).
        lorenz: ``{model: {"x", "y", "ideal"}}``: share of customers targeted (ranked by prediction),
            share of actual spend captured by the model and by the ideal ordering; <= 201 points.
        calibration: ``{model: [{"decile", "n", "mean_predicted", "mean_actual", "sum_predicted",
            "sum_actual"}, ...]}``, decile 1 = highest predictions.
        coverage: ``{model: {"n", "coverage_80", "below_p10", "above_p90", "mean_width"}}`` (None
            values for models without an interval).
        lineage: key/value provenance.
        schema_version: ``report.json`` layout version; 0 = an older report that only had
            ``metrics.json`` (``lorenz``, ``calibration`` and ``coverage`` are then empty).
    """

    directory: Path
    title: str
    line: str
    champion: str | None
    promoted: bool
    reason: str
    candidates: list[str]
    metrics: dict[str, dict[str, float | None]]
    lorenz: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    calibration: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    coverage: dict[str, dict[str, float | None]] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    schema_version: int = REPORT_SCHEMA_VERSION

    @property
    def html(self) -> Path:
        """The report page."""
        return self.directory / INDEX_HTML

    def comparison(self):
        """Model-by-metric ``pandas.DataFrame`` (as :func:`ltv.evaluation.metrics.compare`; None -> NaN)."""
        return compare(self.metrics)

    def calibration_table(self, model: str):
        """Decile calibration of ``model`` as a ``pandas.DataFrame`` indexed by ``decile``."""
        import pandas as pd

        if model not in self.calibration:
            raise KeyError(f"no calibration table for {model!r} in {self.directory}; have {sorted(self.calibration)}")
        return pd.DataFrame(self.calibration[model]).set_index("decile")

    def coverage_table(self):
        """Interval coverage per model as a ``pandas.DataFrame`` indexed by model."""
        import pandas as pd

        table = pd.DataFrame.from_dict(self.coverage, orient="index", dtype=float)
        table.index.name = "model"
        return table


def load_report(report_dir: str | os.PathLike[str]) -> EvaluationReport:
    """Read the report written by :func:`write_report` in ``report_dir``.

    Args:
        report_dir: the report folder, or any file in it (e.g. its ``index.html``).

    Returns:
        :class:`EvaluationReport`. A folder from before ``report.json`` existed (only
        ``metrics.json``) loads with ``schema_version`` 0 and no curves.

    Raises:
        FileNotFoundError: neither ``report.json`` nor ``metrics.json`` is there.
        ValueError: ``report.json`` has an unknown ``schema_version`` or is not valid JSON.
    """
    directory = Path(report_dir).expanduser()
    if directory.is_file():
        directory = directory.parent
    path = directory / REPORT_JSON
    if not path.is_file():
        legacy = directory / METRICS_JSON
        if not legacy.is_file():
            raise FileNotFoundError(
                f"no {REPORT_JSON} (or {METRICS_JSON}) in {directory}; reports are written by `ltv train` "
                "under <lake>/reports/<line>/<as_of>/"
            )
        path = legacy
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-run `ltv train` to rewrite the report") from exc
    version = int(doc.get("schema_version", 0)) if path.name == REPORT_JSON else 0
    if version not in (0, REPORT_SCHEMA_VERSION):
        raise ValueError(
            f"{path} has schema_version {version}; this ltv reads {REPORT_SCHEMA_VERSION}: upgrade ltv"
        )
    metrics = doc.get("metrics") or {}
    return EvaluationReport(
        directory=directory.resolve(),
        title=str(doc.get("title", "")),
        line=str(doc.get("line", "")),
        champion=doc.get("champion"),
        promoted=bool(doc.get("promoted", False)),
        reason=str(doc.get("reason", "")),
        candidates=list(doc.get("candidates") or metrics),
        metrics=metrics,
        lorenz=doc.get("lorenz") or {},
        calibration=doc.get("calibration") or {},
        coverage=doc.get("coverage") or {},
        lineage=doc.get("lineage") or {},
        schema_version=version,
    )
