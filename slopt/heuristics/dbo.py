"""Dung Beetle Optimizer (DBO) after Xue & Shen (2022) as a pymoo ``Algorithm``.

Usage::

    from pymoo.optimize import minimize
    from slopt.heuristics import DBO

    res = minimize(problem, DBO(pop_size=30), ("n_gen", 100), seed=1)

The population is split by index into four fixed roles (Xue & Shen 2022): 20 % ball-rollers,
20 % brood balls, about 23 % small beetles and the rest thieves (6/6/7/11 at N = 30).  Every
generation each beetle proposes a new position from its personal best; the proposal replaces
the personal best one-to-one when it is better (feasibility first: constraint violation CV,
then F).  All update equations are pure module-level functions of numpy arrays so they can be
tested alone; all randomness comes from the ``np.random.Generator`` passed in (the algorithm
passes pymoo's ``self.random_state``, seeded by ``minimize(..., seed=s)``).

Variants
--------
``variant="paper"``
    Faithful: the brood and small-beetle boxes are ``[X*(1-R), X*(1+R)]`` (elementwise
    min/max of the two ends, clipped to the bounds).  These boxes scale with the coordinate
    values, i.e. they shrink toward the origin, which biases the search toward x = 0.
``variant="unbiased"`` (default)
    Translation invariant. Boxes ``X* ± R |X* - X_b|`` clipped to the bounds: the paper's
    ``|X*|`` (the distance to the origin, which is the optimum of the standard test
    functions) is replaced by the distance to the global best, which shrinks wherever the
    optimum lies. The spawning box has an annealed floor ``0.1 R^2 (ub - lb)``, the foraging
    box a floor of 0.1 % of the range (:func:`unbiased_spreads`). Rollers move by
    ``alpha*k*(x - x_prev) + b*(x - X_worst)``
    (momentum and a push away from the worst) instead of ``alpha*k*x_prev + b*|x - X_worst|``.
    Thieves are unchanged (they are translation invariant already). A first default with boxes
    ``X* ± R (ub - lb)/2`` stayed close to random search and ranked last; see docs/dbo.md.
"""

from __future__ import annotations

import math

import numpy as np
from pymoo.core.algorithm import Algorithm
from pymoo.core.initialization import Initialization
from pymoo.core.population import Population
from pymoo.operators.sampling.rnd import FloatRandomSampling
from pymoo.util.display.single import SingleObjectiveOutput

from slopt.errors import InstanceError
from slopt.checks import as_int

VARIANTS = ("paper", "unbiased")

# paper constants (Xue & Shen 2022, section 3)
ROLL_PROB = 0.9      # probability that a roller rolls (else it dances)
ALPHA_DEV_PROB = 0.1  # probability that alpha = -1 (deviation from the straight line)
K_DEFLECT = 0.1      # k
B_LIGHT = 0.3        # b
S_THIEF = 0.5        # S


# ---------------------------------------------------------------------------------------------
# pure update equations
# ---------------------------------------------------------------------------------------------


def role_counts(n: int) -> tuple[int, int, int, int]:
    """Numbers of (rollers, brood balls, small beetles, thieves) for a population of ``n``.

    20 % / 20 % / 7/30 (about 23 %) / rest, rounded half up: 6/6/7/11 at n = 30.
    """
    if n < 1:
        raise ValueError(f"population size must be >= 1, got {n}")
    n_roll = int(math.floor(0.2 * n + 0.5))
    n_brood = int(math.floor(0.2 * n + 0.5))
    n_small = int(math.floor(7.0 * n / 30.0 + 0.5))
    # never leave a negative thief count for tiny populations
    while n_roll + n_brood + n_small > n:
        if n_small >= max(n_roll, n_brood) and n_small > 0:
            n_small -= 1
        elif n_brood >= n_roll and n_brood > 0:
            n_brood -= 1
        else:
            n_roll -= 1
    return n_roll, n_brood, n_small, n - n_roll - n_brood - n_small


def role_slices(n: int) -> tuple[slice, slice, slice, slice]:
    """Index slices of the four roles (rollers, brood balls, small beetles, thieves)."""
    a, b, c, _ = role_counts(n)
    return slice(0, a), slice(a, a + b), slice(a + b, a + b + c), slice(a + b + c, n)


def roll(x, x_prev, x_worst, rng, k=K_DEFLECT, b=B_LIGHT, roll_prob=ROLL_PROB,
         alpha_dev_prob=ALPHA_DEV_PROB, variant="paper"):
    """Ball-rolling and dancing beetles (Xue & Shen 2022, Eq. 1-2).

    With probability ``roll_prob`` per beetle it rolls:
    ``x + alpha*k*x_prev + b*|x - x_worst|`` with ``alpha = -1`` with probability
    ``alpha_dev_prob`` and ``+1`` otherwise.  Otherwise it dances:
    ``x + tan(theta)*|x - x_prev|`` with theta an integer degree in [0, 180]; no move at
    0, 90 and 180 degrees. ``variant="unbiased"`` rolls by
    ``alpha*k*(x - x_prev) + b*(x - x_worst)`` instead (translation invariant).

    Args:
        x: (n, D) current positions (personal bests).
        x_prev: (n, D) positions one generation earlier.
        x_worst: (D,) worst position of the current generation.
        rng: ``np.random.Generator``.
    Returns:
        (n, D) new positions (not clipped).
    """
    x = np.asarray(x, dtype=float)
    x_prev = np.asarray(x_prev, dtype=float)
    n = x.shape[0]
    rolls = rng.random(n) < roll_prob
    alpha = np.where(rng.random(n) < alpha_dev_prob, -1.0, 1.0)
    theta_deg = rng.integers(0, 181, size=n)
    if variant == "paper":
        rolled = x + (alpha * k)[:, None] * x_prev + b * np.abs(x - x_worst)
    else:  # translation invariant: momentum along the last move, push away from the worst
        rolled = x + (alpha * k)[:, None] * (x - x_prev) + b * (x - x_worst)
    tan = np.tan(np.deg2rad(theta_deg))
    tan[(theta_deg == 0) | (theta_deg == 90) | (theta_deg == 180)] = 0.0
    danced = x + tan[:, None] * np.abs(x - x_prev)
    return np.where(rolls[:, None], rolled, danced)


def brood_box(xstar, R, lb, ub, variant="unbiased", spread=None):
    """Box ``(Lb*, Ub*)`` around ``xstar`` that shrinks with ``R = 1 - t/T`` (Xue & Shen 2022, Eq. 3).

    ``paper``: ends ``xstar*(1-R)`` and ``xstar*(1+R)``; their elementwise min/max is taken
    (for negative coordinates ``xstar*(1-R) > xstar*(1+R)``), then clipped to ``[lb, ub]``.
    ``unbiased``: ``xstar ± R*spread/2`` clipped to ``[lb, ub]``; ``spread`` defaults to
    ``ub - lb`` (:func:`dbo_step` passes the widths of :func:`unbiased_spreads`).
    Always ``lb <= Lb* <= Ub* <= ub`` elementwise for ``lb <= xstar <= ub``.
    """
    xstar = np.asarray(xstar, dtype=float)
    lb = np.asarray(lb, dtype=float)
    ub = np.asarray(ub, dtype=float)
    if variant == "paper":
        e1, e2 = xstar * (1.0 - R), xstar * (1.0 + R)
    elif variant == "unbiased":
        width = (ub - lb) if spread is None else np.asarray(spread, dtype=float)
        h = R * width / 2.0
        e1, e2 = xstar - h, xstar + h
    else:
        raise ValueError(f"unknown DBO variant {variant!r}; expected one of {VARIANTS}")
    lo = np.maximum(np.minimum(e1, e2), lb)
    hi = np.minimum(np.maximum(e1, e2), ub)
    return lo, hi


def breed(x, xstar, box_lb, box_ub, rng):
    """Brood balls (Xue & Shen 2022, Eq. 4): ``xstar + b1*(x - Lb*) + b2*(x - Ub*)``, b1, b2 ~ U(0,1)^D.

    The result is clipped to the brood box ``[Lb*, Ub*]``.
    """
    x = np.asarray(x, dtype=float)
    b1 = rng.random(x.shape)
    b2 = rng.random(x.shape)
    new = xstar + b1 * (x - box_lb) + b2 * (x - box_ub)
    return np.clip(new, box_lb, box_ub)


def forage(x, box_lb, box_ub, rng):
    """Small beetles (Xue & Shen 2022, Eq. 6): ``x + C1*(x - Lb^b) + C2*(x - Ub^b)``.

    C1 ~ N(0,1) is a scalar per beetle, C2 ~ U(0,1)^D.  ``(Lb^b, Ub^b)`` is the box around the
    global best.  Not clipped here (the caller clips to the problem bounds, as in the paper).
    """
    x = np.asarray(x, dtype=float)
    c1 = rng.standard_normal(x.shape[0])[:, None]
    c2 = rng.random(x.shape)
    return x + c1 * (x - box_lb) + c2 * (x - box_ub)


def steal(x, xstar, xbest, rng, s=S_THIEF):
    """Thieves (Xue & Shen 2022, Eq. 7): ``xbest + S*g*(|x - xstar| + |x - xbest|)``, g ~ N(0,1)^D."""
    x = np.asarray(x, dtype=float)
    g = rng.standard_normal(x.shape)
    return xbest + s * g * (np.abs(x - xstar) + np.abs(x - xbest))


def is_better(f_new, cv_new, f_old, cv_old):
    """Feasibility-first comparison, elementwise: lower CV wins, equal CV -> lower F wins."""
    f_new, cv_new = np.ravel(f_new), np.ravel(cv_new)
    f_old, cv_old = np.ravel(f_old), np.ravel(cv_old)
    return (cv_new < cv_old) | ((cv_new == cv_old) & (f_new < f_old))


def rank_order(f, cv):
    """Indices sorting individuals best first (CV, then F)."""
    return np.lexsort((np.ravel(f), np.ravel(cv)))


# floors of the unbiased half-widths, as fractions of the range ub - lb
BROOD_FLOOR = 0.1    # times R**2: the spawning area anneals instead of collapsing
FORAGE_FLOOR = 1e-3  # the foraging area around the global best may shrink to 0.1 %


def unbiased_spreads(xstar, xbest, R, lb, ub):
    """Box widths (``spread`` of :func:`brood_box`) of the unbiased variant.

    The paper's half-width ``R*|X*|`` is the distance of X* from the origin, which is the
    optimum of the standard test functions. Its translation-invariant analogue is
    ``R*|X* - X_b|``, the distance between this generation's best proposal and the global best.
    That distance is 0 in every generation where X* improves on X_b, so each box has a floor:

    * brood balls (spawning area around X*): ``0.1 * R**2 * (ub - lb)``; the area anneals with
      the schedule and only collapses at the end of the run. Without it the search stalled far
      from the optimum on Ackley and the step function (docs/dbo.md).
    * small beetles (foraging area around X_b): ``0.001 * (ub - lb)``; a wider floor here made
      every shifted function worse (the small beetles then jump by the full box each step).

    Returns ``(spread_brood, spread_forage)``, both full widths (twice the half-width before
    the factor R that :func:`brood_box` applies).
    """
    rng_ = np.asarray(ub, dtype=float) - np.asarray(lb, dtype=float)
    dist = np.abs(np.asarray(xstar, dtype=float) - np.asarray(xbest, dtype=float))
    half_brood = np.maximum(dist, BROOD_FLOOR * R ** 2 * rng_)
    half_forage = np.maximum(dist, FORAGE_FLOOR * rng_)
    return 2.0 * np.maximum(half_brood, 1e-12 * rng_), 2.0 * half_forage


def dbo_step(x, x_prev, f_cur, cv_cur, x_cur, xbest, t, T, lb, ub, rng, variant="unbiased"):
    """One DBO generation on arrays: new proposals for all beetles, clipped to the bounds.

    Args:
        x: (n, D) personal-best positions (the base of every update).
        x_prev: (n, D) personal-best positions one generation earlier.
        f_cur, cv_cur, x_cur: objective, constraint violation and positions of the current
            generation's proposals (they define the local best X* and the worst X^w).
        xbest: (D,) global best position.
        t, T: current generation and total number of generations; R = 1 - t/T.
    """
    n = x.shape[0]
    order = rank_order(f_cur, cv_cur)
    xstar, xworst = x_cur[order[0]], x_cur[order[-1]]
    R = float(np.clip(1.0 - t / T, 0.0, 1.0))
    s_roll, s_brood, s_small, s_thief = role_slices(n)

    new = np.empty_like(x, dtype=float)
    new[s_roll] = roll(x[s_roll], x_prev[s_roll], xworst, rng, variant=variant)
    spread = spread_b = None
    if variant == "unbiased":
        spread, spread_b = unbiased_spreads(xstar, xbest, R, lb, ub)
    lo, hi = brood_box(xstar, R, lb, ub, variant, spread)
    new[s_brood] = breed(x[s_brood], xstar, lo, hi, rng)
    lo_b, hi_b = brood_box(xbest, R, lb, ub, variant, spread_b)
    new[s_small] = forage(x[s_small], lo_b, hi_b, rng)
    new[s_thief] = steal(x[s_thief], xstar, xbest, rng)
    return np.clip(new, lb, ub)


# ---------------------------------------------------------------------------------------------
# pymoo algorithm
# ---------------------------------------------------------------------------------------------


class DBO(Algorithm):
    """Dung Beetle Optimizer (Xue & Shen 2022) for single-objective, bounded problems.

    Args:
        pop_size: number of beetles N (roles are fixed by index, see ``role_counts``).
        variant: ``"unbiased"`` (default, translation-invariant boxes, see
            :func:`unbiased_spreads`) or ``"paper"`` (boxes ``X*(1±R)``, faithful to the paper).
        max_gen: T used in ``R = 1 - t/T`` when the termination is not ``("n_gen", T)``.
        sampling: initial sampling (default uniform random in the bounds).

    ``self.pop`` holds the personal bests (one per beetle, in role order); ``self.beetles``
    the latest proposals.  Constraints are handled feasibility-first.
    """

    def __init__(self, pop_size=30, variant="unbiased", max_gen=None,
                 sampling=FloatRandomSampling(), output=SingleObjectiveOutput(), **kwargs):
        super().__init__(output=output, **kwargs)
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise InstanceError.at(None, "DBO variant", variant, f"unknown; expected one of {VARIANTS}")
        pop_size = as_int(pop_size, "DBO", "pop_size", 2, None)
        self.pop_size = int(pop_size)
        self.variant = variant
        self.max_gen = max_gen
        self.initialization = Initialization(sampling)
        self.beetles = None
        self.x_prev = None
        self.T = None

    def _setup(self, problem, **kwargs):
        if problem.n_obj != 1:
            raise ValueError("DBO is single-objective; problem has n_obj = %d" % problem.n_obj)
        if not problem.has_bounds():
            raise ValueError("DBO needs finite bounds xl, xu on every variable")
        T = getattr(self.termination, "n_max_gen", None)
        if T is None or not np.isfinite(T):
            T = self.max_gen
        if T is None:
            raise ValueError("DBO needs T: use termination ('n_gen', T) or DBO(max_gen=T)")
        self.T = int(T)

    def _initialize_infill(self):
        return self.initialization.do(self.problem, self.pop_size, algorithm=self,
                                      random_state=self.random_state)

    def _initialize_advance(self, infills=None, **kwargs):
        self.beetles = infills
        self.x_prev = infills.get("X").copy()

    def _infill(self):
        x = self.pop.get("X")
        f_cur, cv_cur, x_cur = self.beetles.get("F", "CV", "X")
        xbest = self.opt[0].X
        xl, xu = self.problem.bounds()
        new = dbo_step(x, self.x_prev, f_cur[:, 0], cv_cur[:, 0], x_cur, xbest,
                       self.n_iter, self.T, xl, xu, self.random_state, self.variant)
        self.x_prev = x.copy()
        return Population.new(X=new)

    def _advance(self, infills=None, **kwargs):
        assert infills is not None, "DBO uses ask-and-tell: infills must be provided"
        self.beetles = infills
        f_old, cv_old = self.pop.get("F", "CV")
        f_new, cv_new = infills.get("F", "CV")
        better = np.flatnonzero(is_better(f_new[:, 0], cv_new[:, 0], f_old[:, 0], cv_old[:, 0]))
        self.pop[better] = infills[better]
