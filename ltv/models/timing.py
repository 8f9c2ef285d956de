"""When in the horizon the forecast spend falls, and what it is worth today.

The horizon of ``H`` days is cut into ``K`` equal periods of about a month
(:func:`period_edges`: ``K = ceil(H / 30)``). A model says which share of its expected spend
falls in each period (:meth:`ltv.models.base.LTVModel.spend_shares`):

* BTYD models: the expected purchase path, ``E[Y(t_k)] - E[Y(t_{k-1})]`` over ``E[Y(H)]``, from
  the same conditional expectation as ``predicted_purchases`` ([FHL05] eq. (10), [N009] eq. (41)),
  so a customer likely to have dropped out spends early and one still active spends evenly.
  Gamma-Gamma's spend per purchase does not change with time, so spend shares = purchase shares.
* ``hybrid``: the path of the BTYD it is anchored to (its own forecast's total, that path's shape).
* ``xgboost`` and the baseline have no notion of timing: equal shares (spend uniform over the
  horizon).

Discounting convention: ``discount_rate`` ``r`` is an annual effective rate, continuously
compounded (force of interest ``delta = ln(1 + r)``), with 365-day years; spend is uniform within
a period, so the present value of 1 spent over period ``(a, b]`` (in years) is
``(e^{-delta a} - e^{-delta b}) / (delta (b - a))`` (:func:`present_value_weights`). With equal
shares this is the uniform spread's factor, ``(1 - (1+r)^-h) / (h ln(1+r))`` with ``h = H / 365``.
A customer's discount factor is ``sum_k share_k w_k``; ``discounted_ltv = predicted_ltv x factor``.
"""
from __future__ import annotations

import math

import numpy as np

#: the length the periods are cut to at most (days)
PERIOD_DAYS = 30
DAYS_PER_YEAR = 365.0


def period_edges(horizon_days: int, period_days: int = PERIOD_DAYS) -> np.ndarray:
    """``K + 1`` edges from 0 to ``horizon_days`` (days), ``K = ceil(horizon_days / period_days)`` equal periods."""
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    if period_days <= 0:
        raise ValueError(f"period_days must be positive, got {period_days}")
    periods = max(1, math.ceil(horizon_days / period_days))
    return np.linspace(0.0, float(horizon_days), periods + 1)


def check_edges(edges_days: np.ndarray, horizon_days: float) -> np.ndarray:
    """``edges_days`` as floats; ValueError unless they rise strictly from 0 to ``horizon_days``."""
    edges = np.asarray(edges_days, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or edges[0] != 0 or edges[-1] != horizon_days or (np.diff(edges) <= 0).any():
        raise ValueError(f"period edges must rise from 0 to horizon_days={horizon_days}, got {edges.tolist()}")
    return edges


def present_value_weights(edges_days: np.ndarray, annual_rate: float) -> np.ndarray:
    """Present value of 1 spent uniformly over each period ``(edges[k], edges[k+1]]`` (all 1 at rate 0)."""
    if not math.isfinite(annual_rate) or annual_rate < 0:
        raise ValueError(f"discount rate must be a finite number >= 0, got {annual_rate}")
    edges = np.asarray(edges_days, dtype=float) / DAYS_PER_YEAR
    if annual_rate == 0:
        return np.ones(len(edges) - 1)
    delta = math.log1p(annual_rate)
    start, end = edges[:-1], edges[1:]
    return (np.exp(-delta * start) - np.exp(-delta * end)) / (delta * (end - start))


def uniform_shares(rows: int, edges_days: np.ndarray) -> np.ndarray:
    """Each period's share of the horizon's length, for every row (spend uniform over the horizon)."""
    edges = np.asarray(edges_days, dtype=float)
    widths = np.diff(edges) / (edges[-1] - edges[0])
    return np.tile(widths, (rows, 1))


def shares_from_path(cumulative: np.ndarray, edges_days: np.ndarray) -> np.ndarray:
    """Per-period shares from a cumulative expected path ``(rows, K + 1)`` that starts at 0.

    Rows whose path ends at 0 (nothing expected) get uniform shares: their value is 0 anyway.
    Raises ValueError when a path is not finite or decreases (that is a broken model, not data).
    """
    cumulative = np.asarray(cumulative, dtype=float)
    steps = np.diff(cumulative, axis=1)
    if not np.isfinite(cumulative).all():
        bad = np.flatnonzero(~np.isfinite(cumulative).all(axis=1))
        raise ValueError(f"non-finite expected purchase path in {len(bad)} rows (first at {bad[:5].tolist()})")
    # the path is a difference of closed forms: allow their rounding, never a real decrease
    tolerance = 1e-9 * np.maximum(np.abs(cumulative[:, -1:]), 1e-300)
    if (steps < -tolerance).any():
        bad = np.flatnonzero((steps < -tolerance).any(axis=1))
        raise ValueError(f"expected purchase path decreases in {len(bad)} rows (first at {bad[:5].tolist()})")
    steps = np.maximum(steps, 0.0)
    total = steps.sum(axis=1, keepdims=True)
    shares = uniform_shares(len(cumulative), edges_days)
    positive = total[:, 0] > 0
    shares[positive] = steps[positive] / total[positive]
    return shares


def discount_factors(shares: np.ndarray, edges_days: np.ndarray, annual_rate: float) -> np.ndarray:
    """Per row: present value of 1 of the horizon's spend, spread over the periods as ``shares``."""
    return np.asarray(shares, dtype=float) @ present_value_weights(edges_days, annual_rate)
