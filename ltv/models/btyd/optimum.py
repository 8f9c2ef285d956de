"""Minimise a smooth objective over log-parameters to a stated tolerance, and check that it did.

Every BTYD fit (:mod:`ltv.models.btyd.fit`) goes through :func:`minimize_log_params`, in two stages:

1. BFGS from the caller's start, kept to a box of log-parameters by evaluating the objective
   at the nearest point of the box plus :data:`OUTSIDE_PENALTY` times the squared distance to
   it. (Not scipy's L-BFGS-B: with scipy 1.17 and OpenBLAS's two threads it ran a 4-parameter
   fit ten times slower than with one, on a busy 2-core machine.) It gets near the optimum
   quickly, but where it *stops* is not trusted: its stopping tests compare
   gradients and objective changes with fixed thresholds, so on a flat ridge (Pareto/NBD's
   (s, beta)) the stop depends on floating-point details -- the order of the rows, how they were
   condensed, the machine's libm -- by up to 1e-3 relative. (The previous Pareto/NBD fit
   trusted L-BFGS-B's stop: on a fresh machine it gave r = 0.55328 on CDNOW's condensed
   patterns and 0.55389 per customer; the optimum is r = 0.5532755.)
2. Newton's method from that point (steps halved until the objective does not increase; where
   the Hessian is not positive definite, shifted until it is) until the Newton step ``H^-1 g``
   is at most :data:`PARAM_TOL` in every coordinate with ``H`` positive definite.

Derivatives: the caller's analytic gradient when it has one (BG/NBD, Gamma-Gamma), the Hessian
then by central differences of it; otherwise (Pareto/NBD, whose hyp2f1 terms have no
closed-form derivative in r and s) central differences of the objective for stage 1 and a
fourth-order central-difference gradient (error about 1e-12 on a per-customer objective) and a
central-difference Hessian for stage 2.

**Convergence criterion** (the stated tolerance): at the returned log-parameters the Hessian is
positive definite and the Newton step -- the local quadratic model's distance to the minimum --
is below ``PARAM_TOL = 1e-6`` in every coordinate. Log-parameters, so each *parameter* is within
a relative 1e-6 of the objective's minimum, whatever the data's layout. (The last, tiny Newton
step is then taken too, so in practice the distance is far smaller.) The gradient's largest
component there is reported as well (``gradient_norm``).

Anything else is reported as *not converged*, with the reason: a Hessian that is not positive
definite (a saddle, or a ridge with no maximum), a minimum on the edge of the box (parameters
running off to 0 or infinity), Newton steps that stop decreasing the objective, or no convergence
within :data:`MAX_NEWTON_STEPS`. The caller decides what to do with that (the BTYD fits try the
next penalizer, then raise :class:`~ltv.models.btyd.fit.BTYDFitError`); nothing here returns an
early stop as if it were the optimum.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

#: converged when the Newton step (log-parameters) is at most this in every coordinate
PARAM_TOL = 1e-6
#: Newton iterations after stage 1 before giving up
MAX_NEWTON_STEPS = 50
#: iterations of the BFGS stage (it stops far earlier on any BTYD problem seen so far)
MAX_ITER = 2000
#: steps (log-parameters) of the finite differences: stage 1's gradient, the Newton stage's
#: fourth-order gradient, the Hessian from values, the Hessian from an analytic gradient
STAGE1_STEP, GRADIENT_STEP, HESSIAN_STEP, JACOBIAN_STEP = 1e-6, 1e-3, 1e-3, 1e-5
#: a minimum closer than this (log-parameters) to the box's edge is "ran off", not a minimum
BOUND_MARGIN = 1e-3
#: objective increases below this (relative) are rounding, not an uphill step
ROUNDING = 1e-12
#: stage 1 minimises the objective at the nearest point of the box plus this times the squared
#: distance (log-parameters) to the box
OUTSIDE_PENALTY = 1.0
#: what the objective should return where it is not finite
NON_FINITE = 1e12

Objective = Callable[[np.ndarray], float]
Gradient = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Optimum:
    """Result of :func:`minimize_log_params`.

    Attributes:
        log_params: the returned point (log-parameters).
        value: the objective there.
        converged: whether the criterion of the module docstring holds there.
        newton_step: largest component of the last Newton step ``H^-1 g`` (inf when unknown).
        gradient_norm: largest gradient component at ``log_params`` (inf when unknown).
        evaluations: objective and gradient evaluations used.
        reason: why not converged ("" when converged).
    """

    log_params: np.ndarray
    value: float
    converged: bool
    newton_step: float
    gradient_norm: float
    evaluations: int
    reason: str = ""


class _Counted:
    """The objective (made finite) and its gradient (analytic, or None), counted."""

    def __init__(self, objective: Objective, gradient: Gradient | None) -> None:
        self.objective = objective
        self.analytic = gradient
        self.calls = 0

    def __call__(self, x: np.ndarray) -> float:
        self.calls += 1
        with np.errstate(all="ignore"):
            value = float(self.objective(np.asarray(x, dtype=float)))
        return value if np.isfinite(value) and value < NON_FINITE else NON_FINITE

    def gradient(self, x: np.ndarray) -> np.ndarray:
        if self.analytic is None:
            raise TypeError("no analytic gradient")
        self.calls += 1
        with np.errstate(all="ignore"):
            return np.asarray(self.analytic(np.asarray(x, dtype=float)), dtype=float)

    def rough_gradient(self, x: np.ndarray) -> np.ndarray:
        """Stage 1's: analytic, or central differences; non-finite entries as 0."""
        value = self.gradient(x) if self.analytic else central_gradient(self, x)
        return np.where(np.isfinite(value), value, 0.0)

    def accurate_gradient(self, x: np.ndarray) -> np.ndarray:
        return self.gradient(x) if self.analytic else fourth_order_gradient(self, x)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return jacobian_hessian(self.gradient, x) if self.analytic else central_hessian(self, x)


def central_gradient(fun: Objective, x: np.ndarray, step: float = STAGE1_STEP) -> np.ndarray:
    """Second-order central differences."""
    out = np.zeros_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = step
        out[i] = (fun(x + e) - fun(x - e)) / (2 * step)
    return out


def fourth_order_gradient(fun: Objective, x: np.ndarray, step: float = GRADIENT_STEP) -> np.ndarray:
    """Five-point central differences: error O(step^4) + rounding O(eps |f| / step)."""
    out = np.zeros_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = step
        out[i] = (fun(x - 2 * e) - 8 * fun(x - e) + 8 * fun(x + e) - fun(x + 2 * e)) / (12 * step)
    return out


def central_hessian(fun: Objective, x: np.ndarray, step: float = HESSIAN_STEP) -> np.ndarray:
    """Central second differences of the objective's values (symmetric by construction)."""
    n = len(x)
    unit = np.eye(n) * step
    centre = fun(x)
    out = np.zeros((n, n))
    for i in range(n):
        out[i, i] = (fun(x + unit[i]) - 2 * centre + fun(x - unit[i])) / step**2
        for j in range(i):
            out[i, j] = out[j, i] = (
                fun(x + unit[i] + unit[j]) - fun(x + unit[i] - unit[j])
                - fun(x - unit[i] + unit[j]) + fun(x - unit[i] - unit[j])
            ) / (4 * step**2)
    return out


def jacobian_hessian(gradient: Gradient, x: np.ndarray, step: float = JACOBIAN_STEP) -> np.ndarray:
    """Central differences of an analytic gradient, symmetrised."""
    columns = [(gradient(x + e) - gradient(x - e)) / (2 * step) for e in np.eye(len(x)) * step]
    out = np.array(columns)
    return (out + out.T) / 2


def minimize_log_params(objective: Objective, start: Sequence[float] | np.ndarray,
                        bounds: Sequence[tuple[float, float]], gradient: Gradient | None = None) -> Optimum:
    """Minimise ``objective`` over log-parameters within ``bounds`` (see the module docstring).

    ``gradient``: the objective's analytic gradient by the log-parameters, if known.
    """
    fun = _Counted(objective, gradient)
    low, high = np.array(bounds, dtype=float).T

    def boxed(x: np.ndarray) -> float:
        inside = np.clip(x, low, high)
        return fun(inside) + OUTSIDE_PENALTY * float(np.sum((x - inside) ** 2))

    def boxed_gradient(x: np.ndarray) -> np.ndarray:
        inside = np.clip(x, low, high)
        return np.where(x == inside, fun.rough_gradient(inside), 0.0) + 2 * OUTSIDE_PENALTY * (x - inside)

    first = optimize.minimize(
        boxed, np.clip(np.asarray(start, dtype=float), low, high), jac=boxed_gradient,
        method="BFGS", options={"maxiter": MAX_ITER, "gtol": 1e-8},
    )
    return _newton(fun, np.clip(np.asarray(first.x, dtype=float), low, high), low, high)


def _newton(fun: _Counted, x: np.ndarray, low: np.ndarray, high: np.ndarray) -> Optimum:
    """Damped Newton steps until the criterion holds (see the module docstring) or cannot."""
    step_size = gradient_size = float("inf")
    reason = f"no convergence within {MAX_NEWTON_STEPS} Newton steps"
    for _ in range(MAX_NEWTON_STEPS):
        value = fun(x)
        gradient = fun.accurate_gradient(x)
        gradient_size = float(np.max(np.abs(gradient)))
        if value >= NON_FINITE or not np.isfinite(gradient_size):
            reason = "the objective or its gradient is not finite there"
            break
        step, convex = _newton_step(fun.hessian(x), gradient)
        step_size = float(np.max(np.abs(step)))
        if not np.isfinite(step_size):
            reason = "the Hessian is not finite there"
            break
        outward = _edge(x, low, high, step)
        if outward:
            reason = f"minimum beyond the edge of the box (coordinates {outward})"
            break
        if convex and step_size <= PARAM_TOL:
            final = np.clip(x + step, low, high)  # one more (quadratically convergent) step is nearly free
            if fun(final) <= value + ROUNDING * max(1.0, abs(value)):
                x = final
            reason = f"minimum on the edge of the box (coordinates {_edge(x, low, high)})" if _edge(x, low, high) else ""
            break
        moved = _damped_step(fun, x, step, value, low, high)
        if moved is None:
            if not convex:
                reason = "the Hessian is not positive definite (a saddle or a ridge, no minimum)"
            else:
                reason = "Newton steps stopped decreasing the objective"
            break
        x = moved
    return Optimum(x, fun(x), not reason, step_size, gradient_size, fun.calls, reason)


def _newton_step(hessian: np.ndarray, gradient: np.ndarray) -> tuple[np.ndarray, bool]:
    """(-H^-1 g, True) when H is positive definite; otherwise (a descent step with H shifted to
    be positive definite, False): away from the minimum, where the objective is not convex."""
    if not np.all(np.isfinite(hessian)):
        return np.full_like(gradient, np.inf), False
    try:
        return -linalg.cho_solve(linalg.cho_factor(hessian), gradient), True
    except linalg.LinAlgError:
        eigenvalues = np.linalg.eigvalsh(hessian)
        shift = -eigenvalues[0] + 1e-3 * max(1.0, float(np.max(np.abs(eigenvalues))))
        return -np.linalg.solve(hessian + shift * np.eye(len(gradient)), gradient), False


def _edge(x: np.ndarray, low: np.ndarray, high: np.ndarray, step: np.ndarray | None = None) -> list[int]:
    """Coordinates within :data:`BOUND_MARGIN` of the box's edge (with ``step``: and it points out)."""
    at_low, at_high = x - low < BOUND_MARGIN, high - x < BOUND_MARGIN
    if step is not None:
        at_low, at_high = at_low & (step < 0), at_high & (step > 0)
    return np.flatnonzero(at_low | at_high).tolist()


def _damped_step(fun: _Counted, x: np.ndarray, step: np.ndarray, value: float, low: np.ndarray,
                 high: np.ndarray) -> np.ndarray | None:
    """``x + t step`` (inside the box) for the largest ``t`` in 1, 1/2, ..., 1/1024 that does not
    increase the objective beyond rounding; None when none does."""
    allowed = value + ROUNDING * max(1.0, abs(value))
    fraction = 1.0
    while fraction >= 1.0 / 1024:
        candidate = np.clip(x + fraction * step, low, high)
        if fun(candidate) <= allowed:
            return candidate
        fraction /= 2
    return None
