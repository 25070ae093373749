"""Closed-loop day simulation of storage plans under MFAC voltage control (Yuan et al. Algorithm 1).

For a whole population of capacity plans at once (leading axis ``P``), every step of the day:

1. measure: AC sweep of the net load with the storage power of the previous step; each unit
   reads the voltage of its zone (the more violated of the zone minimum and maximum);
2. control: MFAC (Eq. 3b-6) sets each unit's power, within its rating and what the SOC
   window of its battery groups allows this step (Eq. 11a-b); a unit whose zone is inside the
   band and whose SOC is below its target (default: full) recharges, no faster than its own PPD estimate
   says keeps the zone above ``vmin + restore_margin``;
3. dispatch: the unit's power is split among its battery groups (new, retired) by the
   dispatch strategy (any registered step strategy, proportional by default);
4. apply: AC sweep with the applied powers, band violation recorded, SOC updated.

The loop over time steps is the closed loop itself (step t needs the state after t-1); the
population, units, groups and buses are vectorised. Numpy only: no Pyomo, no pymoo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from slopt.control.mfac import MFAC, MFACParams
from slopt.dispatch.base import BatteryGroups, DispatchContext, GroupState, group_power_bounds, step_energy
from slopt.dispatch.strategies import get_strategy
from slopt.errors import InstanceError
from slopt.grid.lindistflow import sensitivities
from slopt.grid.powerflow import powerflow
from slopt.io.instance import Instance

__all__ = ["SimulationOptions", "DaySimulation", "zones_of", "simulate_day"]


@dataclass(frozen=True)
class SimulationOptions:
    """Options of the closed-loop day simulation.

    Attributes
    ----------
    mfac : MFACParams or None
        Controller parameters; ``None`` uses :meth:`MFACParams.feeder` with ``phi(1)`` from the
        LinDistFlow sensitivity of each unit's zone (negative: charging lowers voltage).
    inner_iters : int
        MFAC measurement/control cycles within one step (a voltage controller acts every few
        seconds; the step is 5-60 min). The last cycle's power is held for the step.
    restore_margin_pu : float
        Recharging stops when the zone voltage would fall below ``vmin + restore_margin_pu``.
    restore_soc : float or None
        SOC (fraction of usable energy) that units recharge toward while their zone has voltage
        headroom; ``None`` = each technology's ``soc_max`` (be full before the next peak).
    warmup_days : int
        Days simulated before the measured day, so that the measured day starts from the SOC
        the control policy reaches in steady state (the MILP's cyclic SOC, seen from a
        reactive controller). ``soc_deficit_kwh`` compares the end of the measured day with
        its start.
    dispatch : str
        Lower level (Yuan et al. 2025 §3.3): the registered dispatch strategy that shares each
        unit's power among its technologies, ``"proportional"`` (default), ``"priority"`` or
        ``"soh"``. It must be a ``step`` strategy: the day is simulated for the whole population
        at once, which a look-ahead or whole-day rule (``mpc``, ``optimal``: one QP per step and
        candidate) cannot be.
    """

    mfac: MFACParams | None = None
    inner_iters: int = 1
    restore_margin_pu: float = 0.01
    restore_soc: float | None = None
    warmup_days: int = 1
    dispatch: str = "proportional"

    def __post_init__(self):
        from slopt.dispatch.strategies import get_strategy

        strat = get_strategy(self.dispatch)
        if strat.kind != "step":
            raise InstanceError.at(None, "dispatch", self.dispatch,
                                   f"the bilevel heuristics need a one-step strategy (a {strat.kind} rule cannot be "
                                   "simulated for a whole population); use proportional, priority or soh")


@dataclass
class DaySimulation:
    """Outcome for a population of plans; leading axis P.

    ``violation_puh`` is the sum over steps of the largest band violation (p.u.) times the step
    length (h); ``soc_deficit_kwh`` the energy missing at the end of the day against the start.
    Per-step arrays are only filled when ``record=True``.
    """

    violation_puh: np.ndarray
    max_violation_pu: np.ndarray
    soc_deficit_kwh: np.ndarray
    p_group_kw: np.ndarray | None = None     # (P, T, C, K)
    e_group_kwh: np.ndarray | None = None    # (P, T, C, K) at the end of each step
    vm_pu: np.ndarray | None = None          # (P, T, n_bus) applied
    extra: dict = field(default_factory=dict)


def zones_of(instance: Instance) -> np.ndarray:
    """Zone (candidate index) of every bus: the unit with the largest LinDistFlow influence on it."""
    f = instance.feeder
    cand = f.index_of(instance.candidates.bus_ids)
    s = sensitivities(f).dw_dp_per_kw[:, cand]       # (n_bus, C)
    zone = np.argmax(s, axis=1)
    # a unit whose influence is nowhere the largest (e.g. a site just upstream of another one)
    # still defends its own bus
    for c in np.setdiff1d(np.arange(cand.size), zone):
        zone[cand[c]] = c
    return zone


def simulate_day(instance: Instance, e_kwh: np.ndarray, p_kw: np.ndarray,
                 options: SimulationOptions | None = None, record: bool = False) -> DaySimulation:
    """Simulate the day for ``P`` plans at once.

    Parameters
    ----------
    instance : Instance
    e_kwh, p_kw : ndarray, shape (P, C, K)
        Nameplate energy and converter rating per plan, candidate and technology (in the order
        ``new``, ``retired`` of the instance's technologies).
    options : SimulationOptions, optional
    record : bool
        Keep per-step powers, energies and voltages.
    """
    opts = options or SimulationOptions()
    inst = instance
    f = inst.feeder
    techs = [inst.technologies[k] for k in ("new", "retired") if k in inst.technologies]
    e_kwh = np.asarray(e_kwh, dtype=float)
    p_kw = np.asarray(p_kw, dtype=float)
    P, C, K = e_kwh.shape
    T, dt = inst.n_steps, inst.dt_h
    vmin, vmax = inst.vmin_pu, inst.vmax_pu
    cand = f.index_of(inst.candidates.bus_ids)
    base_p, base_q = inst.net_load_kw()

    tech_arr = lambda attr: np.array([getattr(t, attr) for t in techs], dtype=float)
    groups = BatteryGroups(e_kwh=e_kwh, p_kw=p_kw, soh=tech_arr("soh"), eta_charge=tech_arr("eta_charge"),
                           eta_discharge=tech_arr("eta_discharge"), soc_min=tech_arr("soc_min"),
                           soc_max=tech_arr("soc_max"))
    e0 = tech_arr("soc_initial") * groups.soh * e_kwh
    state = GroupState(e_stored_kwh=e0.copy(), dt_h=dt)
    lower = get_strategy(opts.dispatch)                                 # the lower level (a step rule)

    # zones, and phi(1) from the LinDistFlow sensitivity at each zone's weakest bus
    zone = zones_of(inst)
    zmask = zone[None, :] == np.arange(C)[:, None]                       # (C, n_bus)
    base_ac = powerflow(f, base_p, base_q)
    weakest = np.array([np.flatnonzero(zmask[c])[np.argmin(base_ac.vm_pu.min(axis=0)[zmask[c]])]
                        if zmask[c].any() else cand[c] for c in range(C)])
    sens = sensitivities(f).dw_dp_per_kw
    dv_per_kw = -sens[weakest, cand] / (2.0 * base_ac.vm_pu.min(axis=0)[weakest])   # (C,) p.u./kW, < 0
    p_unit = p_kw.sum(axis=2)                                             # (P, C)
    u_scale = np.maximum(p_unit, 1e-3)
    params = opts.mfac or MFACParams.feeder(phi0=dv_per_kw[None, :] * u_scale)
    ctl = MFAC(params, n_units=C, p_max=p_unit, u_scale=u_scale)
    ctl.reset((P,), p_max=p_unit, u_scale=u_scale)

    zone_min_fill, zone_max_fill = np.where(zmask, 0.0, np.inf), np.where(zmask, 0.0, -np.inf)

    def measure(vm):  # (P, n) -> (P, C): the more violated of zone min and zone max
        zmin = (vm[:, None, :] + zone_min_fill[None]).min(axis=2)
        zmax = (vm[:, None, :] + zone_max_fill[None]).max(axis=2)
        return np.where((zmax - vmax) > (vmin - zmin), zmax, zmin)

    u = np.zeros((P, C))
    diverged = np.zeros(P, dtype=int)
    viol_puh = np.zeros(P)
    viol_max = np.zeros(P)
    rec_p = np.zeros((P, T, C, K)) if record else None
    rec_e = np.zeros((P, T, C, K)) if record else None
    rec_v = np.zeros((P, T, f.n_bus)) if record else None
    soc_target = tech_arr("soc_max") if opts.restore_soc is None else np.full(K, float(opts.restore_soc))
    e_target = (soc_target * groups.soh * e_kwh).sum(axis=2)
    warm = max(int(opts.warmup_days), 0) * T
    e_day_start = state.e_stored_kwh.copy()
    for step in range(warm + T):
        t = step % T
        measured = step >= warm
        if step == warm:
            e_day_start = state.e_stored_kwh.copy()
        p_t = np.broadcast_to(base_p[t], (P, f.n_bus)).copy()
        q_t = np.broadcast_to(base_q[t], (P, f.n_bus))
        lo, hi = group_power_bounds(groups, state)
        u_lo, u_hi = lo.sum(axis=2), hi.sum(axis=2)
        for _ in range(max(opts.inner_iters, 1)):
            p_meas = p_t.copy()
            p_meas[:, cand] += u
            y = measure(_collapse_safe(powerflow(f, p_meas, q_t)))
            u_m = ctl.step(y, band=(vmin, vmax), u_bounds=(u_lo, u_hi))
            # recharge toward the start SOC when the zone has voltage headroom
            need_kw = np.maximum(e_target - state.e_stored_kwh.sum(axis=2), 0.0) / (groups.eta_charge.mean() * dt)
            phi_kw = np.minimum(ctl.phi / ctl.u_scale, -1e-12)           # p.u. per kW, < 0
            head_kw = np.maximum(y - (vmin + opts.restore_margin_pu), 0.0) / -phi_kw
            r = np.minimum(np.minimum(need_kw, head_kw), u_hi)
            holding = (ctl.mode == 2) & (y >= vmin + opts.restore_margin_pu)
            u = np.where(holding & (r > 0), np.maximum(u_m, r), u_m)
        p_grp = lower.allocate(groups, u, DispatchContext(state, step))
        u = p_grp.sum(axis=2)
        p_t[:, cand] += u
        pf = powerflow(f, p_t, q_t)
        vm = _collapse_safe(pf)
        if measured:
            diverged += ~pf.converged
        v = np.maximum(vmin - vm, 0.0) + np.maximum(vm - vmax, 0.0)
        v[:, 0] = 0.0
        worst = v.max(axis=1)
        state.e_stored_kwh = step_energy(groups, state, p_grp)
        if not measured:
            continue
        viol_puh += worst * dt
        viol_max = np.maximum(viol_max, worst)
        if record:
            rec_p[:, t], rec_e[:, t], rec_v[:, t] = p_grp, state.e_stored_kwh, vm
    deficit = np.maximum(e_day_start.sum(axis=2) - state.e_stored_kwh.sum(axis=2), 0.0).sum(axis=1)
    return DaySimulation(viol_puh, viol_max, deficit, rec_p, rec_e, rec_v,
                         extra={"zones": zone, "phi0_pu_per_kw": dv_per_kw, "e_day_start_kwh": e_day_start,
                                "diverged_steps": diverged})


def _collapse_safe(pf) -> np.ndarray:
    """Voltages of a batched sweep, with snapshots that did not converge set to 0 p.u.

    A plan whose storage power drives the feeder into voltage collapse is scored as the worst
    possible band violation (and the controller sees a collapsed zone), instead of NaN
    stopping the whole population.
    """
    return np.where(pf.converged[..., None] & np.isfinite(pf.vm_pu), pf.vm_pu, 0.0)
