"""Capacity sizing of hybrid new + second-life storage as a Pyomo MILP (DESIGN section 5).

Data extraction (:class:`SizingData`, numpy only) is kept apart from the builders that write
constraints, as in PowerModels. Each ``add_*`` builder adds ONE constraint family and states
its equation; :func:`build_sizing_model` only composes them, so a planning study can add
its own constraints through ``extra_constraints(model, instance)`` before solving.

Symbols (sets: candidate buses c, technologies k in {new, retired}, steps t = 1..T):

====================  =====================================================  ==========
``E[c,k]``            nameplate energy                                         kWh
``P[c,k]``            converter (PCS) rating                                    kW
``y[c]``              site built (free siting only)                             binary
``pch[c,k,t]``        AC charging power                                         kW
``pdis[c,k,t]``       AC discharging power                                      kW
``e[c,k,t]``          stored energy at the end of step t                        kWh
``dt``                step length                                               h
====================  =====================================================  ==========
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from slopt.battery.cost import Technology, annualised_cost_usd
from slopt.grid.lindistflow import sensitivities
from slopt.io.instance import Instance

__all__ = [
    "SizingData", "sizing_data", "build_sizing_model",
    "add_storage_ratings", "add_siting", "add_c_rate_limit", "add_storage_operation",
    "add_cyclic_soc", "add_charge_discharge_exclusivity", "add_voltage_band", "add_cost_objective",
]


@dataclass
class SizingData:
    """Arrays the sizing builders read (no Pyomo objects).

    ``floor_pu`` and ``ceil_pu`` (shape (T, n_bus)) are the voltage limits the model must hold
    in LinDistFlow; they start at the band and are tightened by the AC check loop.
    """

    instance: Instance
    techs: list[Technology]
    cand_idx: np.ndarray          # internal bus index of each candidate
    base_p_kw: np.ndarray         # (T, n_bus) net load without storage
    base_q_kvar: np.ndarray
    w_base_pu2: np.ndarray        # (T, n_bus) LinDistFlow squared voltage without storage
    dw_dp: np.ndarray             # (n_bus, n_cand) squared-voltage drop per kW of net load at c
    floor_pu: np.ndarray          # (T, n_bus)
    ceil_pu: np.ndarray           # (T, n_bus)
    dt_h: float
    objective: str = "capex"      # "capex" (Eq. 2) or "annualised"
    exclusivity: bool = False     # binaries forbidding simultaneous charge and discharge
    fixed_initial_soc: bool = False  # True: the day starts (and ends) at soc_initial; False: free cyclic start

    @property
    def T(self) -> int:
        return self.base_p_kw.shape[0]

    @property
    def n_cand(self) -> int:
        return self.cand_idx.size


def sizing_data(instance: Instance, *, objective: str = "capex", exclusivity: bool = False,
                fixed_initial_soc: bool = False) -> SizingData:
    """Extract the arrays of the sizing model from an instance."""
    if objective not in ("capex", "annualised"):
        raise ValueError(f"objective must be 'capex' or 'annualised', got {objective!r}")
    f = instance.feeder
    p, q = instance.net_load_kw()
    s = sensitivities(f)
    pp, qq = p.copy(), q.copy()
    pp[:, 0] = 0.0
    qq[:, 0] = 0.0
    w_base = s.w0_pu2 - pp @ s.dw_dp_per_kw.T - qq @ s.dw_dq_per_kvar.T
    cand = f.index_of(instance.candidates.bus_ids)
    techs = [instance.technologies[k] for k in ("new", "retired") if k in instance.technologies]
    T = p.shape[0]
    return SizingData(
        instance=instance, techs=techs, cand_idx=np.asarray(cand), base_p_kw=p, base_q_kvar=q,
        w_base_pu2=w_base, dw_dp=s.dw_dp_per_kw[:, cand],
        floor_pu=np.full((T, f.n_bus), instance.vmin_pu), ceil_pu=np.full((T, f.n_bus), instance.vmax_pu),
        dt_h=instance.dt_h, objective=objective, exclusivity=exclusivity, fixed_initial_soc=fixed_initial_soc,
    )


# --------------------------------------------------------------------------- builders
def add_storage_ratings(m, d: SizingData) -> None:
    """Ratings: ``0 <= E[c,k] <= E_max[c]``, ``0 <= P[c,k] <= P_max[c]`` (DESIGN 5; seed 002 §3.1 E, P)."""
    cands = d.instance.candidates
    m.C = pyo.RangeSet(0, d.n_cand - 1)
    m.K = pyo.RangeSet(0, len(d.techs) - 1)
    m.T = pyo.RangeSet(0, d.T - 1)
    e_max = np.broadcast_to(np.asarray(cands.e_max_kwh, dtype=float), (d.n_cand,))
    p_max = np.broadcast_to(np.asarray(cands.p_max_kw, dtype=float), (d.n_cand,))
    m.E = pyo.Var(m.C, m.K, bounds=lambda _, c, k: (0.0, float(e_max[c])), doc="nameplate energy [kWh]")
    m.P = pyo.Var(m.C, m.K, bounds=lambda _, c, k: (0.0, float(p_max[c])), doc="PCS rating [kW]")


def add_siting(m, d: SizingData) -> None:
    """Siting. Fixed mode: every candidate may hold storage (no binaries).

    Free mode: ``E[c,k] <= E_max[c] y[c]``, ``P[c,k] <= P_max[c] y[c]``, ``sum_c y[c] <= N_sites``
    and ``sum_k E[c,k] >= E_min[c] y[c]``.
    """
    cands = d.instance.candidates
    e_min = np.broadcast_to(np.asarray(cands.e_min_kwh, dtype=float), (d.n_cand,))
    if cands.fixed:
        m.site_min = pyo.Constraint(m.C, rule=lambda m, c: sum(m.E[c, k] for k in m.K) >= float(e_min[c])
                                    if e_min[c] > 0 else pyo.Constraint.Skip)
        return
    m.y = pyo.Var(m.C, within=pyo.Binary, doc="site built")
    m.site_e = pyo.Constraint(m.C, m.K, rule=lambda m, c, k: m.E[c, k] <= m.E[c, k].ub * m.y[c])
    m.site_p = pyo.Constraint(m.C, m.K, rule=lambda m, c, k: m.P[c, k] <= m.P[c, k].ub * m.y[c])
    m.site_count = pyo.Constraint(expr=sum(m.y[c] for c in m.C) <= int(cands.max_sites))
    m.site_min = pyo.Constraint(m.C, rule=lambda m, c: sum(m.E[c, k] for k in m.K) >= float(e_min[c]) * m.y[c]
                                if e_min[c] > 0 else pyo.Constraint.Skip)


def add_c_rate_limit(m, d: SizingData) -> None:
    """C-rate on the SOH-derated usable energy: ``P[c,k] <= Crate_k * SOH_k * E[c,k]``.

    For retired packs (SOH < 1) this is the retired-pack limit of DESIGN 5; new packs use SOH 1.
    """
    m.c_rate = pyo.Constraint(
        m.C, m.K, rule=lambda m, c, k: m.P[c, k] <= d.techs[k].c_rate_max * d.techs[k].soh * m.E[c, k])


def add_storage_operation(m, d: SizingData) -> None:
    """Charge, discharge and SOC per step (DESIGN 5):

    ``0 <= pch, pdis <= P[c,k]``;
    ``e[t] = e[t-1] + (eta_ch pch[t] - pdis[t] / eta_dis) dt`` from the start of day ``e0[c,k]``;
    ``SOC_min SOH E <= e[t], e0 <= SOC_max SOH E``. The start ``e0`` is free (the cyclic day of
    :func:`add_cyclic_soc` ties it to the end of day) or, with ``d.fixed_initial_soc``,
    ``SOC_0 SOH E``.
    """
    m.pch = pyo.Var(m.C, m.K, m.T, within=pyo.NonNegativeReals, doc="charging power [kW]")
    m.pdis = pyo.Var(m.C, m.K, m.T, within=pyo.NonNegativeReals, doc="discharging power [kW]")
    m.e = pyo.Var(m.C, m.K, m.T, within=pyo.NonNegativeReals, doc="stored energy [kWh]")
    m.e0 = pyo.Var(m.C, m.K, within=pyo.NonNegativeReals, doc="stored energy at the start of the day [kWh]")
    m.ch_lim = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t: m.pch[c, k, t] <= m.P[c, k])
    m.dis_lim = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t: m.pdis[c, k, t] <= m.P[c, k])
    dt = d.dt_h

    def balance(m, c, k, t):
        tech = d.techs[k]
        prev = m.e[c, k, t - 1] if t > 0 else m.e0[c, k]
        return m.e[c, k, t] == prev + dt * (tech.eta_charge * m.pch[c, k, t] - m.pdis[c, k, t] / tech.eta_discharge)

    m.soc_balance = pyo.Constraint(m.C, m.K, m.T, rule=balance)
    m.soc_lo = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t:
                              m.e[c, k, t] >= d.techs[k].soc_min * d.techs[k].soh * m.E[c, k])
    m.soc_hi = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t:
                              m.e[c, k, t] <= d.techs[k].soc_max * d.techs[k].soh * m.E[c, k])
    if d.fixed_initial_soc:
        m.soc_start = pyo.Constraint(m.C, m.K, rule=lambda m, c, k:
                                     m.e0[c, k] == d.techs[k].soc_initial * d.techs[k].soh * m.E[c, k])
    else:
        m.soc_start_lo = pyo.Constraint(m.C, m.K, rule=lambda m, c, k:
                                        m.e0[c, k] >= d.techs[k].soc_min * d.techs[k].soh * m.E[c, k])
        m.soc_start_hi = pyo.Constraint(m.C, m.K, rule=lambda m, c, k:
                                        m.e0[c, k] <= d.techs[k].soc_max * d.techs[k].soh * m.E[c, k])


def add_cyclic_soc(m, d: SizingData) -> None:
    """Cyclic day: ``e[T-1] = e0`` (the day can repeat; the start is free unless fixed)."""
    last = d.T - 1
    m.soc_cyclic = pyo.Constraint(m.C, m.K, rule=lambda m, c, k: m.e[c, k, last] == m.e0[c, k])


def add_charge_discharge_exclusivity(m, d: SizingData) -> None:
    """No simultaneous charge and discharge: ``pch <= P_max u``, ``pdis <= P_max (1 - u)``, u binary.

    Only added when ``d.exclusivity`` is set (the solve loop adds it if a relaxed plan
    charges and discharges one unit in the same step).
    """
    if not d.exclusivity:
        return
    m.u = pyo.Var(m.C, m.K, m.T, within=pyo.Binary, doc="1 = charging")
    m.excl_ch = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t: m.pch[c, k, t] <= m.P[c, k].ub * m.u[c, k, t])
    m.excl_dis = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t:
                                m.pdis[c, k, t] <= m.P[c, k].ub * (1 - m.u[c, k, t]))


def _path_structure(d: SizingData):
    """Buses on the union of root->candidate paths, and each bus's nearest such ancestor.

    Storage changes the flow only on branches between the root and a candidate, so the
    squared voltage change ``dw`` is only distinct on those buses; every other bus ``j``
    shares the ``dw`` of its anchor (nearest ancestor on the union, or the root).
    Returns ``nodes`` (internal indices; ``nodes[0]`` is the root), ``anchor`` (position in
    ``nodes`` for each bus) and ``parent_pos`` (position of each node's parent in ``nodes``).
    """
    f = d.instance.feeder
    on = f.path_matrix[d.cand_idx].max(axis=0) > 0
    on[0] = True
    nodes = np.flatnonzero(on)
    pos = -np.ones(f.n_bus, dtype=int)
    pos[nodes] = np.arange(nodes.size)
    anchor = np.zeros(f.n_bus, dtype=int)
    for j in range(1, f.n_bus):  # BFS order, setup only (one pass over buses, not per step)
        anchor[j] = pos[j] if on[j] else anchor[f.parent[j]]
    parent_pos = np.array([-1] + [pos[f.parent[a]] for a in nodes[1:]], dtype=int)
    return nodes, anchor, parent_pos


def add_voltage_band(m, d: SizingData) -> None:
    """LinDistFlow flows and voltages with the band (DESIGN 3; Baran & Wu DistFlow without losses).

    Written for the change that storage makes to the base case, on the buses ``a`` of the
    root->candidate paths (all other buses follow their anchor, see :func:`_path_structure`)::

        dP[a,t]  = sum_{b child of a} dP[b,t] + sum_k (pch[c,k,t] - pdis[c,k,t])  [a = bus of c]   (flows, kW)
        dw[a,t]  = dw[parent(a),t] - 2 r_a dP[a,t] / S_base,   dw[root,t] = 0                      (voltages)
        floor[j,t]^2 - w_base[j,t] <= dw[anchor(j),t] <= ceil[j,t]^2 - w_base[j,t]   for every bus j   (band)

    ``w_base`` is the LinDistFlow squared voltage of the net load without storage, so
    ``w = w_base + dw`` is exactly the LinDistFlow solution with storage. Band rows are kept
    per anchor (the tightest bus of its group) and only where they can bind for some storage
    power within the rating bounds (the others are exactly redundant).
    """
    f = d.instance.feeder
    cands = d.instance.candidates
    nodes, anchor, parent_pos = _path_structure(d)
    A = nodes.size
    lo_req = d.floor_pu**2 - d.w_base_pu2           # (T, n_bus) required dw
    hi_req = d.ceil_pu**2 - d.w_base_pu2
    lo_req[:, 0], hi_req[:, 0] = -np.inf, np.inf
    lo = np.full((d.T, A), -np.inf)
    hi = np.full((d.T, A), np.inf)
    np.maximum.at(lo.T, anchor, lo_req.T)
    np.minimum.at(hi.T, anchor, hi_req.T)
    p_max = np.broadcast_to(np.asarray(cands.p_max_kw, dtype=float), (d.n_cand,)) * len(d.techs)
    swing = (d.dw_dp @ p_max)[nodes]                 # largest |dw| storage can cause at each node
    rows_lo = [(int(t), int(a)) for t, a in zip(*np.nonzero(lo > -swing[None, :]))]
    rows_hi = [(int(t), int(a)) for t, a in zip(*np.nonzero(hi < swing[None, :]))]

    kva = 1e3 * f.base_mva
    coef = 2.0 * f.r_pu[nodes] / kva
    children = [[] for _ in range(A)]
    for b in range(1, A):
        children[parent_pos[b]].append(b)
    cand_at = {}
    for c, j in enumerate(d.cand_idx):
        cand_at.setdefault(int(np.flatnonzero(nodes == j)[0]), []).append(c)

    m.A = pyo.RangeSet(0, A - 1)
    m.dP = pyo.Var(m.A, m.T, doc="storage-induced flow into node [kW]")
    m.dw = pyo.Var(m.A, m.T, doc="storage-induced change of squared voltage [p.u.^2]")
    for t in range(d.T):
        m.dw[0, t].fix(0.0)
        m.dP[0, t].fix(0.0)
    m.flow = pyo.Constraint(pyo.RangeSet(1, A - 1), m.T, rule=lambda m, a, t: m.dP[a, t] == sum(
        m.dP[b, t] for b in children[a]) + sum(m.pch[c, k, t] - m.pdis[c, k, t] for c in cand_at.get(a, ()) for k in m.K))
    m.volt = pyo.Constraint(pyo.RangeSet(1, A - 1), m.T, rule=lambda m, a, t:
                            m.dw[a, t] == m.dw[int(parent_pos[a]), t] - float(coef[a]) * m.dP[a, t])
    m.V_LO = pyo.Set(initialize=rows_lo, dimen=2, ordered=True)
    m.V_HI = pyo.Set(initialize=rows_hi, dimen=2, ordered=True)
    m.v_lo = pyo.Constraint(m.V_LO, rule=lambda m, t, a: m.dw[a, t] >= float(lo[t, a]))
    m.v_hi = pyo.Constraint(m.V_HI, rule=lambda m, t, a: m.dw[a, t] <= float(hi[t, a]))
    # for reports: the bus that sets each anchor's limit
    worst_lo = np.full((d.T, A), -1)
    worst_hi = np.full((d.T, A), -1)
    for a in range(A):
        members = np.flatnonzero(anchor == a)
        worst_lo[:, a] = members[np.argmax(lo_req[:, members], axis=1)]
        worst_hi[:, a] = members[np.argmin(hi_req[:, members], axis=1)]
    m._band = {"nodes": nodes, "lo": lo, "hi": hi, "worst_lo": worst_lo, "worst_hi": worst_hi}


def add_cost_objective(m, d: SizingData) -> None:
    """Objective. ``capex``: seed 002 Eq. 2, ``sum_{c,k} E[c,k] (Ce+Cb+Cj+Cw+Cd)_k + P[c,k] Cp_k``
    (E in Wh, P in W). ``annualised``: the same capital spread with a capital recovery factor and
    replacements over the technology lifetime, plus one year of O&M (DESIGN 4).
    A throughput cost of 1e-6 $/kWh breaks ties against needless cycling.
    """
    if d.objective == "capex":
        ce = [t.energy_cost_usd_per_kwh for t in d.techs]
        cp = [t.power_cost_usd_per_kw for t in d.techs]
    else:
        ce = [annualised_cost_usd(t, 1.0, 0.0) for t in d.techs]
        cp = [annualised_cost_usd(t, 0.0, 1.0) for t in d.techs]
    m.cost_usd = pyo.Expression(expr=sum(ce[k] * m.E[c, k] + cp[k] * m.P[c, k] for c in m.C for k in m.K))
    tie = 1e-6 * d.dt_h * sum(m.pch[c, k, t] + m.pdis[c, k, t] for c in m.C for k in m.K for t in m.T)
    m.objective = pyo.Objective(expr=m.cost_usd + tie, sense=pyo.minimize)


def build_sizing_model(instance: Instance | SizingData, extra_constraints=None, **kwargs) -> pyo.ConcreteModel:
    """Compose the sizing MILP from the builders.

    Parameters
    ----------
    instance : Instance or SizingData
    extra_constraints : callable, optional
        ``extra_constraints(model, instance)`` is called last, to add a study's own constraints
        (like PyPSA's ``extra_functionality``).
    **kwargs
        Passed to :func:`sizing_data` (``objective``, ``exclusivity``).

    Examples
    --------
    >>> import slopt                                                     # doctest: +SKIP
    >>> m = build_sizing_model(slopt.load_instance("instances/ieee33-hybrid.toml"),
    ...     extra_constraints=lambda m, inst: m.E[0, 1].setub(100.0))   # doctest: +SKIP
    """
    d = instance if isinstance(instance, SizingData) else sizing_data(instance, **kwargs)
    m = pyo.ConcreteModel(name=f"sizing[{d.instance.name}]")
    m._data = d
    add_storage_ratings(m, d)
    add_siting(m, d)
    add_c_rate_limit(m, d)
    add_storage_operation(m, d)
    add_cyclic_soc(m, d)
    add_charge_discharge_exclusivity(m, d)
    add_voltage_band(m, d)
    add_cost_objective(m, d)
    if extra_constraints is not None:
        extra_constraints(m, d.instance)
    return m
