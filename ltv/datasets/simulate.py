"""Synthetic transactions from known BTYD processes, with the oracle expected future spend.

Each business line is driven by a :class:`~ltv.datasets.processes.LineProcess` (BG/NBD purchases,
Gamma-Gamma spend, partial refunds, ``channel`` and ``country`` attributes that change behaviour; see
:mod:`ltv.datasets.processes` for the maths and the presets).  This module draws customers from those
processes, computes the ground truth with the oracle formulas and writes the CSV files.

Units: every rate, age and horizon is in DAYS.  Day boundaries are UTC midnights; ``as_of = D`` means
the end of day ``D``: the history is every event with ``event_ts < D + 1 day`` and the truth window is
``D + 1 day <= event_ts < D + 1 day + horizon_days``, i.e. the event dates ``D+1 .. D+horizon_days``.

The process per customer (days are continuous, timestamps are rounded to whole seconds):

1. acquisition (= first purchase) at a uniform time in ``[start, truth_as_of - min_tenure_days]``;
2. latent ``lambda ~ Gamma(r, alpha_segment)``, ``dropout ~ Beta(a, b)``, ``nu ~ Gamma(q, gamma_segment)``;
3. repeat purchases arrive as a Poisson process of rate ``lambda``; after each *repeat* purchase the
   customer becomes inactive with probability ``dropout`` (as in BG/NBD, not after the first one);
4. every purchase (the first included) spends ``z ~ Gamma(p, nu)``, rounded to cents;
5. with probability ``refund_rate`` a purchase is followed, ``refund_delay_days`` later (uniform), by a
   refund row of ``-f * z`` with ``f ~ Beta(refund_fraction_a, refund_fraction_b)``;
6. nothing is emitted after the end of day ``end``.

The process classes and oracle formulas are re-exported here (``from ltv.datasets.simulate import
LineProcess, default_processes, bgnbd_p_alive, ...`` keeps working).
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ltv.datasets.processes import (
    Level,
    LineProcess,
    bgnbd_conditional_expected_purchases,
    bgnbd_p_alive,
    default_processes,
    gamma_gamma_conditional_expected_spend,
    latent_expected_purchases,
)
from ltv.errors import ConfigError

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
TRANSACTION_COLUMNS = ["transaction_id", "customer_id", "event_ts", "amount", "business_line"]
CUSTOMER_COLUMNS = ["customer_id", "business_line", "channel", "country", "signup_date"]
GROUND_TRUTH_COLUMNS = [
    "business_line",
    "customer_id",
    "as_of",
    "horizon_days",
    "expected_spend",
    "expected_purchases",
    "p_alive",
    "expected_spend_latent",
    "expected_purchases_latent",
    "alive_latent",
    "realised_spend",
    "realised_purchases",
    "channel",
    "country",
    "frequency",
    "recency_days",
    "tenure_days",
    "mean_purchase",
    "segment_r",
    "segment_alpha",
    "segment_a",
    "segment_b",
    "segment_p",
    "segment_q",
    "segment_gamma",
    "expected_refund_fraction",
]


@dataclass
class SimulationResult:
    """Output of :func:`simulate`.

    ``transactions``: the input contract (``transaction_id``, ``customer_id``, ``event_ts`` as UTC
    ``Timestamp`` with a time of day, ``amount`` in currency units with 2 decimals, negative for refunds,
    ``business_line``).

    ``customers``: ``customer_id``, ``business_line``, ``channel``, ``country``, ``signup_date`` (date; on or
    before the first purchase).

    ``ground_truth``: one row per customer (all have their first purchase before ``as_of``):

    * ``as_of`` (date; its end is the cut), ``horizon_days``: the window is event dates
      ``as_of + 1 .. as_of + horizon_days`` (UTC).
    * ``expected_spend``: the ORACLE, E[net spend in the window | observed history, true segment params]
      = ``expected_purchases * E_GG[spend | all observed purchase amounts] * (1 - expected_refund_fraction)``.
      The history is ``frequency`` (repeat purchases), ``recency_days`` (last repeat purchase minus first
      purchase, exact), ``tenure_days`` (cut minus first purchase, exact) and ``mean_purchase`` (mean gross
      amount of all ``frequency + 1`` purchases, refunds excluded).  The segment (line x channel x country)
      params are in the ``segment_*`` columns (alpha and gamma in days / currency units, see the module
      docstring).
    * ``expected_purchases`` (BG/NBD eq. 10) and ``p_alive`` (eq. 11) of that oracle.
    * ``expected_spend_latent``: E[net spend in the window | the customer's TRUE lambda, dropout, nu and
      whether they are still active at the cut] = ``expected_purchases_latent * p / nu *
      (1 - expected_refund_fraction)``; ``alive_latent`` is that true state.
    * ``realised_spend``: what the simulation produced: sum of ``amount`` of the customer's rows dated in
      the window (purchases and refunds); ``realised_purchases``: number of purchase rows in the window.

    Both expectations count the refunds *of the window's purchases*; realised spend counts refunds *dated
    in* the window.  The two differ only at the window's edges (refunds of purchases made up to
    ``refund_delay_days`` before the cut, minus those pushed past the window's end): a relative effect of
    order ``expected_refund_fraction * refund_delay / horizon_days``, well under 0.1% for the presets.
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    ground_truth: pd.DataFrame

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``transactions.csv``, ``customers.csv``, ``ground_truth.csv`` into ``out_dir``.

        ``event_ts`` is written as ISO 8601 UTC (``2021-03-04T12:34:56Z``), dates as ``YYYY-MM-DD``.
        Deterministic: the same result gives byte-identical files.  Returns ``{name: path}``.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        transactions = self.transactions.copy()
        transactions["event_ts"] = transactions["event_ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        paths = {name: out / f"{name}.csv" for name in ("transactions", "customers", "ground_truth")}
        transactions.to_csv(paths["transactions"], index=False, float_format="%.2f", lineterminator="\n")
        self.customers.to_csv(paths["customers"], index=False, lineterminator="\n")
        self.ground_truth.to_csv(paths["ground_truth"], index=False, float_format="%.6f", lineterminator="\n")
        log.info("wrote simulation to %s", out)
        return paths


@dataclass
class _LineDraw:
    """Per-customer latent state and observed history of one line (internal)."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    ground_truth: pd.DataFrame


def simulate(
    customers: int,
    business_lines: list[str],
    seed: int,
    start: date,
    end: date,
    truth_as_of: date,
    truth_horizon_days: int = 365,
    processes: list[LineProcess] | None = None,
    *,
    min_tenure_days: int = 30,
) -> SimulationResult:
    """Simulate ``customers`` customers in EACH of ``business_lines`` (ids ``c000000``.. within a line).

    Events run from ``start`` (00:00 UTC) to the end of day ``end``.  Customers are acquired (first
    purchase) uniformly in ``[start, truth_as_of - min_tenure_days]``.  The ground truth is computed for
    ``as_of = truth_as_of`` and ``horizon_days = truth_horizon_days``; the window must end by ``end``.
    ``processes`` defaults to :func:`default_processes`; if given, one per line, matched by name.
    The result is a deterministic function of the arguments (each line draws from its own stream seeded
    by ``seed`` and the line's name).
    """
    lines = list(business_lines)
    _check_arguments(customers, lines, start, end, truth_as_of, truth_horizon_days, min_tenure_days)
    by_name = {proc.name: proc for proc in (processes if processes is not None else default_processes(lines))}
    missing = [line for line in lines if line not in by_name]
    if missing:
        raise ConfigError(f"no LineProcess for business line(s) {missing} (processes given: {sorted(by_name)})")

    draws = [
        _simulate_line(by_name[line], customers, seed, start, end, truth_as_of, truth_horizon_days, min_tenure_days)
        for line in lines
    ]
    transactions = pd.concat([d.transactions for d in draws], ignore_index=True)
    transactions = transactions.sort_values(["event_ts", "transaction_id"], kind="mergesort", ignore_index=True)
    result = SimulationResult(
        transactions=transactions[TRANSACTION_COLUMNS],
        customers=pd.concat([d.customers for d in draws], ignore_index=True)[CUSTOMER_COLUMNS],
        ground_truth=pd.concat([d.ground_truth for d in draws], ignore_index=True)[GROUND_TRUTH_COLUMNS],
    )
    log.info("simulated %d customers per line, %d transaction rows over %d line(s)",
             customers, len(result.transactions), len(lines))
    return result


def _check_arguments(customers, lines, start, end, truth_as_of, horizon, min_tenure_days) -> None:
    if customers < 1:
        raise ConfigError(f"customers must be >= 1 (got {customers})")
    if not lines or any(not line for line in lines):
        raise ConfigError(f"give at least one non-empty business line name (got {lines})")
    if len(set(lines)) != len(lines):
        raise ConfigError(f"business lines must be unique (got {lines})")
    if horizon < 1:
        raise ConfigError(f"truth_horizon_days must be >= 1 (got {horizon})")
    if (truth_as_of - start).days < min_tenure_days:
        raise ConfigError(
            f"truth_as_of {truth_as_of} must be at least {min_tenure_days} days after start {start}; "
            "move start earlier or lower min_tenure_days"
        )
    window_end = truth_as_of.toordinal() + horizon
    if window_end > end.toordinal():
        raise ConfigError(
            f"the truth window ends on {date.fromordinal(window_end)}, after end {end}; "
            f"set end >= truth_as_of + {horizon} days or shorten the horizon"
        )


def _line_seed(seed: int, line: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(line.encode("utf-8"))])


def _draw_levels(rng: np.random.Generator, levels: tuple[Level, ...], n: int) -> np.ndarray:
    shares = np.array([lv.share for lv in levels], dtype=float)
    return rng.choice(len(levels), size=n, p=shares / shares.sum())


def _simulate_line(
    proc: LineProcess,
    n: int,
    seed: int,
    start: date,
    end: date,
    truth_as_of: date,
    horizon: int,
    min_tenure_days: int,
) -> _LineDraw:
    """Simulate one line; all times are days since ``start`` 00:00 UTC, rounded to whole seconds."""
    rng = np.random.default_rng(_line_seed(seed, proc.name))
    end_cut = float((end - start).days + 1)
    as_of_cut = float((truth_as_of - start).days + 1)
    window_end = as_of_cut + horizon
    acquisition_days = (truth_as_of - start).days + 1 - min_tenure_days

    # Attributes, acquisition and latent traits.
    channel_idx = _draw_levels(rng, proc.channels, n)
    country_idx = _draw_levels(rng, proc.countries, n)
    channel_mult = np.array([lv.multiplier for lv in proc.channels])[channel_idx]
    country_mult = np.array([lv.multiplier for lv in proc.countries])[country_idx]
    first_time = _to_seconds(rng.integers(0, acquisition_days, size=n) + rng.random(n))
    signup_lag = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 31, size=n))
    segment_alpha = proc.alpha / channel_mult
    segment_gamma = proc.gamma * country_mult
    rate = rng.gamma(proc.r, 1.0 / segment_alpha)
    dropout = rng.beta(proc.a, proc.b, size=n)
    nu = rng.gamma(proc.q, 1.0 / segment_gamma)

    # Repeat purchases: min(Poisson(rate * life), Geometric(dropout)) arrivals, placed as the first
    # order statistics of the Poisson count's uniform arrival times.
    life = end_cut - first_time
    arrivals = rng.poisson(rate * life)
    purchases_before_death = rng.geometric(dropout)
    repeats = np.minimum(arrivals, purchases_before_death)
    owner = np.repeat(np.arange(n), repeats)
    gaps = rng.exponential(size=int(repeats.sum()))
    cumulative = np.cumsum(gaps)
    group_start = np.concatenate(([0], np.cumsum(repeats)[:-1]))
    offset = np.where(repeats > 0, np.concatenate(([0.0], cumulative))[group_start], 0.0)
    partial = cumulative - np.repeat(offset, repeats)
    last_partial = np.zeros(n)
    has_repeat = repeats > 0
    last_partial[has_repeat] = partial[np.cumsum(repeats)[has_repeat] - 1]
    remainder = rng.gamma(arrivals - repeats + 1.0)
    scale = life / (last_partial + remainder)
    repeat_time = _to_seconds(first_time[owner] + partial * scale[owner])
    repeat_time = np.minimum(repeat_time, end_cut - 1.0 / SECONDS_PER_DAY)

    # All purchases (first + repeats), spend, refunds.
    buyer = np.concatenate((np.arange(n), owner))
    purchase_time = np.concatenate((first_time, repeat_time))
    is_repeat = np.concatenate((np.zeros(n, bool), np.ones(owner.size, bool)))
    spend = np.maximum(np.round(rng.gamma(proc.p, 1.0 / nu[buyer]), 2), 0.01)
    refunded = rng.random(buyer.size) < proc.refund_rate
    fraction = rng.beta(proc.refund_fraction_a, proc.refund_fraction_b, size=buyer.size)
    low, high = proc.refund_delay_days
    refund_time = _to_seconds(purchase_time + rng.uniform(low, high, size=buyer.size))
    refund_amount = -np.round(fraction * spend, 2)
    keep_refund = refunded & (refund_time < end_cut) & (refund_amount <= -0.01)

    row_owner = np.concatenate((buyer, buyer[keep_refund]))
    row_time = np.concatenate((purchase_time, refund_time[keep_refund]))
    row_amount = np.concatenate((spend, refund_amount[keep_refund]))
    row_is_purchase = np.concatenate((np.ones(buyer.size, bool), np.zeros(int(keep_refund.sum()), bool)))

    ids = _customer_ids(n)
    transactions = _transactions_frame(proc.name, ids, row_owner, row_time, row_amount, start)

    # Observed history at the cut and the realised window.
    observed = is_repeat & (purchase_time < as_of_cut)
    frequency = np.bincount(buyer[observed], minlength=n)
    last_repeat = np.full(n, -np.inf)
    np.maximum.at(last_repeat, buyer[observed], purchase_time[observed])
    recency = np.where(frequency > 0, last_repeat - first_time, 0.0)
    tenure = as_of_cut - first_time
    seen = purchase_time < as_of_cut
    mean_purchase = np.bincount(buyer[seen], weights=spend[seen], minlength=n) / (frequency + 1)
    in_window = (row_time >= as_of_cut) & (row_time < window_end)
    realised_spend = np.round(np.bincount(row_owner[in_window], weights=row_amount[in_window], minlength=n), 2)
    realised_purchases = np.bincount(row_owner[in_window & row_is_purchase], minlength=n)
    alive = frequency < purchases_before_death

    # Oracle and latent expectations.
    keep = 1.0 - proc.expected_refund_fraction
    expected_purchases = bgnbd_conditional_expected_purchases(
        horizon, frequency, recency, tenure, proc.r, segment_alpha, proc.a, proc.b
    )
    p_alive = bgnbd_p_alive(frequency, recency, tenure, proc.r, segment_alpha, proc.a, proc.b)
    expected_value = gamma_gamma_conditional_expected_spend(frequency + 1, mean_purchase, proc.p, proc.q, segment_gamma)
    latent_purchases = latent_expected_purchases(horizon, alive, rate, dropout)

    channel = np.array([lv.name for lv in proc.channels], dtype=object)[channel_idx]
    country = np.array([lv.name for lv in proc.countries], dtype=object)[country_idx]
    first_date = np.floor(first_time).astype(np.int64) - signup_lag
    signup = [date.fromordinal(start.toordinal() + int(d)).isoformat() for d in first_date]
    customers_frame = pd.DataFrame({
        "customer_id": ids, "business_line": proc.name, "channel": channel, "country": country,
        "signup_date": signup,
    })
    truth = pd.DataFrame({
        "business_line": proc.name,
        "customer_id": ids,
        "as_of": truth_as_of.isoformat(),
        "horizon_days": int(horizon),
        "expected_spend": expected_purchases * expected_value * keep,
        "expected_purchases": expected_purchases,
        "p_alive": p_alive,
        "expected_spend_latent": latent_purchases * proc.p / nu * keep,
        "expected_purchases_latent": latent_purchases,
        "alive_latent": alive,
        "realised_spend": realised_spend,
        "realised_purchases": realised_purchases,
        "channel": channel,
        "country": country,
        "frequency": frequency,
        "recency_days": recency,
        "tenure_days": tenure,
        "mean_purchase": mean_purchase,
        "segment_r": proc.r,
        "segment_alpha": segment_alpha,
        "segment_a": proc.a,
        "segment_b": proc.b,
        "segment_p": proc.p,
        "segment_q": proc.q,
        "segment_gamma": segment_gamma,
        "expected_refund_fraction": proc.expected_refund_fraction,
    })
    return _LineDraw(customers=customers_frame, transactions=transactions, ground_truth=truth)


def _to_seconds(days: np.ndarray) -> np.ndarray:
    """Round times in days to whole seconds (what a timestamp can hold)."""
    return np.round(np.asarray(days) * SECONDS_PER_DAY) / SECONDS_PER_DAY


def _customer_ids(n: int) -> np.ndarray:
    width = max(6, len(str(n - 1)))
    return np.array([f"c{i:0{width}d}" for i in range(n)], dtype=object)


def _transactions_frame(line, ids, owner, time_days, amount, start: date) -> pd.DataFrame:
    """Rows sorted by (customer, time); ``transaction_id`` = ``<line>-<customer>-<k>`` in that order."""
    order = np.lexsort((amount < 0, time_days, owner))
    owner, time_days, amount = owner[order], time_days[order], amount[order]
    counts = np.bincount(owner, minlength=len(ids))
    sequence = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    epoch = int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp())
    seconds = epoch + np.round(time_days * SECONDS_PER_DAY).astype(np.int64)
    customer = ids[owner]
    transaction_id = [f"{line}-{c}-{k:05d}" for c, k in zip(customer, sequence)]
    return pd.DataFrame({
        "transaction_id": transaction_id,
        "customer_id": customer,
        "event_ts": pd.to_datetime(seconds, unit="s", utc=True),
        "amount": amount,
        "business_line": line,
    })


__all__ = [
    "CUSTOMER_COLUMNS", "GROUND_TRUTH_COLUMNS", "SECONDS_PER_DAY", "TRANSACTION_COLUMNS", "Level", "LineProcess",
    "SimulationResult", "bgnbd_conditional_expected_purchases", "bgnbd_p_alive", "default_processes",
    "gamma_gamma_conditional_expected_spend", "latent_expected_purchases", "simulate",
]
