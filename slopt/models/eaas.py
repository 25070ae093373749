"""Energy-as-a-Service scheduling as a Pyomo LP: storage units serving several users' bills at once.

The review (Tang et al., section 5.4) describes EaaS as one second-life system whose
manufacturer schedules it for several users at once, "aligning diverse user requirements,
which reduces storage idle time and improves returns". This model writes that schedule. The
same builders also write the comparison case, one system per user: the only difference is
which users a unit may serve (``serves[s, u]``).

Data (:class:`EaasData`, numpy only) is kept apart from the builders; each ``add_*`` adds one
constraint family and states its equation; :func:`build_eaas_model` composes them.

Symbols (units s, users u, steps t):

====================  ==========================================================  ======
``pch[s,t]``          charging power of unit s, drawn at the unit's own connection  kW
``pdis[s,t]``         discharging power of unit s                                   kW
``e[s,t]``            usable energy stored at the end of step t                     kWh
``e0[s]``             energy at the start of the day (= end of the day)             kWh
``x[s,u,t]``          part of ``pdis[s,t]`` delivered to user u                     kW
``imp[u,t]``          user u's import from the grid                                 kW
``peak[u]``           user u's peak import over the day                             kW
``L[u,t]``            user u's load                                                 kW
``pi[t]``             energy price                                                  $/kWh
``c_u``               demand charge per kW of the day's peak (monthly charge x 12 / 365)  $/kW
``w``                 wear cost per kWh discharged                                  $/kWh
====================  ==========================================================  ======

Choices: a unit charges at its own connection (front of the users' meters, at ``pi[t]``, no
demand charge) in both cases, so that the comparison isolates the effect of sharing; a unit
never exports past a user's load (``imp >= 0``); the day is cyclic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

__all__ = ["EaasData", "build_eaas_model", "eaas_solution", "add_storage_units", "add_soc_balance",
           "add_service_allocation", "add_user_imports", "add_peak_demand", "add_bill_objective"]

TIE_USD_PER_KWH = 1e-6
"""Throughput cost that breaks ties against needless cycling."""


@dataclass(frozen=True)
class EaasData:
    """Arrays of one EaaS (or one-system-per-user) schedule.

    Attributes
    ----------
    load_kw : ndarray, shape (U, T)
    price_usd_per_kwh : ndarray, shape (T,)
    demand_usd_per_kw : ndarray, shape (U,)
        Charge per kW of each user's peak import of the day.
    e_kwh, p_kw : ndarray, shape (S,)
        Usable energy and power of each unit.
    serves : ndarray of bool, shape (S, U)
    eta_charge, eta_discharge : float
    dt_h : float
    wear_usd_per_kwh : float
        Cost the scheduler puts on each kWh discharged (pack wear).
    """

    load_kw: np.ndarray
    price_usd_per_kwh: np.ndarray
    demand_usd_per_kw: np.ndarray
    e_kwh: np.ndarray
    p_kw: np.ndarray
    serves: np.ndarray
    eta_charge: float
    eta_discharge: float
    dt_h: float
    wear_usd_per_kwh: float = 0.0

    @property
    def U(self) -> int:
        return int(self.load_kw.shape[0])

    @property
    def T(self) -> int:
        return int(self.load_kw.shape[1])

    @property
    def S(self) -> int:
        return int(self.e_kwh.size)

    def pairs(self) -> list[tuple[int, int]]:
        return [(int(s), int(u)) for s, u in zip(*np.nonzero(self.serves))]


def add_storage_units(m, d: EaasData) -> None:
    """Ratings: ``0 <= pch[s,t], pdis[s,t] <= P_s``; ``0 <= e[s,t], e0[s] <= E_s`` (usable window)."""
    m.S = pyo.RangeSet(0, d.S - 1)
    m.U = pyo.RangeSet(0, d.U - 1)
    m.T = pyo.RangeSet(0, d.T - 1)
    m.pch = pyo.Var(m.S, m.T, bounds=lambda _, s, t: (0.0, float(d.p_kw[s])), doc="charging [kW]")
    m.pdis = pyo.Var(m.S, m.T, bounds=lambda _, s, t: (0.0, float(d.p_kw[s])), doc="discharging [kW]")
    m.e = pyo.Var(m.S, m.T, bounds=lambda _, s, t: (0.0, float(d.e_kwh[s])), doc="stored energy [kWh]")
    m.e0 = pyo.Var(m.S, bounds=lambda _, s: (0.0, float(d.e_kwh[s])), doc="energy at the start of the day [kWh]")


def add_soc_balance(m, d: EaasData) -> None:
    """Energy balance and cyclic day:
    ``e[s,t] = e[s,t-1] + (eta_ch pch[s,t] - pdis[s,t]/eta_dis) dt`` (``e[s,-1] = e0[s]``), ``e[s,T-1] = e0[s]``."""
    def bal(m, s, t):
        prev = m.e[s, t - 1] if t > 0 else m.e0[s]
        return m.e[s, t] == prev + d.dt_h * (d.eta_charge * m.pch[s, t] - m.pdis[s, t] / d.eta_discharge)

    m.soc_balance = pyo.Constraint(m.S, m.T, rule=bal)
    m.soc_cyclic = pyo.Constraint(m.S, rule=lambda m, s: m.e[s, d.T - 1] == m.e0[s])


def add_service_allocation(m, d: EaasData) -> None:
    """Each unit's discharge goes to the users it serves: ``sum_{u: serves[s,u]} x[s,u,t] = pdis[s,t]``."""
    m.SU = pyo.Set(initialize=d.pairs(), dimen=2, ordered=True)
    m.x = pyo.Var(m.SU, m.T, within=pyo.NonNegativeReals, doc="discharge delivered to a user [kW]")
    by_unit = {s: [u for (s2, u) in d.pairs() if s2 == s] for s in range(d.S)}
    m.allocation = pyo.Constraint(m.S, m.T, rule=lambda m, s, t: sum(m.x[s, u, t] for u in by_unit[s])
                                  == m.pdis[s, t])


def add_user_imports(m, d: EaasData) -> None:
    """Users' imports: ``imp[u,t] = L[u,t] - sum_{s: serves[s,u]} x[s,u,t] >= 0`` (no export)."""
    by_user = {u: [s for (s, u2) in d.pairs() if u2 == u] for u in range(d.U)}
    m.imp = pyo.Var(m.U, m.T, within=pyo.NonNegativeReals, doc="user import [kW]")
    m.import_balance = pyo.Constraint(m.U, m.T, rule=lambda m, u, t: m.imp[u, t] == float(d.load_kw[u, t])
                                      - sum(m.x[s, u, t] for s in by_user[u]))


def add_peak_demand(m, d: EaasData) -> None:
    """Peak import of the day: ``peak[u] >= imp[u,t]`` for every t."""
    m.peak = pyo.Var(m.U, within=pyo.NonNegativeReals, doc="peak import [kW]")
    m.peak_def = pyo.Constraint(m.U, m.T, rule=lambda m, u, t: m.peak[u] >= m.imp[u, t])


def add_bill_objective(m, d: EaasData) -> None:
    """Minimise the users' bills plus the units' charging energy and wear:
    ``sum_{u,t} pi[t] imp[u,t] dt + sum_u c_u peak[u] + sum_{s,t} (pi[t] pch[s,t] + w pdis[s,t]) dt``
    (+ a 1e-6 $/kWh tie-break)."""
    pi = [float(x) for x in d.price_usd_per_kwh]
    m.bills_usd = pyo.Expression(expr=sum(pi[t] * d.dt_h * m.imp[u, t] for u in m.U for t in m.T)
                                 + sum(float(d.demand_usd_per_kw[u]) * m.peak[u] for u in m.U))
    m.charging_usd = pyo.Expression(expr=sum(pi[t] * d.dt_h * m.pch[s, t] for s in m.S for t in m.T))
    m.wear_usd = pyo.Expression(expr=d.wear_usd_per_kwh * d.dt_h * sum(m.pdis[s, t] for s in m.S for t in m.T))
    tie = TIE_USD_PER_KWH * d.dt_h * sum(m.pch[s, t] + m.pdis[s, t] for s in m.S for t in m.T)
    m.objective = pyo.Objective(expr=m.bills_usd + m.charging_usd + m.wear_usd + tie, sense=pyo.minimize)


def build_eaas_model(d: EaasData, extra_constraints=None) -> pyo.ConcreteModel:
    """Compose the EaaS schedule LP; ``extra_constraints(model, data)`` is called last."""
    m = pyo.ConcreteModel(name="eaas")
    add_storage_units(m, d)
    add_soc_balance(m, d)
    add_service_allocation(m, d)
    add_user_imports(m, d)
    add_peak_demand(m, d)
    add_bill_objective(m, d)
    if extra_constraints is not None:
        extra_constraints(m, d)
    return m


def eaas_solution(m, d: EaasData) -> dict[str, np.ndarray]:
    """Arrays of a solved model: ``pch, pdis, e`` (S, T), ``x`` (S, U, T), ``imp`` (U, T), ``peak`` (U,)."""
    get2 = lambda var, a, b: np.array([[var[i, j].value for j in range(b)] for i in range(a)], dtype=float)
    x = np.zeros((d.S, d.U, d.T))
    for s, u in d.pairs():
        x[s, u] = [m.x[s, u, t].value for t in range(d.T)]
    return {"pch": get2(m.pch, d.S, d.T), "pdis": get2(m.pdis, d.S, d.T), "e": get2(m.e, d.S, d.T), "x": x,
            "imp": get2(m.imp, d.U, d.T), "peak": np.array([m.peak[u].value for u in range(d.U)], dtype=float)}
