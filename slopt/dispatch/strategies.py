"""Dispatch strategies of Yuan et al. §4.2 and §5.3 behind one interface, and their registry.

Every registered strategy is called as ``allocate(groups, p_request_kw, ctx) -> p_group_kw``
with a :class:`~slopt.dispatch.base.DispatchContext` (state, forecast, wear so far, options).
The numpy rules below are one-step functions ``rule(groups, p_request_kw, state)`` adapted by
:func:`step_rule`: ``p_request_kw`` has shape ``(...)`` (a scalar for one unit and step, any
leading batch otherwise), the result has shape ``(..., G)``, positive = charging. All of them
honour Yuan et al. Eq. 11a-c by construction:

- 11a/11b: each group stays within :func:`~slopt.dispatch.base.group_power_bounds` (rating and
  the power that keeps its SOC inside the window over this step);
- 11c: every group has the sign of the request and ``|sum_i p_i| <= |p_request|``. Whatever
  cannot be served is left to the caller to report (the simulator reports it as unserved
  energy).

Strategies
----------
``priority``    Eq. 9 health priority (:func:`priority`): groups ranked by
                ``R_i = SOC_i + A*B/SOH_i``; see the interpretation below and ``docs/dispatch.md``.
``proportional`` CPD: split in proportion to rating (:func:`slopt.dispatch.base.proportional`).
``soh``         SOHD: split in proportion to ``SOH_i * E_i`` (:func:`soh_weighted`).
``mpc``         MPCD: receding horizon (``slopt.dispatch.optimal.mpc_allocate``, Pyomo + HiGHS).
``optimal``     Eq. 10 variance-optimal day plan (``slopt.dispatch.optimal.plan_optimal``).

The last two are registered by :mod:`slopt.dispatch.optimal` (Pyomo + HiGHS), which
``import slopt.dispatch`` imports; this module stays numpy-only.

Interpretation of Eq. 9
-----------------------
Yuan et al. print ``R_i(t) = SOC_i(t) + A*B/SOH_i`` with ``A = +1`` when charging and ``-1`` when
discharging, "a higher value corresponds to a higher priority". Taken literally for charging this
favours packs that are already full and weak, against the stated intent (healthier packs take the
deeper cycles, weaker packs cycle shallow, SOC is balanced). For discharging the literal reading
is right (high SOC and high SOH first). We keep Eq. 9 as printed and read the ranking direction
from the mode: **discharging serves the largest R first, charging serves the smallest R first**.
Equivalently, groups are served in descending order of the key

    kappa_i = -A * R_i = -A * SOC_i - B / SOH_i

so charging prefers low SOC and high SOH, discharging high SOC and high SOH. ``B`` (default 1,
both terms are per unit) sets the SOC offset a healthier group accepts before a weaker one
takes over: ``B * (1/SOH_weak - 1/SOH_strong)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from slopt.dispatch.base import (BatteryGroups, DispatchContext, GroupState, group_power_bounds, proportional,
                                 weighted_split)
from slopt.errors import InstanceError

__all__ = ["priority", "priority_key", "soh_weighted", "weighted_split", "proportional_exact",
           "Strategy", "STRATEGIES", "ALIASES", "get_strategy", "DEFAULT_B"]

#: Default scaling parameter ``B`` of Eq. 9 (dimensionless; SOC and 1/SOH are both per unit).
DEFAULT_B = 1.0


# ----------------------------------------------------------------------------- Eq. 9
def priority_key(soc_pu, soh_pu, charging, b: float = DEFAULT_B) -> np.ndarray:
    """Service key of Eq. 9: groups are served in descending order of ``-A * R_i``.

    ``R_i = SOC_i + A*B/SOH_i`` (Yuan et al. Eq. 9), ``A = +1`` charging, ``-1`` discharging, so

    ``kappa_i = -A*SOC_i - B/SOH_i``

    Parameters
    ----------
    soc_pu, soh_pu : array_like, shape (..., G)
        State of charge and state of health (pu).
    charging : bool or array_like of bool, shape (...)
        Mode per unit (the sign of the request).
    b : float
        Scaling parameter ``B`` (>= 0).

    Returns
    -------
    ndarray, shape (..., G)
        Larger = served earlier.
    """
    a = np.where(np.asarray(charging, dtype=bool), 1.0, -1.0)[..., None]
    return -a * np.asarray(soc_pu, dtype=float) - float(b) / np.asarray(soh_pu, dtype=float)


def priority(groups: BatteryGroups, p_request_kw, state: GroupState, b: float = DEFAULT_B) -> np.ndarray:
    """Health-priority dispatch, Yuan et al. Eq. 9 with Eq. 11a-c.

    Groups are ranked by :func:`priority_key` (``kappa_i = -A*SOC_i - B/SOH_i``; charging: low
    SOC and high SOH first, discharging: high SOC and high SOH first) and filled in that order,
    each up to its Eq. 11a/11b bound before the next one gets any power. Ties keep the group
    order. Vectorised: one stable sort and one cumulative sum along the group axis.

    Parameters
    ----------
    groups : BatteryGroups
        Arrays broadcastable to ``(..., G)``.
    p_request_kw : float or array_like, shape (...)
        Power asked of the unit (+ charge, - discharge).
    state : GroupState
        Stored energy ``(..., G)`` and step length.
    b : float
        Eq. 9 scaling parameter ``B``.

    Returns
    -------
    ndarray, shape (..., G)
        Group powers (kW), same sign as the request; ``|sum| = min(|request|, sum of bounds)``.

    Examples
    --------
    Two groups at equal SOC, the healthier one discharges first::

        >>> import numpy as np
        >>> from slopt.dispatch.base import BatteryGroups, GroupState
        >>> g = BatteryGroups(*(np.array(v, float) for v in
        ...     ([10, 10], [5, 5], [1.0, 0.7], [1, 1], [1, 1], [0, 0], [1, 1])))
        >>> priority(g, -6.0, GroupState(np.array([5.0, 3.5]), 1.0)).tolist()
        [-5.0, -1.0]
    """
    req = np.asarray(p_request_kw, dtype=float)
    if req.ndim == 0 and np.ndim(state.e_stored_kwh) == 1:
        return _priority_1d(groups, float(req), state, b)
    p_lo, p_hi = group_power_bounds(groups, state)
    charging = req > 0.0
    usable = groups.soh * groups.e_kwh
    key = priority_key(state.e_stored_kwh / usable, groups.soh, charging, b)
    ch = charging[..., None]
    cap = np.where(ch, p_hi, -p_lo)                       # headroom >= 0 in the request's direction
    key = np.broadcast_to(key, cap.shape)
    need = np.abs(req)[..., None]
    order = np.argsort(-key, axis=-1, kind="stable")
    c = np.take_along_axis(cap, order, axis=-1)
    before = np.cumsum(c, axis=-1) - c
    out = np.empty_like(cap)
    np.put_along_axis(out, order, np.clip(need - before, 0.0, c), axis=-1)
    return np.where(ch, out, -out)


def _priority_1d(groups: BatteryGroups, req: float, state: GroupState, b: float) -> np.ndarray:
    """:func:`priority` for one unit and one step (shape (G,)), the simulator's hot path.

    Same arithmetic as :func:`~slopt.dispatch.base.group_power_bounds` (bit-identical bounds),
    but only the side of the request is computed, and no batch indexing is needed.
    """
    e = state.e_stored_kwh
    usable = groups.soh * groups.e_kwh
    soc = e / usable
    if req > 0.0:
        room = np.maximum(groups.soc_max * usable - e, 0.0)
        cap = np.minimum(groups.p_kw, room / (groups.eta_charge * state.dt_h))
        key = soc + b / groups.soh          # kappa = -SOC - B/SOH; ascending order of -kappa
    else:
        room = np.maximum(e - groups.soc_min * usable, 0.0)
        cap = np.minimum(groups.p_kw, room * groups.eta_discharge / state.dt_h)
        key = b / groups.soh - soc          # -kappa = -SOC + B/SOH
    cap = np.broadcast_to(cap, np.shape(e))
    order = np.argsort(key, kind="stable")
    c = cap[order]
    before = np.cumsum(c)
    before -= c
    out = np.empty(c.shape)
    out[order] = np.minimum(np.maximum(abs(req) - before, 0.0), c)
    if req <= 0.0:
        np.negative(out, out=out)
    return out


# ----------------------------------------------------------------------------- weighted splits
def soh_weighted(groups: BatteryGroups, p_request_kw, state: GroupState, n_pass: int | None = None) -> np.ndarray:
    """SOH-based dispatch (SOHD, Yuan et al. §5.3): split in proportion to ``SOH_i * E_i``.

    ``p_i = P * SOH_i*E_i / sum_j SOH_j*E_j`` among the groups not at an Eq. 11a/11b bound,
    with redistribution as in :func:`weighted_split` (exact with the default ``n_pass``).

    Returns
    -------
    ndarray, shape (..., G)
    """
    p_lo, p_hi = group_power_bounds(groups, state)
    return weighted_split(p_lo, p_hi, p_request_kw, groups.soh * groups.e_kwh, n_pass)


def proportional_exact(groups: BatteryGroups, p_request_kw, state: GroupState) -> np.ndarray:
    """CPD with exact redistribution: :func:`slopt.dispatch.base.proportional` with ``G`` passes."""
    return proportional(groups, p_request_kw, state, n_pass=int(np.shape(state.e_stored_kwh)[-1]))


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Strategy:
    """A registered dispatch strategy: ``allocate(groups, p_request_kw, ctx) -> p_group_kw``.

    Attributes
    ----------
    name : str
        Registry key.
    label : str
        Name in the tables of Yuan et al. (2025) (CPD, SOHD, MPCD, ...).
    kind : str
        What the rule looks at (for documentation and the heuristics): ``"step"`` (this step
        only, vectorised over leading batch dimensions), ``"lookahead"`` (the forecast) or
        ``"plan"`` (the whole horizon, planned once).
    allocate : callable
        ``allocate(groups, p_request_kw, ctx: DispatchContext) -> (..., G)``.
    description : str
    """

    name: str
    label: str
    kind: str
    allocate: Callable
    description: str = ""

    @property
    def available(self) -> bool:
        return True


def step_rule(fn: Callable) -> Callable:
    """Adapt a one-step rule ``fn(groups, p_request_kw, state, **options)`` to the contract."""
    def allocate(groups, p_request_kw, ctx: DispatchContext):
        return fn(groups, p_request_kw, ctx.state, **dict(ctx.options or {}))

    allocate.__wrapped__ = fn
    return allocate


def lookahead_rule(fn: Callable) -> Callable:
    """Adapt ``fn(groups, p_request_kw_future, state, options) -> (G,)`` (the request from this
    step to the end of the horizon) to the contract."""
    def allocate(groups, p_request_kw, ctx: DispatchContext):
        return fn(groups, ctx.forecast_kw, ctx.state, ctx.options)

    allocate.__wrapped__ = fn
    return allocate


def plan_rule(fn: Callable) -> Callable:
    """Adapt a whole-horizon planner ``fn(groups, p_request_kw, state0, options) -> (T, G)`` to the
    contract: it plans once, at its first step, from the forecast, and plays the plan back."""
    def allocate(groups, p_request_kw, ctx: DispatchContext):
        if "plan" not in ctx.memo:
            plan = np.asarray(fn(groups, ctx.forecast_kw, ctx.state, ctx.options), dtype=float)
            if plan.ndim != 2 or plan.shape[0] != np.size(ctx.forecast_kw):
                from slopt.errors import SolverError

                raise SolverError(f"dispatch plan has shape {plan.shape}, expected ({np.size(ctx.forecast_kw)}, G)")
            ctx.memo["plan"], ctx.memo["start"] = plan, ctx.step
        return ctx.memo["plan"][ctx.step - ctx.memo["start"]]

    allocate.__wrapped__ = fn
    return allocate


#: The registry; :mod:`slopt.dispatch.optimal` adds ``mpc`` and ``optimal`` when it is imported
#: (``import slopt.dispatch`` imports it).
STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy) -> Strategy:
    """Add a strategy to :data:`STRATEGIES` (a study's own rule, or a module's)."""
    if strategy.kind not in ("step", "lookahead", "plan"):
        raise InstanceError.at(None, f"strategy {strategy.name!r} kind", strategy.kind, "must be step, lookahead or plan")
    STRATEGIES[strategy.name] = strategy
    return strategy


register_strategy(Strategy("priority", "Eq. 9", "step", step_rule(priority),
                           "health priority: rank by R = SOC + A*B/SOH, fill each group to its bound"))
register_strategy(Strategy("proportional", "CPD", "step", step_rule(proportional_exact),
                           "conventional proportional dispatch: split by rating"))
register_strategy(Strategy("soh", "SOHD", "step", step_rule(soh_weighted), "split in proportion to SOH x capacity"))

#: Other accepted spellings (the paper's acronyms).
ALIASES = {"cpd": "proportional", "sohd": "soh", "mpcd": "mpc", "proposed": "priority", "eq9": "priority",
           "eq10": "optimal"}


def get_strategy(name) -> Strategy:
    """The registered :class:`Strategy` called ``name`` (case-insensitive; the paper's acronyms accepted).

    A :class:`Strategy` passes through; a plain callable ``fn(groups, p_request_kw, state)``
    becomes a ``"step"`` strategy.

    Raises
    ------
    InstanceError
        ``strategy = 'name': unknown dispatch strategy; choose one of ...``.
    """
    if isinstance(name, Strategy):
        return name
    if callable(name):
        label = getattr(name, "__name__", "custom")
        return Strategy(label, label, "step", step_rule(name))
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in STRATEGIES:
        raise InstanceError.at(None, "strategy", name,
                               f"unknown dispatch strategy; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[key]
