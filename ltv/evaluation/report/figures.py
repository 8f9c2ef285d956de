"""The evaluation report's three figures: Lorenz curves, decile calibration, distributions.

Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure`` + Agg canvas), so
nothing here touches pyplot's global state or the caller's backend. Each ``plot_*`` function takes
``curves`` (``{model_name: {"actual", "predicted", ...}}``, per-customer spend in currency units
over the horizon), the business line (for the title) and the PNG path to write, and returns it.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ltv.evaluation.metrics import decile_calibration, lorenz_curve
from ltv.evaluation.report.payload import Curves

logger = logging.getLogger(__name__)

DPI = 100
_MAX_CURVE_POINTS = 2_000  # Lorenz curves are subsampled to this many points for plotting


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


__all__ = ["DPI", "plot_calibration", "plot_distribution", "plot_lorenz"]
