"""Dispatch among battery groups over a horizon as a Pyomo QP (Yuan et al. §4.2-4.3; ``docs/dispatch_optimal.md``).

Data (:class:`DispatchModelData`, numpy only) is kept apart from the builders that write the
constraints. Each ``add_*`` builder adds ONE constraint family and states its equation;
:func:`build_dispatch_model` only composes them. ``slopt.dispatch.optimal`` turns battery groups
and a request into :class:`DispatchModelData`, solves through :func:`slopt.solve.solve` and reads the
plan back with :func:`dispatch_solution`.

Symbols (groups g = 0..G-1, steps t = 0..T-1; sign of Yuan et al. Eq. 11a: + charging):

=====================  ==============================================================  ==========
``pch[g,t]``           AC charging power of group g                                     kW
``pdis[g,t]``          AC discharging power of group g                                  kW
``e[g,t]``             stored energy at the end of step t (an Expression)               kWh
``u[t]``               unserved part of the request (same sign as the request)          kW
``life[g]``            normalised life consumption ``C_g N_g^Life`` / ``L_ref``         1
``nbar``               its mean (Eq. 10c), a free variable                               1
``R[t]``               power requested of the whole unit (``P_ESS`` of Eq. 11c)         kW
``P_g``, ``E_g``       converter rating, nameplate energy                               kW, kWh
``U_g``                usable energy ``SOH_g E_g``                                      kWh
``N_g``                remaining full cycles at ``SOH_g`` (Eq. 7b)                       cycles
``C_g``                ``1/N_g`` (Eq. 10b)                                               1/cycles
``dt``                 step length                                                       h
=====================  ==============================================================  ==========

Modelling choices (see ``docs/dispatch_optimal.md``):

* **EFC by throughput.** Rainflow counting (Eq. 7c, 8) is not expressible in a MILP/QP. The
  model uses the cell-side throughput ``N_g^Life = sum_t dt (eta_ch pch + pdis/eta_dis) / (2 U_g)``,
  which equals the rainflow EFC of the SOC trajectory exactly for a linear DoD law (Woehler
  ``k = 1``: rainflow ranges add up to half the total variation) and over-counts a cycle of depth
  D by the factor ``D^(1-k)`` for ``k > 1``.
* **Sign coherence.** By default every group follows the sign of the request (no group charges
  while another, or itself, discharges). This is the paper's charging/discharging mode ``A`` of
  Eq. 9, it makes the model a *continuous* convex QP that HiGHS solves, and it removes the
  degenerate way a variance objective can "balance" wear: circulating energy between groups.
  ``counterflow=True`` lifts it; then Eq. 10 does use circulation (a group charging and
  discharging in the same step) when that lowers the variance, burning energy to wear the
  healthy groups, which the plan reports as ``max_simultaneous_kw``.
* **Always feasible.** ``u[t]`` carries what cannot be served; it is penalised with a weight
  that provably exceeds any variance gain from shedding (see :meth:`DispatchModelData.unserved_weight`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from slopt.battery.aging import DEFAULT_FIT, CycleLifeFit, remaining_cycles
from slopt.battery.groups import GROUP_FIELDS, BatteryGroups

__all__ = [
    "DispatchModelOptions", "DispatchModelData", "dispatch_model_data", "build_dispatch_model", "dispatch_solution",
    "add_group_power", "add_soc_balance", "add_ess_power_balance", "add_charge_discharge_exclusivity",
    "add_life_consumption", "add_variance_objective", "add_throughput_objective",
]

OBJECTIVES = ("variance", "throughput")


@dataclass(frozen=True)
class DispatchModelOptions:
    """How the dispatch model is formulated.

    Attributes
    ----------
    objective : str
        ``"variance"``: Yuan et al. Eq. 10, the sample variance of the normalised life consumption
        ``C_g N_g^Life``. ``"throughput"``: the sum ``sum_g C_g N_g^Life`` (degradation-weighted
        throughput, an SOH-weighted-cost MPC baseline). Both add the penalty and the regulariser.
    counterflow : bool
        Allow groups to run against the request's sign (default False, see module notes).
    exclusivity : bool
        Binaries forbidding simultaneous charge and discharge of one group. Only meaningful with
        ``counterflow`` and a linear objective (``objective="throughput"``, ``w_reg=0``): HiGHS
        does not solve mixed-integer QPs.
    w_unserved : float or None
        Penalty per unit of unserved energy ``sum_t |u_t| dt / Thr_ref``; None: automatic bound
        (:meth:`DispatchModelData.unserved_weight`).
    w_reg : float
        Weight of the strictly convex regulariser that makes the plan unique (dimensionless,
        relative to the variance term which is O(1) when wear is unbalanced).
    objective_scale : float
        Factor on the whole objective. HiGHS's QP tolerances are absolute (1e-7); near the
        optimum the variance's slope vanishes and only the regulariser's slope selects the plan,
        so the objective is scaled up for that choice to be resolved (default 1e4).
    min_remaining_cycles : float
        Floor on ``N_g`` (Eq. 7b is <= 0 past the fitted end of life; ``C_g = 1/N_g`` must stay finite).
    fit : CycleLifeFit
        Coefficients of Eq. 7b.
    """

    objective: str = "variance"
    counterflow: bool = False
    exclusivity: bool = False
    w_unserved: float | None = None
    w_reg: float = 1e-4
    objective_scale: float = 1e4
    min_remaining_cycles: float = 1.0
    fit: CycleLifeFit = field(default=DEFAULT_FIT)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.w_reg < 0.0 or (self.w_unserved is not None and self.w_unserved <= 0.0):
            raise ValueError("w_reg must be >= 0 and w_unserved > 0")
        if self.exclusivity and (self.objective != "throughput" or self.w_reg > 0.0):
            raise ValueError("exclusivity binaries need a linear objective (objective='throughput', "
                             "w_reg=0): HiGHS does not solve mixed-integer QPs")
        if not self.objective_scale > 0.0:
            raise ValueError("objective_scale must be > 0")
        if not self.min_remaining_cycles > 0.0:
            raise ValueError("min_remaining_cycles must be > 0")


@dataclass
class DispatchModelData:
    """Arrays the dispatch builders read (no Pyomo objects). Group arrays have shape (G,).

    Attributes
    ----------
    groups : BatteryGroups
        The groups' energy, rating, SOH, efficiencies and SOC window
        (:class:`slopt.battery.groups.BatteryGroups`), as (G,) float arrays.
    e0_kwh : ndarray (G,)
        Stored energy at the start of the horizon.
    request_kw : ndarray (T,)
        Power asked of the unit, + charging (``P_ESS(t)`` of Eq. 11c).
    dt_h : float
    n_remaining : ndarray (G,)
        ``N_g``, remaining full cycles (Eq. 7b, floored at ``options.min_remaining_cycles``).
    life_used0 : ndarray (G,)
        Normalised life already consumed before the horizon, ``C_g * EFC_g`` (dimensionless);
        zeros for a stand-alone plan, the history for a receding-horizon controller.
    multiplicity : ndarray (G,) of int
        How many identical groups each entry stands for (default 1). Identical groups (same data,
        state and history) get identical powers at the unique optimum, so they are modelled once
        and weighted (``slopt.dispatch.optimal`` aggregates them).
    options : DispatchModelOptions
    """

    groups: BatteryGroups
    e0_kwh: np.ndarray
    request_kw: np.ndarray
    dt_h: float
    n_remaining: np.ndarray
    life_used0: np.ndarray
    multiplicity: np.ndarray | None = None
    options: DispatchModelOptions = field(default_factory=DispatchModelOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.groups, BatteryGroups):
            raise ValueError(f"dispatch: groups must be a BatteryGroups, got {type(self.groups).__name__}")
        own = ("e0_kwh", "n_remaining", "life_used0")
        names = GROUP_FIELDS + own
        values = [getattr(self.groups, n) for n in GROUP_FIELDS] + [getattr(self, n) for n in own]
        arrs = [np.atleast_1d(np.asarray(v, dtype=float)) for v in values]
        try:
            arrs = np.broadcast_arrays(*arrs)
        except ValueError:
            raise ValueError("dispatch: group arrays must broadcast to one shape (G,)") from None
        if arrs[0].ndim != 1:
            raise ValueError(f"dispatch: group arrays must be 1-D (G,), got shape {arrs[0].shape}")
        for n, a in zip(names, arrs):
            if not np.all(np.isfinite(a)):
                raise ValueError(f"dispatch: {n} must be finite")
        arrs = [np.array(a) for a in arrs]
        self.groups = BatteryGroups(*arrs[:len(GROUP_FIELDS)])
        for n, a in zip(own, arrs[len(GROUP_FIELDS):]):
            setattr(self, n, a)
        g = self.groups
        mult = np.ones(arrs[0].shape, dtype=int) if self.multiplicity is None else np.asarray(self.multiplicity)
        if mult.shape != arrs[0].shape or np.any(mult < 1) or np.any(mult != np.round(mult)):
            raise ValueError("dispatch: multiplicity must be positive integers of shape (G,)")
        self.multiplicity = mult.astype(int)
        r = np.atleast_1d(np.array(self.request_kw, dtype=float))
        if r.ndim != 1 or not np.all(np.isfinite(r)):
            raise ValueError("dispatch: request_kw must be a finite 1-D array (T,)")
        # round-off such as sin(pi) = 1e-16 kW means idle, not charging
        r[np.abs(r) <= 1e-9 * max(1.0, float(np.abs(r).max(initial=0.0)))] = 0.0
        self.request_kw = r
        if not (np.isfinite(self.dt_h) and self.dt_h > 0.0):
            raise ValueError(f"dispatch: dt_h must be > 0, got {self.dt_h}")
        if np.any(g.p_kw < 0) or np.any(g.e_kwh <= 0) or np.any(g.soh <= 0):
            raise ValueError("dispatch: p_kw must be >= 0, e_kwh and soh > 0")
        if np.any(g.eta_charge <= 0) or np.any(g.eta_discharge <= 0):
            raise ValueError("dispatch: efficiencies must be > 0")
        if np.any(self.n_remaining <= 0):
            raise ValueError("dispatch: n_remaining must be > 0")

    def __getattr__(self, name: str):
        """The :class:`BatteryGroups` fields (``e_kwh``, ``p_kw``, ...) read through ``groups``."""
        if name in GROUP_FIELDS and "groups" in self.__dict__:
            return getattr(self.groups, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ derived data
    @property
    def G(self) -> int:
        """Number of modelled (distinct) groups."""
        return self.groups.e_kwh.size

    @property
    def n_groups(self) -> int:
        """Number of physical groups, ``sum(multiplicity)`` (the ``I`` of Eq. 10a)."""
        return int(self.multiplicity.sum())

    @property
    def T(self) -> int:
        return self.request_kw.size

    @property
    def usable_kwh(self) -> np.ndarray:
        """``U_g = SOH_g E_g``."""
        return self.groups.soh * self.groups.e_kwh

    @property
    def c_weight(self) -> np.ndarray:
        """``C_g = 1/N_g`` (Eq. 10b)."""
        return 1.0 / self.n_remaining

    @property
    def thr_ref_kwh(self) -> float:
        """Reference throughput ``Thr_ref = sum_t |R_t| dt`` (one step at full rating if the request is 0)."""
        thr = float(np.abs(self.request_kw).sum() * self.dt_h)
        return thr if thr > 1e-9 else float(max(self.groups.p_kw.sum(), 1.0) * self.dt_h)

    @property
    def life_ref(self) -> float:
        """Scale of ``C_g N_g^Life``: the value every group reaches when ``Thr_ref`` is spread with zero
        variance (``Thr_ref / (2 sum_g N_g U_g)``); ``life[g]`` is measured in this unit."""
        return self.thr_ref_kwh / (2.0 * float(np.sum(self.multiplicity * self.n_remaining * self.usable_kwh)))

    @property
    def e_bounds_kwh(self) -> tuple[np.ndarray, np.ndarray]:
        """Eq. 11b window ``[SOC_min U, SOC_max U]``, widened to contain ``e0`` (never ask the impossible)."""
        u = self.usable_kwh
        return np.minimum(self.groups.soc_min * u, self.e0_kwh), np.maximum(self.groups.soc_max * u, self.e0_kwh)

    def direction_bounds_kw(self) -> tuple[np.ndarray, np.ndarray]:
        """Upper bounds (G, T) of ``pch`` and ``pdis``: the rating (Eq. 11a), and 0 against the request's
        sign unless ``counterflow``."""
        p = np.broadcast_to(self.groups.p_kw[:, None], (self.G, self.T))
        if self.options.counterflow:
            return p.copy(), p.copy()
        r = self.request_kw[None, :]
        return np.where(r > 0, p, 0.0), np.where(r < 0, p, 0.0)

    def unserved_weight(self) -> float:
        """Penalty per unit of ``sum_t |u_t| dt / Thr_ref`` that no variance gain can outweigh.

        Serving one more unit (``Thr_ref`` kWh) through group g raises ``life[g]`` by at most
        ``r_g eta_max`` with ``r_g = sum_j N_j U_j / (N_g U_g)`` and ``eta_max = max(eta_ch, 1/eta_dis)``;
        the variance term's slope in ``life[g]`` is ``2 dev_g/(G-1)`` (per physical group) with
        ``|dev_g| <= spread = (max life0 - min life0)/L_ref + max_g r_g eta_max thr_max``, where
        ``thr_max`` bounds a group's throughput in units of ``Thr_ref`` (1 with sign coherence:
        every group runs with the request and each ``|p_gt| <= |R_t|``). The weight is 10 times that
        slope bound, plus 1 (the regulariser's slope is ``O(w_reg)``). The throughput objective's
        slope is at most ``max r_g eta_max / G``, covered by the same bound.
        """
        if self.options.w_unserved is not None:
            return float(self.options.w_unserved)
        G = self.n_groups
        nu = self.n_remaining * self.usable_kwh
        r = float(np.sum(self.multiplicity * nu)) / nu
        eta_max = float(np.max(np.maximum(self.groups.eta_charge, 1.0 / self.groups.eta_discharge)))
        slope = float(r.max()) * eta_max
        thr_max = 1.0
        if self.options.counterflow:
            thr_max = 2.0 * self.T * self.dt_h * float(self.groups.p_kw.max()) / self.thr_ref_kwh
        spread = float(np.ptp(self.life_used0)) / self.life_ref + slope * thr_max
        var_slope = 2.0 / max(G - 1, 1) * spread * slope if G > 1 else 0.0
        return 10.0 * max(var_slope, slope / G) + 1.0


def dispatch_model_data(groups: BatteryGroups, e0_kwh, request_kw, dt_h: float, life_used0=None,
                        options: DispatchModelOptions | None = None, multiplicity=None) -> DispatchModelData:
    """Assemble :class:`DispatchModelData` from battery groups, computing ``N_g`` from SOH with Eq. 7b."""
    opts = options or DispatchModelOptions()
    n = np.maximum(np.asarray(remaining_cycles(np.minimum(np.asarray(groups.soh, dtype=float), 1.0), opts.fit),
                              dtype=float), opts.min_remaining_cycles)
    life0 = np.zeros_like(n) if life_used0 is None else life_used0
    return DispatchModelData(groups=groups, e0_kwh=e0_kwh, request_kw=request_kw, dt_h=float(dt_h), n_remaining=n,
                             life_used0=life0, multiplicity=multiplicity, options=opts)


# --------------------------------------------------------------------------- builders
def _active(ub: np.ndarray) -> list[list[int]]:
    """Per group, the steps at which a direction variable can be non-zero."""
    return [np.flatnonzero(row > 0).tolist() for row in ub]


def add_group_power(m, d: DispatchModelData) -> None:
    """Group powers, Yuan et al. Eq. 11a: ``-P_g <= P_battery,g(t) = pch[g,t] - pdis[g,t] <= P_g`` with
    ``0 <= pch[g,t] <= P_g`` and ``0 <= pdis[g,t] <= P_g`` (kW).

    Sign coherence (default): ``pch[g,t] = 0`` where ``R[t] <= 0`` and ``pdis[g,t] = 0`` where
    ``R[t] >= 0`` (the paper's charging/discharging mode ``A`` of Eq. 9), written as bounds.
    """
    m.G = pyo.RangeSet(0, d.G - 1)
    m.T = pyo.RangeSet(0, d.T - 1)
    ub_ch, ub_dis = d.direction_bounds_kw()
    ub_ch_l, ub_dis_l = ub_ch.tolist(), ub_dis.tolist()
    m.pch = pyo.Var(m.G, m.T, bounds=lambda _, g, t: (0.0, ub_ch_l[g][t]), initialize=0.0,
                    doc="AC charging power [kW]")
    m.pdis = pyo.Var(m.G, m.T, bounds=lambda _, g, t: (0.0, ub_dis_l[g][t]), initialize=0.0,
                     doc="AC discharging power [kW]")
    m._ub_ch, m._ub_dis = ub_ch, ub_dis
    m._act_ch, m._act_dis = _active(ub_ch), _active(ub_dis)


def add_soc_balance(m, d: DispatchModelData) -> None:
    """Stored energy and its window, Yuan et al. Eq. 11b (kWh)::

        e[g,t] = e0_g + sum_{tau <= t} dt (eta_ch,g pch[g,tau] - pdis[g,tau] / eta_dis,g)
        SOC_min,g U_g <= e[g,t] <= SOC_max,g U_g,                  U_g = SOH_g E_g

    ``e`` is the closed form of the balance ``e[t] = e[t-1] + dt (eta_ch pch - pdis/eta_dis)``: an
    ``Expression``, not a variable, and the window is one ranged row per (g, t). With stored-energy
    variables and balance equalities HiGHS's active-set QP solver needed about twice the time on
    9 groups x 96 steps (median 1.19 s against 0.64 s over 60 random days) and cycled more often
    before the other measures of ``docs/dispatch_optimal.md`` were in place.
    The window is widened to contain ``e0_g`` if the state starts outside it (the group may then
    only move back towards the window).
    """
    lo, hi = (b.tolist() for b in d.e_bounds_kwh)
    e0 = d.e0_kwh.tolist()
    kc = (d.dt_h * d.groups.eta_charge).tolist()
    kd = (d.dt_h / d.groups.eta_discharge).tolist()
    ch_on, dis_on = (m._ub_ch > 0).tolist(), (m._ub_dis > 0).tolist()
    # cumulative energy change per group, one monomial per (g, tau), reused by every later row
    cum = []
    for g in range(d.G):
        terms, rows = [], []
        for t in range(d.T):
            if ch_on[g][t]:
                terms.append(kc[g] * m.pch[g, t])
            if dis_on[g][t]:
                terms.append(-kd[g] * m.pdis[g, t])
            rows.append(list(terms))
        cum.append(rows)
    m.e = pyo.Expression(m.G, m.T, rule=lambda _, g, t: e0[g] + pyo.quicksum(cum[g][t]),
                         doc="stored energy at the end of step t [kWh]")

    def window(m, g, t):
        if not cum[g][t]:
            return pyo.Constraint.Skip  # nothing moved yet: e = e0, inside the widened window
        return (lo[g], m.e[g, t], hi[g])

    m.soc_window = pyo.Constraint(m.G, m.T, rule=window)


def add_ess_power_balance(m, d: DispatchModelData) -> None:
    """Unit power, Yuan et al. Eq. 11c ``|sum_g P_battery,g(t)| <= |P_ESS(t)|``, written as an equality with
    the unserved part (kW)::

        sum_g n_g (pch[g,t] - pdis[g,t]) + u[t] = R[t],     min(0, R[t]) <= u[t] <= max(0, R[t])

    so the delivered power has the request's sign and never exceeds it, and what is not served
    is reported in ``u``, never dropped. ``n_g`` is the multiplicity (1 unless identical groups
    were aggregated).
    """
    r = d.request_kw.tolist()
    m.u = pyo.Var(m.T, bounds=lambda _, t: (min(0.0, r[t]), max(0.0, r[t])), initialize=lambda _, t: r[t],
                  doc="unserved request [kW]")
    ch_on, dis_on = (m._ub_ch > 0).T.tolist(), (m._ub_dis > 0).T.tolist()
    G = range(d.G)
    n = d.multiplicity.tolist()

    def bal(m, t):
        terms = ([n[g] * m.pch[g, t] if n[g] > 1 else m.pch[g, t] for g in G if ch_on[t][g]]
                 + [-n[g] * m.pdis[g, t] for g in G if dis_on[t][g]])
        return pyo.quicksum(terms) + m.u[t] == r[t]

    m.ess_balance = pyo.Constraint(m.T, rule=bal)


def add_charge_discharge_exclusivity(m, d: DispatchModelData) -> None:
    """No simultaneous charge and discharge of one group: ``pch <= P_g y``, ``pdis <= P_g (1 - y)``,
    ``y[g,t]`` binary. Only added when ``options.exclusivity`` (then the model is a MILP)."""
    if not d.options.exclusivity:
        return
    p = d.groups.p_kw.tolist()
    m.y = pyo.Var(m.G, m.T, within=pyo.Binary, doc="1 = charging")
    m.excl_ch = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pch[g, t] <= p[g] * m.y[g, t])
    m.excl_dis = pyo.Constraint(m.G, m.T, rule=lambda m, g, t: m.pdis[g, t] <= p[g] * (1 - m.y[g, t]))


def add_life_consumption(m, d: DispatchModelData) -> None:
    """Normalised life consumption, Yuan et al. Eq. 8 (throughput form) and 10b (dimensionless)::

        N_g^Life = sum_t dt (eta_ch,g pch[g,t] + pdis[g,t] / eta_dis,g) / (2 U_g)        (EFC, cycles)
        life[g]  = (life0_g + C_g N_g^Life) / L_ref,      C_g = 1/N_g  (Eq. 10b, N_g from Eq. 7b)

    ``L_ref = Thr_ref / (2 sum_g N_g U_g)`` scales ``life`` to O(1) for the solver; the plan reports
    unscaled values. The throughput EFC is the cell-side energy moved over twice the usable
    energy: exactly the rainflow EFC of the SOC trajectory for Woehler ``k = 1``.
    Also declares the free variable ``nbar`` of :func:`add_variance_objective` (the mean, Eq. 10c).
    """
    Lr = d.life_ref
    base = (d.c_weight * d.dt_h / (2.0 * d.usable_kwh * Lr))
    kc = (base * d.groups.eta_charge).tolist()
    kd = (base / d.groups.eta_discharge).tolist()
    l0 = (d.life_used0 / Lr).tolist()
    act_ch, act_dis = m._act_ch, m._act_dis
    m.life = pyo.Var(m.G, initialize=lambda _, g: l0[g], doc="normalised life consumption / L_ref [-]")
    m.nbar = pyo.Var(initialize=float(np.mean(l0)), doc="mean normalised life consumption / L_ref (Eq. 10c)")

    def life(m, g):
        terms = [kc[g] * m.pch[g, t] for t in act_ch[g]] + [kd[g] * m.pdis[g, t] for t in act_dis[g]]
        return m.life[g] == l0[g] + pyo.quicksum(terms)

    m.life_def = pyo.Constraint(m.G, rule=life)


def _penalty_and_regulariser(m, d: DispatchModelData):
    """``w_u sum_t |u_t| dt / Thr_ref + w_reg sum_{g,t} n_g (a_ch,g pch^2 + a_dis,g pdis^2) / (a_ref P_ref^2)``.

    ``a_ref`` is the mean weight and ``P_ref = max_g P_g``.

    ``|u_t| = sign(R_t) u_t`` is linear because ``u`` follows the request's sign. The regulariser
    weights ``a_ch,g = C_g eta_ch,g / U_g`` and ``a_dis,g = C_g / (eta_dis,g U_g)`` are the life
    consumed per kWh: minimising ``sum_g a_g p_g^2`` under ``sum_g p_g = R`` gives ``p_g ~ 1/a_g``,
    the split at which every group's life consumption grows at the same rate. So it agrees with
    Eq. 10 wherever no limit binds, and only picks one plan among the equal-variance ones.
    """
    sgn = np.sign(d.request_kw).tolist()
    w_u = d.unserved_weight() * d.dt_h / d.thr_ref_kwh
    pen = pyo.quicksum((w_u * sgn[t] * m.u[t] for t in range(d.T) if sgn[t] != 0.0))
    m._w_unserved = w_u
    if d.options.w_reg <= 0.0:
        return pen, 0.0
    a_ch = d.c_weight * d.groups.eta_charge / d.usable_kwh
    a_dis = d.c_weight / (d.groups.eta_discharge * d.usable_kwh)
    a_ref = float(np.mean(np.concatenate([a_ch, a_dis])))
    p_ref = max(float(d.groups.p_kw.max()), 1e-9)
    s = d.options.w_reg * d.multiplicity / (a_ref * p_ref**2)
    qc, qd = (s * a_ch).tolist(), (s * a_dis).tolist()
    reg = pyo.quicksum([qc[g] * m.pch[g, t] ** 2 for g in range(d.G) for t in m._act_ch[g]]
                       + [qd[g] * m.pdis[g, t] ** 2 for g in range(d.G) for t in m._act_dis[g]])
    return pen, reg


def add_variance_objective(m, d: DispatchModelData) -> None:
    """Objective, Yuan et al. Eq. 10a with the mean of Eq. 10c (in units of ``L_ref^2``)::

        min F = 1/(I-1) sum_g n_g (life[g] - nbar)^2,    nbar free,   I = sum_g n_g

    For fixed ``life`` the minimum over ``nbar`` is at the mean ``(1/G) sum_g life[g]`` (Eq. 10c), so
    at the optimum ``F`` is exactly the sample variance of Eq. 10a. The mean is a free variable,
    not an equality row: with ``nbar`` and ``dev[g] = life[g] - nbar`` defined by equality rows,
    HiGHS's active-set QP solver cycled without terminating on about a third of random 8-step
    windows; with the free mean it solved all of them (``docs/dispatch_optimal.md``).
    Plus the unserved-energy penalty and the uniqueness regulariser of
    :func:`_penalty_and_regulariser`. For a single group the variance is undefined and omitted.
    A convex QP.
    """
    pen, reg = _penalty_and_regulariser(m, d)
    n = d.multiplicity.tolist()
    I = d.n_groups
    var = pyo.quicksum(n[g] * (m.life[g] - m.nbar) ** 2 for g in m.G) / (I - 1) if I > 1 else 0.0
    m.variance_scaled = pyo.Expression(expr=var)
    m.objective = pyo.Objective(expr=d.options.objective_scale * (var + pen + reg), sense=pyo.minimize)


def add_throughput_objective(m, d: DispatchModelData) -> None:
    """Objective for the SOH-weighted-cost baseline: ``min sum_g C_g N_g^Life`` (in units of ``L_ref``), the
    total normalised life consumption, plus penalty and regulariser. An LP/QP."""
    pen, reg = _penalty_and_regulariser(m, d)
    m.variance_scaled = pyo.Expression(expr=0.0)
    n = d.multiplicity.tolist()
    total = pyo.quicksum(n[g] * m.life[g] for g in m.G)
    m.objective = pyo.Objective(expr=d.options.objective_scale * (total + pen + reg), sense=pyo.minimize)


def build_dispatch_model(d: DispatchModelData, extra_constraints=None) -> pyo.ConcreteModel:
    """Compose the dispatch model (Eq. 10-11) from the builders.

    Parameters
    ----------
    d : DispatchModelData
    extra_constraints : callable, optional
        ``extra_constraints(model, data)`` is called last (like PyPSA's ``extra_functionality``).
    """
    m = pyo.ConcreteModel(name="dispatch")
    m._data = d
    add_group_power(m, d)
    add_soc_balance(m, d)
    add_ess_power_balance(m, d)
    add_charge_discharge_exclusivity(m, d)
    add_life_consumption(m, d)
    if d.options.objective == "variance":
        add_variance_objective(m, d)
    else:
        add_throughput_objective(m, d)
    if extra_constraints is not None:
        extra_constraints(m, d)
    return m


def _values(var, shape) -> np.ndarray:
    return np.fromiter((0.0 if v.value is None else v.value for v in var.values()), dtype=float,
                       count=int(np.prod(shape))).reshape(shape)


def dispatch_solution(m) -> dict:
    """Read a solved model back as arrays (group arrays (T, G), kW / kWh; life unscaled).

    Keys: ``p_charge_kw``, ``p_discharge_kw``, ``p_group_kw`` (+ charging), ``e_kwh``,
    ``unserved_kw`` (T,), ``efc`` (throughput EFC over the horizon, (G,)), ``life_used`` (G,)
    ``= life0 + C_g EFC_g``, ``variance`` (Eq. 10a of ``life_used`` over the physical groups,
    i.e. weighted by the multiplicity; unscaled). Arrays are per modelled group.
    """
    d: DispatchModelData = m._data
    shape = (d.G, d.T)
    pch = np.maximum(_values(m.pch, shape), 0.0).T
    pdis = np.maximum(_values(m.pdis, shape), 0.0).T
    e = d.e0_kwh + np.cumsum(d.dt_h * (d.groups.eta_charge * pch - pdis / d.groups.eta_discharge), axis=0)
    u = _values(m.u, (d.T,))
    efc = d.dt_h * (d.groups.eta_charge * pch + pdis / d.groups.eta_discharge).sum(axis=0) / (2.0 * d.usable_kwh)
    life = d.life_used0 + d.c_weight * efc
    n = d.multiplicity
    mean = float(np.sum(n * life)) / d.n_groups
    var = float(np.sum(n * (life - mean) ** 2)) / (d.n_groups - 1) if d.n_groups > 1 else 0.0
    return {"p_charge_kw": pch, "p_discharge_kw": pdis, "p_group_kw": pch - pdis, "e_kwh": e,
            "unserved_kw": u, "efc": efc, "life_used": life, "variance": var}
