"""Battery groups, their per-step power limits (Yuan et al. Eq. 11a-c) and the proportional rule.

Arrays have shape ``(..., G)``: any leading batch (candidate solutions, storage units) times
the battery groups that share one unit's power. The health-aware strategies of Yuan et al. §4
(priority Eq. 9, SOH-weighted, MPC, variance-optimal Eq. 10) plug in behind the same
``allocate(groups, p_request_kw, state)`` signature. :class:`BatteryGroups` and
:class:`GroupState` are declared in :mod:`slopt.battery.groups` (re-exported here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from slopt.battery.groups import BatteryGroups, GroupState

__all__ = ["BatteryGroups", "GroupState", "DispatchContext", "group_power_bounds", "proportional", "step_energy",
           "weighted_split"]


@dataclass
class DispatchContext:
    """What a strategy may know at one step: one contract for step, look-ahead and whole-day rules.

    Every registered strategy is called as ``allocate(groups, p_request_kw, ctx) -> p_group_kw``.

    Attributes
    ----------
    state : GroupState
        Stored energy now and the step length.
    step : int
        Index of this step in the horizon.
    forecast_kw : ndarray, shape (H,)
        The request from this step to the end of the horizon (``forecast_kw[0]`` is this step's).
    life_used : ndarray, shape (G,)
        Wear so far: throughput cycles over remaining cycles (Eq. 8 and 10b of Yuan et al. 2025).
    options : object, optional
        The strategy's options (``{"b": 0.5}`` for ``priority``, an ``OptimalOptions``, ...).
    memo : dict
        Per-run scratch space of the strategy (a whole-day rule keeps its plan here).
    """

    state: GroupState
    step: int = 0
    forecast_kw: np.ndarray | None = None
    life_used: np.ndarray | None = None
    options: object = None
    memo: dict = field(default_factory=dict)


def group_power_bounds(groups: BatteryGroups, state: GroupState) -> tuple[np.ndarray, np.ndarray]:
    """Per-group AC power limits for this step from Eq. 11a (rating) and 11b (SOC window).

    Returns ``(p_lo_kw, p_hi_kw)``, ``p_lo <= 0 <= p_hi``.
    """
    usable = groups.soh * groups.e_kwh
    room_up = np.maximum(groups.soc_max * usable - state.e_stored_kwh, 0.0)
    room_dn = np.maximum(state.e_stored_kwh - groups.soc_min * usable, 0.0)
    p_hi = np.minimum(groups.p_kw, room_up / (groups.eta_charge * state.dt_h))
    p_lo = -np.minimum(groups.p_kw, room_dn * groups.eta_discharge / state.dt_h)
    return p_lo, p_hi


def step_energy(groups: BatteryGroups, state: GroupState, p_group_kw: np.ndarray) -> np.ndarray:
    """Stored energy after one step of ``p_group_kw`` (charging with eta_ch, discharging with 1/eta_dis)."""
    p = np.asarray(p_group_kw, dtype=float)
    de = np.where(p >= 0, groups.eta_charge * p, p / groups.eta_discharge) * state.dt_h
    return state.e_stored_kwh + de


def weighted_split(p_lo, p_hi, p_request_kw, weight, n_pass: int | None = None) -> np.ndarray:
    """Split a request in proportion to ``weight`` within ``[p_lo, p_hi]``, redistributing.

    Pass ``k``: the remainder is shared among the groups not yet clipped, in proportion to their
    weight; groups that hit a bound are clipped and leave the pool. Each pass either serves the
    whole remainder or clips at least one more group, so ``G`` passes are exact.

    Parameters
    ----------
    p_lo, p_hi : ndarray, shape (..., G)
        Bounds, ``p_lo <= 0 <= p_hi``.
    p_request_kw : array_like, shape (...)
    weight : array_like, broadcastable to (..., G)
        Non-negative weights; a zero weight never gets power.
    n_pass : int or None
        Redistribution passes; ``None`` = ``G`` (exact).

    Returns
    -------
    ndarray, shape (..., G)
    """
    req = np.asarray(p_request_kw, dtype=float)
    w = np.broadcast_to(np.asarray(weight, dtype=float), p_lo.shape)
    n = p_lo.shape[-1] if n_pass is None else max(int(n_pass), 1)
    p = np.zeros(p_lo.shape)
    remaining = np.broadcast_to(req, p_lo.shape[:-1]).astype(float)
    free = w > 0
    for _ in range(n):
        wf = np.where(free, w, 0.0)
        tot = wf.sum(axis=-1, keepdims=True)
        share = np.divide(wf, tot, out=np.zeros_like(wf), where=tot > 0)
        cand = p + share * remaining[..., None]
        new = np.clip(cand, p_lo, p_hi)
        free = free & (new == cand)
        remaining = remaining - (new - p).sum(axis=-1)
        p = new
        if not np.any(np.abs(remaining) > 1e-12):
            break
    return p


def proportional(groups: BatteryGroups, p_request_kw, state: GroupState, n_pass: int | None = None) -> np.ndarray:
    """Conventional proportional dispatch (CPD): split the request in proportion to rating.

    Groups that hit their Eq. 11a/11b limit are clipped and the remainder is shared among the
    others, in proportion to rating (:func:`weighted_split`; ``n_pass`` redistribution passes,
    ``None`` = ``G``, exact). The delivered total never exceeds the request in magnitude
    (Eq. 11c); what cannot be delivered is the caller's to report.

    Parameters
    ----------
    groups : BatteryGroups
    p_request_kw : array_like, shape (...)
        Power asked of the whole unit (+ charge).
    state : GroupState

    Returns
    -------
    ndarray, shape (..., G)
    """
    p_lo, p_hi = group_power_bounds(groups, state)
    return weighted_split(p_lo, p_hi, p_request_kw, groups.p_kw, n_pass)
