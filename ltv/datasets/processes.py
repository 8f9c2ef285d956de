"""The true generative processes of the simulated business lines, and their oracle formulas.

Each business line is driven by a :class:`LineProcess`: a BG/NBD purchase process (Fader, Hardie & Lee
2005, "Counting your customers the easy way") and a Gamma-Gamma spend process (Fader, Hardie & Lee 2005,
"RFM and CLV: using iso-value curves for customer base analysis"), plus partial refunds and two customer
attributes that genuinely change behaviour:

* ``channel`` multiplies the purchase rate.  If ``lambda0 ~ Gamma(r, alpha)`` (rate ``alpha``) and the
  channel multiplier is ``c``, then ``lambda = c * lambda0 ~ Gamma(r, alpha / c)``: the segment's BG/NBD
  ``alpha`` is ``alpha / c``.
* ``country`` multiplies spend.  If ``nu0 ~ Gamma(q, gamma)`` and the country multiplier is ``k``, spend
  ``k * z`` with ``z ~ Gamma(p, nu0)`` is ``Gamma(p, nu0 / k)`` and ``nu0 / k ~ Gamma(q, gamma * k)``: the
  segment's Gamma-Gamma ``gamma`` is ``gamma * k``.

A *segment* is (business line, channel, country); within a segment the BG/NBD and Gamma-Gamma
assumptions hold exactly, so the closed-form conditional expectations below (the oracle) are the true
Bayes predictors.  :mod:`ltv.datasets.simulate` draws customers and transactions from these processes.

Units: every rate, age and horizon is in DAYS (``alpha`` and ``gamma`` above too: ``alpha`` is a rate
parameter in days, so the mean purchase rate is ``r / alpha`` purchases per day).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import hyp2f1

from ltv.errors import ConfigError


@dataclass(frozen=True)
class Level:
    """One value of a customer attribute: its name, its share of customers and its effect multiplier."""

    name: str
    share: float
    multiplier: float


@dataclass(frozen=True)
class LineProcess:
    """The true generative process of one business line.

    BG/NBD (days): ``lambda ~ Gamma(shape=r, rate=alpha)`` purchases/day, ``dropout ~ Beta(a, b)``.
    Gamma-Gamma: spend per purchase ``~ Gamma(shape=p, rate=nu)``, ``nu ~ Gamma(shape=q, rate=gamma)``
    (mean spend ``p * gamma / (q - 1)``, needs ``q > 1``).  ``refund_rate`` is the probability that a
    purchase is later partly refunded; the refunded fraction is ``Beta(refund_fraction_a,
    refund_fraction_b)`` and arrives ``Uniform(refund_delay_days)`` days after the purchase.
    ``channels`` multiply ``lambda``; ``countries`` multiply spend (see the module docstring).
    """

    name: str
    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma: float
    refund_rate: float = 0.05
    refund_fraction_a: float = 2.0
    refund_fraction_b: float = 3.0
    refund_delay_days: tuple[float, float] = (1.0, 14.0)
    channels: tuple[Level, ...] = (
        Level("organic", 0.50, 1.0),
        Level("paid", 0.35, 0.6),
        Level("referral", 0.15, 1.8),
    )
    countries: tuple[Level, ...] = (
        Level("US", 0.45, 1.0),
        Level("GB", 0.20, 0.9),
        Level("DE", 0.20, 1.2),
        Level("BR", 0.15, 0.5),
    )

    def __post_init__(self) -> None:
        problems = []
        for key in ("r", "alpha", "a", "b", "p", "q", "gamma", "refund_fraction_a", "refund_fraction_b"):
            if not getattr(self, key) > 0:
                problems.append(f"{key} must be > 0 (got {getattr(self, key)})")
        if not self.q > 1:
            problems.append(f"q must be > 1 for a finite mean spend (got {self.q})")
        if abs(self.a - 1.0) < 1e-6:
            problems.append("a must differ from 1 (the BG/NBD expectation divides by a - 1); use e.g. 1.01")
        if not 0 <= self.refund_rate < 1:
            problems.append(f"refund_rate must be in [0, 1) (got {self.refund_rate})")
        low, high = self.refund_delay_days
        if not 0 < low <= high:
            problems.append(f"refund_delay_days must be (low, high) with 0 < low <= high (got {self.refund_delay_days})")
        for attr in ("channels", "countries"):
            levels = getattr(self, attr)
            if not levels or any(lv.share <= 0 or lv.multiplier <= 0 for lv in levels):
                problems.append(f"{attr} must be non-empty with positive shares and multipliers")
        if problems:
            raise ConfigError(f"invalid LineProcess {self.name!r}: " + "; ".join(problems))

    @property
    def expected_refund_fraction(self) -> float:
        """Expected share of a purchase's amount that is refunded later: ``refund_rate * E[f]``."""
        mean_fraction = self.refund_fraction_a / (self.refund_fraction_a + self.refund_fraction_b)
        return self.refund_rate * mean_fraction


_PRESETS: tuple[LineProcess, ...] = (
    # CDNOW-like music retail (Fader et al. 2005 estimates, weeks converted to days: alpha 4.414 w).
    LineProcess("preset-retail", r=0.243, alpha=30.9, a=0.793, b=2.426, p=6.25, q=3.74, gamma=15.44,
                refund_rate=0.04),
    # Frequent, loyal, low basket (grocery-like).
    LineProcess("preset-grocery", r=0.9, alpha=45.0, a=1.3, b=9.0, p=4.0, q=5.0, gamma=40.0,
                refund_rate=0.02),
    # Rare, high-value purchases with more returns (fashion / luxury-like).
    LineProcess("preset-luxury", r=0.5, alpha=150.0, a=0.9, b=3.5, p=2.5, q=4.0, gamma=300.0,
                refund_rate=0.12, refund_fraction_a=3.0, refund_fraction_b=2.0),
)


def default_processes(business_lines: list[str]) -> list[LineProcess]:
    """One process per business line, cycling through a few realistic presets (retail, grocery, luxury).

    The process takes the line's name; its parameters depend only on the line's position in the list.
    """
    return [replace(_PRESETS[i % len(_PRESETS)], name=line) for i, line in enumerate(business_lines)]


# --------------------------------------------------------------------------------------------------
# Closed-form conditional expectations (the oracle)
# --------------------------------------------------------------------------------------------------


def bgnbd_p_alive(frequency, recency, tenure, r, alpha, a, b) -> np.ndarray:
    """P(active at ``tenure`` | x, t_x, T) under BG/NBD (Fader, Hardie & Lee 2005, eq. 11).

    ``frequency`` = x repeat purchases, ``recency`` = t_x (time of the last repeat purchase since the
    first one; 0 when x = 0), ``tenure`` = T (time since the first purchase); all in the units of
    ``alpha`` (days here).  Arrays broadcast, parameters may be per row.
    """
    x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, tenure))
    r, alpha, a, b = (np.asarray(v, dtype=float) for v in (r, alpha, a, b))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        log_odds = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        odds = np.where(x > 0, np.exp(log_odds), 0.0)
    return 1.0 / (1.0 + odds)


def bgnbd_conditional_expected_purchases(horizon, frequency, recency, tenure, r, alpha, a, b) -> np.ndarray:
    """E[Y(horizon) | x, t_x, T]: expected repeat purchases in (T, T + horizon] under BG/NBD.

    Fader, Hardie & Lee (2005), eq. 10, with the hypergeometric term rewritten by Euler's transformation
    ``2F1(r+x, b+x; a+b+x-1; z) = (1-z)^(a-1-r-x) 2F1(a+b-1-r, a-1; a+b+x-1; z)`` so that it stays finite
    for heavy buyers.  All times in the units of ``alpha`` (days here).  Requires ``a != 1``.
    """
    t = np.asarray(horizon, dtype=float)
    x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, tenure))
    r, alpha, a, b = (np.asarray(v, dtype=float) for v in (r, alpha, a, b))
    z = t / (alpha + big_t + t)
    one_minus_z = (alpha + big_t) / (alpha + big_t + t)
    hyper = one_minus_z ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    unconditional_alive = (a + b + x - 1) / (a - 1) * (1.0 - hyper)
    return unconditional_alive * bgnbd_p_alive(x, t_x, big_t, r, alpha, a, b)


def gamma_gamma_conditional_expected_spend(n_purchases, mean_spend, p, q, gamma) -> np.ndarray:
    """E[spend per purchase | n purchases with mean m] under Gamma-Gamma (Fader, Hardie & Lee 2005b, eq. 5).

    ``p * (gamma + n * m) / (p * n + q - 1)``: a weighted mean of the population mean ``p * gamma / (q - 1)``
    and the observed mean ``m``.  ``n`` counts the purchases whose amounts were averaged (``n = 0`` gives
    the population mean).
    """
    n, m = np.asarray(n_purchases, dtype=float), np.asarray(mean_spend, dtype=float)
    m = np.where(n > 0, m, 0.0)
    return p * (gamma + n * m) / (p * n + q - 1)


def latent_expected_purchases(horizon, alive, purchase_rate, dropout) -> np.ndarray:
    """E[purchases in the next ``horizon`` days | true lambda, dropout and alive state].

    An active customer's future purchases are ``min(Poisson(lambda * t), Geometric(dropout))``, whose
    mean is ``(1 - exp(-lambda * dropout * t)) / dropout``; zero when already inactive.
    """
    rate, drop = np.asarray(purchase_rate, dtype=float), np.asarray(dropout, dtype=float)
    return np.where(alive, -np.expm1(-rate * drop * horizon) / drop, 0.0)


__all__ = [
    "Level",
    "LineProcess",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_p_alive",
    "default_processes",
    "gamma_gamma_conditional_expected_spend",
    "latent_expected_purchases",
]
