"""Capacity sizing of hybrid new + second-life storage as a Pyomo MILP (``docs/sizing.md``).

Data extraction (:class:`SizingData`, numpy only) is kept apart from the builders that write
constraints, as in PowerModels. Each ``add_*`` builder adds ONE constraint family and states
its equation; :func:`build_sizing_model` only composes them, so a planning study can add
its own constraints through ``extra_constraints(model, data)`` before solving. Components are
indexed by bus id and technology name: ``m.E[18, "retired"]``, ``m.pch[18, "new", t]``.

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

from dataclasses import dataclass, replace

import numpy as np
import pyomo.environ as pyo

from slopt.battery.cost import Technology, annualised_cost_usd
from slopt.errors import InstanceError
from slopt.grid.sensitivity import VoltageModel, ac_model, lindistflow_model
from slopt.io.instance import Instance

__all__ = [
    "SizingData", "sizing_data", "build_sizing_model",
    "add_storage_ratings", "add_siting", "add_c_rate_limit", "add_storage_operation",
    "add_cyclic_soc", "add_charge_discharge_exclusivity", "add_voltage_band", "add_cost_objective",
    "add_elastic_objective", "add_least_throughput", "band_rows", "BandRows", "SizingPlan", "extract_plan",
]


@dataclass
class SizingData:
    """Arrays the sizing builders read (no Pyomo objects).

    ``floor_pu`` and ``ceil_pu`` (shape (T, n_bus)) are the voltage band. ``band`` is the linear
    model of the squared voltages in the sites' net load that :func:`add_voltage_band` writes
    (:class:`slopt.grid.sensitivity.VoltageModel`): LinDistFlow, or the AC power flow
    linearised at a storage operating point, which the AC loop of :func:`slopt.solve_sizing`
    moves to each new plan.
    """

    instance: Instance
    techs: list[Technology]
    cand_idx: np.ndarray          # internal bus index of each candidate
    base_p_kw: np.ndarray         # (T, n_bus) net load without storage
    base_q_kvar: np.ndarray
    band: VoltageModel            # w ~= w_point + dw_dp (p - p_point)
    floor_pu: np.ndarray          # (T, n_bus)
    ceil_pu: np.ndarray           # (T, n_bus)
    dt_h: float
    objective: str = "capex"      # "capex" (Eq. 2) or "annualised"
    exclusivity: object = False   # binaries forbidding simultaneous charge and discharge: all steps (True) or a (C, K, T) mask
    direction: np.ndarray | None = None  # (C, K, T) int8: +1 charge only, -1 discharge only, 0 free
    pcs_hull: bool = False        # pch + pdis <= P instead of pch <= P, pdis <= P (set once a plan cycled)
    fixed_initial_soc: bool = False  # True: the day starts (and ends) at soc_initial; False: free cyclic start
    fixed_sites: np.ndarray | None = None  # free siting: 0/1 per candidate to fix the siting binaries
    elastic: bool = False         # band rows get slacks and the objective is the least violation
    fixed_sizes: tuple | None = None  # (e_kwh, p_kw), each (C, K): sizes fixed, least throughput sought
    cuts: "BandRows | None" = None  # floor rows kept from earlier linearisations (tangent cuts)
    day_weights: np.ndarray | None = None  # days each modelled day stands for (representative days); 1 each
    row_window: float = 0.1       # write band rows within this fraction of their swing from binding

    @property
    def T(self) -> int:
        return self.base_p_kw.shape[0]

    @property
    def n_cand(self) -> int:
        return self.cand_idx.size

    @property
    def n_days(self) -> int:
        """Cyclic days in the model (1 for a one-day instance)."""
        return int(self.instance.n_days)

    @property
    def steps_per_day(self) -> int:
        return self.T // self.n_days

    def weight_of_step(self) -> np.ndarray:
        """(T,) the number of days each step's day stands for (the representative-day weights)."""
        w = np.ones(self.n_days) if self.day_weights is None else np.asarray(self.day_weights, dtype=float)
        return np.repeat(w, self.steps_per_day)

    @property
    def site_ids(self) -> np.ndarray:
        """Bus ids of the candidate sites (the model's index ``c``)."""
        return self.instance.feeder.bus_ids[self.cand_idx]

    @property
    def site_pos(self) -> dict:
        return {int(b): i for i, b in enumerate(self.site_ids)}

    @property
    def tech_pos(self) -> dict:
        return {t.name: i for i, t in enumerate(self.techs)}

    def tech(self, name: str) -> Technology:
        """The technology of the model's index ``k`` (its name). Called once per constraint
        row while a model is built, so a scan of the (two) technologies, not a dict built per call."""
        for t in self.techs:
            if t.name == name:
                return t
        raise KeyError(name)

    def with_band(self, band: VoltageModel) -> "SizingData":
        """A copy that holds the band through another voltage model."""
        return replace(self, band=band)


def sizing_data(instance: Instance, *, objective: str = "capex", exclusivity: bool = False,
                fixed_initial_soc: bool = False, voltage_model: str = "ac") -> SizingData:
    """Extract the arrays of the sizing model from an instance.

    ``voltage_model`` is ``"ac"`` (the AC power flow linearised at the feeder without storage)
    or ``"lindistflow"``.
    """
    if objective not in ("capex", "annualised"):
        raise InstanceError(f"sizing: objective must be 'capex' or 'annualised', got {objective!r}")
    if voltage_model not in ("ac", "lindistflow"):
        raise InstanceError(f"sizing: voltage_model must be 'ac' or 'lindistflow', got {voltage_model!r}")
    f = instance.feeder
    p, q = instance.net_load_kw()
    cand = np.asarray(f.index_of(instance.candidates.bus_ids))
    if voltage_model == "ac":
        band, _ = ac_model(f, p, q, cand)
    else:
        band = lindistflow_model(f, p, q, cand)
    techs = [instance.technologies[k] for k in ("new", "retired") if k in instance.technologies]
    T = p.shape[0]
    return SizingData(
        instance=instance, techs=techs, cand_idx=cand, base_p_kw=p, base_q_kvar=q, band=band,
        floor_pu=np.full((T, f.n_bus), instance.vmin_pu), ceil_pu=np.full((T, f.n_bus), instance.vmax_pu),
        dt_h=instance.dt_h, objective=objective, exclusivity=exclusivity, fixed_initial_soc=fixed_initial_soc,
    )


# --------------------------------------------------------------------------- builders
def add_storage_ratings(m, d: SizingData) -> None:
    """Ratings: ``0 <= E[c,k] <= E_max[c]``, ``0 <= P[c,k] <= P_max[c]`` (Yuan et al. §3.1 E, P)."""
    cands = d.instance.candidates
    m.C = pyo.Set(initialize=[int(b) for b in d.site_ids], ordered=True, doc="candidate sites (bus ids)")
    m.K = pyo.Set(initialize=[t.name for t in d.techs], ordered=True, doc="technologies (new, retired)")
    m.T = pyo.RangeSet(0, d.T - 1)
    e_max = np.broadcast_to(np.asarray(cands.e_max_kwh, dtype=float), (d.n_cand,))
    p_max = np.broadcast_to(np.asarray(cands.p_max_kw, dtype=float), (d.n_cand,))
    cp = d.site_pos
    m.E = pyo.Var(m.C, m.K, bounds=lambda _, c, k: (0.0, float(e_max[cp[c]])), doc="nameplate energy [kWh]")
    m.P = pyo.Var(m.C, m.K, bounds=lambda _, c, k: (0.0, float(p_max[cp[c]])), doc="PCS rating [kW]")


def add_siting(m, d: SizingData) -> None:
    """Siting. Fixed mode: every candidate may hold storage (no binaries).

    Free mode: ``E[c,k] <= E_max[c] y[c]``, ``P[c,k] <= P_max[c] y[c]``, ``sum_c y[c] <= N_sites``
    and ``sum_k E[c,k] >= E_min[c] y[c]``; ``d.fixed_sites`` fixes ``y``.
    """
    cands = d.instance.candidates
    cp = d.site_pos
    e_min = np.broadcast_to(np.asarray(cands.e_min_kwh, dtype=float), (d.n_cand,))
    if cands.fixed:
        m.site_min = pyo.Constraint(m.C, rule=lambda m, c: sum(m.E[c, k] for k in m.K) >= float(e_min[cp[c]])
                                    if e_min[cp[c]] > 0 else pyo.Constraint.Skip)
        return
    m.y = pyo.Var(m.C, within=pyo.Binary, doc="site built")
    m.site_e = pyo.Constraint(m.C, m.K, rule=lambda m, c, k: m.E[c, k] <= m.E[c, k].ub * m.y[c])
    m.site_p = pyo.Constraint(m.C, m.K, rule=lambda m, c, k: m.P[c, k] <= m.P[c, k].ub * m.y[c])
    m.site_count = pyo.Constraint(expr=sum(m.y[c] for c in m.C) <= int(cands.max_sites))
    m.site_min = pyo.Constraint(m.C, rule=lambda m, c: sum(m.E[c, k] for k in m.K) >= float(e_min[cp[c]]) * m.y[c]
                                if e_min[cp[c]] > 0 else pyo.Constraint.Skip)
    if d.fixed_sites is not None:                  # polish or refine at a given siting
        for c in m.C:
            m.y[c].fix(int(round(float(d.fixed_sites[cp[c]]))))


def add_c_rate_limit(m, d: SizingData) -> None:
    """C-rate on the SOH-derated usable energy: ``P[c,k] <= Crate_k * SOH_k * E[c,k]``.

    For retired packs (SOH < 1) this is the retired-pack C-rate limit; new packs use SOH 1.
    """
    m.c_rate = pyo.Constraint(
        m.C, m.K, rule=lambda m, c, k: m.P[c, k] <= d.tech(k).c_rate_max * d.tech(k).soh * m.E[c, k])


def add_storage_operation(m, d: SizingData) -> None:
    """Charge, discharge and SOC per step, each day on its own:

    ``0 <= pch, pdis <= P[c,k]``, or with ``d.pcs_hull`` the tighter ``pch + pdis <= P[c,k]``
    (the convex hull of exclusive operation: valid for every plan that never charges and
    discharges a unit at once, and it halves what a relaxed plan gains by cycling);
    ``e[t] = e[t-1] + (eta_ch pch[t] - pdis[t] / eta_dis) dt``, from ``e0[c,k,day]`` at the first
    step of each day; ``SOC_min SOH E <= e[t], e0 <= SOC_max SOH E``. The start ``e0`` is free
    (the cyclic day of :func:`add_cyclic_soc` ties it to the end of that day) or, with
    ``d.fixed_initial_soc``, ``SOC_0 SOH E``.
    """
    m.D = pyo.RangeSet(0, d.n_days - 1)
    m.pch = pyo.Var(m.C, m.K, m.T, within=pyo.NonNegativeReals, doc="charging power [kW]")
    m.pdis = pyo.Var(m.C, m.K, m.T, within=pyo.NonNegativeReals, doc="discharging power [kW]")
    m.e = pyo.Var(m.C, m.K, m.T, within=pyo.NonNegativeReals, doc="stored energy [kWh]")
    m.e0 = pyo.Var(m.C, m.K, m.D, within=pyo.NonNegativeReals, doc="stored energy at the start of each day [kWh]")
    if d.pcs_hull:     # the convex hull of exclusive operation (either pch <= P or pdis <= P, the other 0)
        m.pcs_lim = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t: m.pch[c, k, t] + m.pdis[c, k, t] <= m.P[c, k])
    else:
        m.ch_lim = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t: m.pch[c, k, t] <= m.P[c, k])
        m.dis_lim = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t: m.pdis[c, k, t] <= m.P[c, k])
    dt, spd = d.dt_h, d.steps_per_day

    def balance(m, c, k, t):
        tech = d.tech(k)
        prev = m.e[c, k, t - 1] if t % spd else m.e0[c, k, t // spd]
        return m.e[c, k, t] == prev + dt * (tech.eta_charge * m.pch[c, k, t] - m.pdis[c, k, t] / tech.eta_discharge)

    m.soc_balance = pyo.Constraint(m.C, m.K, m.T, rule=balance)
    m.soc_lo = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t:
                              m.e[c, k, t] >= d.tech(k).soc_min * d.tech(k).soh * m.E[c, k])
    m.soc_hi = pyo.Constraint(m.C, m.K, m.T, rule=lambda m, c, k, t:
                              m.e[c, k, t] <= d.tech(k).soc_max * d.tech(k).soh * m.E[c, k])
    if d.fixed_initial_soc:
        m.soc_start = pyo.Constraint(m.C, m.K, m.D, rule=lambda m, c, k, j:
                                     m.e0[c, k, j] == d.tech(k).soc_initial * d.tech(k).soh * m.E[c, k])
    else:
        m.soc_start_lo = pyo.Constraint(m.C, m.K, m.D, rule=lambda m, c, k, j:
                                        m.e0[c, k, j] >= d.tech(k).soc_min * d.tech(k).soh * m.E[c, k])
        m.soc_start_hi = pyo.Constraint(m.C, m.K, m.D, rule=lambda m, c, k, j:
                                        m.e0[c, k, j] <= d.tech(k).soc_max * d.tech(k).soh * m.E[c, k])


def add_cyclic_soc(m, d: SizingData) -> None:
    """Cyclic days: ``e[last step of day] = e0[day]`` (each day can repeat; the start is free unless
    fixed). Representative days of a year are independent cyclic days."""
    spd = d.steps_per_day
    m.soc_cyclic = pyo.Constraint(m.C, m.K, m.D, rule=lambda m, c, k, j: m.e[c, k, (j + 1) * spd - 1] == m.e0[c, k, j])


def add_charge_discharge_exclusivity(m, d: SizingData) -> None:
    """No simultaneous charge and discharge: ``pch <= P_max u``, ``pdis <= P_max (1 - u)``, u binary.

    Only where ``d.exclusivity`` asks: ``True`` for every step, or a boolean mask (C, K, T) of
    the site, technology and step entries that need it. The AC loop adds the entries where a
    relaxed plan charged and discharged at once (cycling through a unit wastes energy, which a
    plan fighting over-voltage would otherwise use), so the MILP carries few of these binaries.
    ``d.direction`` instead fixes the direction of such entries (the ``"fix"`` option of
    :class:`slopt.sizing.SizingOptions`): an LP, a restriction of the problem.
    """
    if d.direction is not None:                     # directions fixed where a relaxed plan cycled
        ids, names = [int(b) for b in d.site_ids], [t.name for t in d.techs]
        for c, k, t in zip(*np.nonzero(d.direction)):
            var = m.pdis if d.direction[c, k, t] > 0 else m.pch
            var[ids[c], names[k], int(t)].fix(0.0)
    mask = d.exclusivity
    if mask is False or mask is None:
        return
    if mask is True:
        mask = np.ones((d.n_cand, len(d.techs), d.T), dtype=bool)
    ids, names = [int(b) for b in d.site_ids], [t.name for t in d.techs]
    idx = [(ids[c], names[k], int(t)) for c, k, t in zip(*np.nonzero(mask))]
    if not idx:
        return
    m.EXCL = pyo.Set(initialize=idx, dimen=3, ordered=True)
    m.u = pyo.Var(m.EXCL, within=pyo.Binary, doc="1 = charging")
    m.excl_ch = pyo.Constraint(m.EXCL, rule=lambda m, c, k, t: m.pch[c, k, t] <= m.P[c, k].ub * m.u[c, k, t])
    m.excl_dis = pyo.Constraint(m.EXCL, rule=lambda m, c, k, t:
                                m.pdis[c, k, t] <= m.P[c, k].ub * (1 - m.u[c, k, t]))


def _path_structure(d: SizingData):
    """Buses on the union of root->candidate paths, and each bus's nearest such ancestor.

    In LinDistFlow storage changes the flow only on branches between the root and a
    candidate, so every bus ``j`` off those paths moves with its anchor (nearest ancestor on
    the union, or the root); in AC nearly so. The band builder uses the anchors to group buses
    whose rows can dominate each other. Returns ``nodes`` (internal indices; ``nodes[0]`` is
    the root) and ``anchor`` (position in ``nodes`` for each bus).
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
    return nodes, anchor


@dataclass
class BandRows:
    """The band rows :func:`add_voltage_band` writes: one per (step, bus) that can bind.

    ``rows`` holds ``(t, j)`` pairs (internal bus index), ``coef`` (n_rows, C) the row
    coefficients on the sites' net load and ``rhs`` (n_rows,) the bound, both scaled so that
    the largest coefficient of a row is 1 (rows read in kW). ``side`` is +1 for the floor
    (``coef @ p >= rhs``) and -1 for the ceiling (``coef @ p <= rhs``).
    """

    t: np.ndarray
    j: np.ndarray
    side: np.ndarray
    coef: np.ndarray
    rhs: np.ndarray
    scale: np.ndarray             # p.u.^2 per kW of the row before scaling

    def select(self, mask) -> "BandRows":
        return BandRows(self.t[mask], self.j[mask], self.side[mask], self.coef[mask], self.rhs[mask], self.scale[mask])

    def concat(self, other: "BandRows") -> "BandRows":
        return BandRows(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in
                          ("t", "j", "side", "coef", "rhs", "scale")))

    def slack(self, p_site_kw: np.ndarray) -> np.ndarray:
        """How far each row is from binding at site loads ``p_site_kw`` (C, T), in scaled units."""
        lhs = np.einsum("rc,rc->r", self.coef, p_site_kw[:, self.t].T)
        return self.side * (lhs - self.rhs)


def band_rows(d: SizingData) -> BandRows:
    """Rows of Eq. (1) of :mod:`slopt.grid.sensitivity` held within the band, plus ``d.cuts``.

    For a floor row ``sum_c dw_dp[t,j,c] p[c,t] >= floor^2 - w_point + dw_dp p_point`` (the
    ceiling alike). A row is dropped when it cannot bind for any net load within the sites'
    ratings (|p[c,t]| <= K P_max[c]), or when another bus of the same anchor group dominates
    it: row i follows from row j if ``rhs_j - rhs_i >= sum_c |coef_i - coef_j| K P_max[c]``
    (exact domination; in LinDistFlow the members of a group share coefficients). Rows further
    from binding at the point than ``d.row_window`` of that swing are left out (``None``: none);
    the model is then a relaxation, and the AC loop brings a row back as soon as a plan comes
    near it (it re-linearises at each plan).
    """
    cands = d.instance.candidates
    band = d.band
    S = band.dw_dp_pu2_per_kw                                     # (T, n, C)
    p_range = np.broadcast_to(np.asarray(cands.p_max_kw, dtype=float), (d.n_cand,)) * len(d.techs)
    shift = np.einsum("tjc,ct->tj", S, band.p_point_kw)
    lo_req = d.floor_pu**2 - band.w_point_pu2 + shift            # floor rows: S p >= lo_req
    hi_req = d.ceil_pu**2 - band.w_point_pu2 + shift             # ceiling rows: S p <= hi_req
    swing = np.abs(S) @ p_range                                   # (T, n) largest |S p|
    can_lo = lo_req > -swing
    can_hi = hi_req < swing
    if d.row_window is not None:                 # lazy rows: only those near binding at the point
        can_lo &= band.w_point_pu2 - d.floor_pu**2 <= d.row_window * swing
        can_hi &= d.ceil_pu**2 - band.w_point_pu2 <= d.row_window * swing
    can_lo[:, 0] = can_hi[:, 0] = False
    _, anchor = _path_structure(d)
    keep_lo = _undominated(S, lo_req, can_lo, anchor, p_range, +1)
    keep_hi = _undominated(S, hi_req, can_hi, anchor, p_range, -1)
    parts = []
    for side, keep, req in ((1, keep_lo, lo_req), (-1, keep_hi, hi_req)):
        t, j = np.nonzero(keep)
        parts.append((t, j, np.full(t.size, side), S[t, j], req[t, j]))
    t, j, side, coef, rhs = (np.concatenate(x) for x in zip(*parts))
    scale = np.abs(coef).max(axis=1) if coef.size else np.zeros(0)
    scale = np.where(scale > 0, scale, 1.0)
    rows = BandRows(t, j, side, coef / scale[:, None], rhs / scale, scale)
    return rows if d.cuts is None else rows.concat(d.cuts)


def _undominated(S, req, can, anchor, p_range, side):
    """Mask of rows (T, n) that no other row of their anchor group makes redundant."""
    keep = can.copy()
    for a in np.unique(anchor[1:]):
        members = np.flatnonzero(anchor == a)
        members = members[members > 0]
        if members.size < 2:
            continue
        r = np.where(can[:, members], side * req[:, members], -np.inf)        # (T, m), larger = tighter
        best = np.argmax(r, axis=1)                                          # (T,)
        jb = members[best]
        diff = np.abs(S[:, members, :] - S[np.arange(S.shape[0]), jb][:, None, :]) @ p_range   # (T, m)
        with np.errstate(invalid="ignore"):                                   # -inf rows cannot bind anyway
            dominated = (r.max(axis=1)[:, None] - r) >= diff + 1e-12
        dominated[np.arange(S.shape[0]), best] = False
        keep[:, members] &= ~dominated
    return keep


def add_voltage_band(m, d: SizingData) -> None:
    """Voltage band on the linear voltage model (``docs/powerflow.md``)::

        pnet[c,t] = sum_k (pch[c,k,t] - pdis[c,k,t])                                  (site net load, kW)
        floor[t,j]^2 <= w_point[t,j] + sum_c dw_dp[t,j,c] (pnet[c,t] - p_point[c,t]) <= ceil[t,j]^2

    ``d.band`` is LinDistFlow (Baran & Wu without losses, ``dw_dp = -2 R / S_base``) or the AC
    power flow linearised at a storage point (:mod:`slopt.grid.sensitivity`); the AC loop of
    :func:`slopt.solve_sizing` re-linearises at each plan. Only rows that can bind are written
    (:func:`band_rows`); each is scaled to a largest coefficient of 1. With ``d.elastic`` each
    row gets a slack ``band_slack[r] >= 0`` (for the least-violation plan).
    """
    rows = band_rows(d)
    m.pnet = pyo.Var(m.C, m.T, doc="net load of site c in step t [kW]")
    m.net_def = pyo.Constraint(m.C, m.T, rule=lambda m, c, t: m.pnet[c, t] == sum(
        m.pch[c, k, t] - m.pdis[c, k, t] for k in m.K))
    ids = [int(b) for b in d.site_ids]
    m.ROWS = pyo.RangeSet(0, rows.t.size - 1) if rows.t.size else pyo.Set(initialize=[])
    C = d.n_cand

    if d.elastic:
        m.band_slack = pyo.Var(m.ROWS, within=pyo.NonNegativeReals, doc="band slack [scaled kW]")

    def row(m, r):
        t = int(rows.t[r])
        lhs = sum(float(rows.coef[r, c]) * m.pnet[ids[c], t] for c in range(C) if rows.coef[r, c] != 0.0)
        if d.elastic:
            lhs = lhs + float(rows.side[r]) * m.band_slack[r]
        if rows.side[r] > 0:
            return lhs >= float(rows.rhs[r])
        return lhs <= float(rows.rhs[r])

    m.band = pyo.Constraint(m.ROWS, rule=row)
    m._band_rows = rows


def add_elastic_objective(m, d: SizingData) -> None:
    """Least violation instead of least cost (phase 1 of the AC loop)::

        min  z + (1/R) sum_r scale_r s[r]      s.t.  scale_r s[r] <= z   for every band row r

    where ``s[r] >= 0`` is the slack :func:`add_voltage_band` gives each band row when
    ``d.elastic`` is set and ``scale_r s[r]`` its violation of the squared-voltage band (p.u.^2):
    the largest violation first, then the total, then (1e-11 per kWh) the throughput. Cost plays
    no part.
    """
    rows = m._band_rows
    m.objective.deactivate()
    m.z_violation = pyo.Var(within=pyo.NonNegativeReals, doc="largest band violation [p.u.^2]")
    m.elastic_max = pyo.Constraint(m.ROWS, rule=lambda m, r: float(rows.scale[r]) * m.band_slack[r] <= m.z_violation)
    n = max(len(m.ROWS), 1)
    # a throughput term far below any violation breaks ties against cycling through a unit
    tie = 1e-11 * d.dt_h * sum(m.pch[c, k, t] + m.pdis[c, k, t] for c in m.C for k in m.K for t in m.T)
    m.elastic_objective = pyo.Objective(
        expr=m.z_violation + sum(float(rows.scale[r]) * m.band_slack[r] for r in m.ROWS) / n + tie, sense=pyo.minimize)


def add_least_throughput(m, d: SizingData) -> None:
    """With ``d.fixed_sizes = (E, P)``: the sizes fixed and, instead of the cost,
    ``min sum_{c,k,t} w_t (pch + pdis) dt`` (w: the days each step stands for). The cost is then
    fixed, so this picks, among the plans of that cost, one that never cycles energy through a
    unit unless the band needs it: the 1e-6 $/kWh tie-breaker of the cost objective falls below
    HiGHS's tolerances once costs are scaled, and a least-cost plan may cycle at no visible cost."""
    e_kwh, p_kw = (np.asarray(a, dtype=float) for a in d.fixed_sizes)
    cp, kp = d.site_pos, d.tech_pos
    for c in m.C:
        for k in m.K:          # solver round-off (-1e-14) clipped into the bounds
            m.E[c, k].fix(min(max(float(e_kwh[cp[c], kp[k]]), 0.0), m.E[c, k].ub))
            m.P[c, k].fix(min(max(float(p_kw[cp[c], kp[k]]), 0.0), m.P[c, k].ub))
    m.objective.deactivate()
    w = d.weight_of_step()
    m.throughput_objective = pyo.Objective(expr=d.dt_h * sum(
        float(w[t]) * (m.pch[c, k, t] + m.pdis[c, k, t]) for c in m.C for k in m.K for t in m.T), sense=pyo.minimize)


def add_cost_objective(m, d: SizingData) -> None:
    """Objective. ``capex``: Yuan et al. Eq. 2, ``sum_{c,k} E[c,k] (Ce+Cb+Cj+Cw+Cd)_k + P[c,k] Cp_k``
    (E in Wh, P in W). ``annualised``: the same capital spread with a capital recovery factor and
    replacements over the technology lifetime, plus one year of O&M (``docs/cost.md``).
    A throughput cost of 1e-6 $/kWh breaks ties against needless cycling; it is the only operating
    term, and it counts each representative day by its weight (``d.day_weights``).
    """
    if d.objective == "capex":
        ce = [t.energy_cost_usd_per_kwh for t in d.techs]
        cp = [t.power_cost_usd_per_kw for t in d.techs]
    else:
        ce = [annualised_cost_usd(t, 1.0, 0.0) for t in d.techs]
        cp = [annualised_cost_usd(t, 0.0, 1.0) for t in d.techs]
    kp = d.tech_pos
    m.cost_usd = pyo.Expression(expr=sum(ce[kp[k]] * m.E[c, k] + cp[kp[k]] * m.P[c, k] for c in m.C for k in m.K))
    w = d.weight_of_step()                       # operating terms count each day by the days it stands for
    tie = 1e-6 * d.dt_h * sum(float(w[t]) * (m.pch[c, k, t] + m.pdis[c, k, t]) for c in m.C for k in m.K for t in m.T)
    m.objective = pyo.Objective(expr=m.cost_usd + tie, sense=pyo.minimize)


def build_sizing_model(instance: Instance | SizingData, extra_constraints=None, **kwargs) -> pyo.ConcreteModel:
    """Compose the sizing MILP from the builders.

    Parameters
    ----------
    instance : Instance or SizingData
    extra_constraints : callable, optional
        ``extra_constraints(model, data)`` is called last (``data`` is the :class:`SizingData`, with
        ``data.instance``), to add a study's own constraints, like PyPSA's
        ``extra_functionality``. Components are indexed by bus id and technology name.
    **kwargs
        Passed to :func:`sizing_data` (``objective``, ``exclusivity``).

    Examples
    --------
    >>> import slopt                                                     # doctest: +SKIP
    >>> m = build_sizing_model(slopt.load_instance("instances/ieee33-hybrid.toml"),
    ...     extra_constraints=lambda m, d: m.E[18, "retired"].setub(100.0))   # doctest: +SKIP
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
    if d.elastic:
        add_elastic_objective(m, d)
    if d.fixed_sizes is not None:
        add_least_throughput(m, d)
    if extra_constraints is not None:
        extra_constraints(m, d)
    return m


@dataclass(frozen=True)
class SizingPlan:
    """A solved model's plan as arrays (sites c, technologies k, steps t).

    ``e_kwh``/``p_kw`` (C, K) sizes, ``p_charge_kw``/``p_discharge_kw``/``e_stored_kwh`` (C, K, T),
    ``cost_usd`` the objective's cost term, ``band_slack`` (rows) for elastic models.
    """

    e_kwh: np.ndarray
    p_kw: np.ndarray
    p_charge_kw: np.ndarray
    p_discharge_kw: np.ndarray
    e_stored_kwh: np.ndarray
    cost_usd: float
    sites: np.ndarray
    band_slack: np.ndarray | None = None

    @property
    def p_site_kw(self) -> np.ndarray:
        """Net load of each site (C, T), consumption positive."""
        return (self.p_charge_kw - self.p_discharge_kw).sum(axis=1)


def _values(var, shape, pos=()) -> np.ndarray:
    """Variable values as an array; index components are mapped to positions by the dicts ``pos``."""
    out = np.zeros(shape)
    for idx, v in var.extract_values().items():
        idx = idx if isinstance(idx, tuple) else (idx,)
        key = tuple(p[i] if p is not None else i for p, i in zip(list(pos) + [None] * (len(idx) - len(pos)), idx))
        out[key] = 0.0 if v is None else v
    return out


def extract_plan(m, d: SizingData) -> SizingPlan:
    """The plan of a solved sizing model (values loaded by :func:`slopt.solve.solve`)."""
    C, K, T = d.n_cand, len(d.techs), d.T
    ck = (d.site_pos, d.tech_pos)
    E = _values(m.E, (C, K), ck)
    sites = _values(m.y, (C,), ck[:1]) if hasattr(m, "y") else (E.sum(axis=1) > 1e-9).astype(float)
    slack = _values(m.band_slack, (len(m.ROWS),)) if hasattr(m, "band_slack") else None
    return SizingPlan(E, _values(m.P, (C, K), ck), _values(m.pch, (C, K, T), ck), _values(m.pdis, (C, K, T), ck),
                      _values(m.e, (C, K, T), ck), float(pyo.value(m.cost_usd)), np.round(sites), slack)
