"""Fleet-scale assignment of retired batteries to routes as a Pyomo MILP (DESIGN section 10).

Batteries that fall in the same grade bin (chemistry x SOH bin x resistance bin) are
interchangeable for the model, so the decision is an integer **count** per bin and route
rather than a binary per battery: 100,000 batteries become a few hundred integer variables.
The bins are disaggregated to batteries afterwards (:mod:`slopt.fleet.assign`).

Symbols: bins ``b``, routes ``r`` (applications, then remanufacture and recycle), windows ``w``
(a box of SOH and resistance bins no wider than the pack-consistency spread).

====================  ===========================================================  =========
``y[b,r]``            batteries of bin b sent to route r                            integer
``z[a,w]``            application a runs a project drawn from window w              binary
``n[b]``              batteries in bin b
``nf[b,r]``           batteries of bin b for which route r is feasible (twin)
``v[b,r]``            mean second-life value of one battery of bin b on route r     $
``e[b]``              usable energy counted per battery of bin b (its largest)     kWh
``D[a]``              energy the application can absorb                             kWh
====================  ===========================================================  =========
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

__all__ = ["AssignmentData", "build_assignment_model", "add_route_counts", "add_one_route_each",
           "add_demands", "add_pack_consistency", "add_value_objective"]


@dataclass
class AssignmentData:
    """Arrays of the aggregated assignment model (no Pyomo objects).

    Attributes
    ----------
    count : (B,) int          batteries per bin
    n_feasible : (B, R) int   batteries per bin for which each route is feasible
    value_usd : (B, R)        mean value of one battery of the bin on the route
    energy_kwh : (B,)         usable energy counted per battery of the bin (kWh)
    demand_kwh : (R,)         energy each route can absorb (inf: unlimited)
    window_bins : list of (A,) lists of index arrays
        ``window_bins[a][w]`` = bins inside window w of application a (pack consistency);
        ``None`` for a route without consistency requirement.
    max_projects : (R,) int   windows (projects) an application may use
    """

    count: np.ndarray
    n_feasible: np.ndarray
    value_usd: np.ndarray
    energy_kwh: np.ndarray
    demand_kwh: np.ndarray
    window_bins: list
    max_projects: np.ndarray


def add_route_counts(m, d: AssignmentData) -> None:
    """Counts ``0 <= y[b,r] <= nf[b,r]``, integer: only twin-feasible batteries take a route."""
    B, R = d.n_feasible.shape
    pairs = [(int(b), int(r)) for b, r in zip(*np.nonzero(d.n_feasible > 0))]
    m.BR = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    nf = d.n_feasible
    m.y = pyo.Var(m.BR, within=pyo.NonNegativeIntegers, bounds=lambda _, b, r: (0, int(nf[b, r])))


def add_one_route_each(m, d: AssignmentData) -> None:
    """Every battery takes exactly one route: ``sum_r y[b,r] = n[b]``."""
    by_bin: dict[int, list] = {}
    for b, r in m.BR:
        by_bin.setdefault(b, []).append(r)
    missing = [b for b in range(d.count.size) if d.count[b] > 0 and b not in by_bin]
    if missing:
        raise ValueError(f"bins {missing[:5]} have no feasible route (recycle should always be feasible)")
    m.one_route = pyo.Constraint(list(by_bin), rule=lambda m, b: sum(m.y[b, r] for r in by_bin[b]) == int(d.count[b]))


def add_demands(m, d: AssignmentData) -> None:
    """Application demand: ``sum_b e[b] y[b,r] <= D[r]`` for routes with a finite demand."""
    by_route: dict[int, list] = {}
    for b, r in m.BR:
        by_route.setdefault(r, []).append(b)
    finite = [r for r in by_route if np.isfinite(d.demand_kwh[r])]
    m.demand = pyo.Constraint(finite, rule=lambda m, r: sum(float(d.energy_kwh[b]) * m.y[b, r] for b in by_route[r])
                              <= float(d.demand_kwh[r]))


def add_pack_consistency(m, d: AssignmentData) -> None:
    """Pack consistency: an application draws batteries only from the windows it opens.

    ``y[b,a] <= nf[b,a] * sum_{w: b in w} z[a,w]`` and ``sum_w z[a,w] <= N_projects[a]``; a
    window spans at most the allowed SOH and resistance spread, so every project's batteries
    lie within that spread.
    """
    keys = [(a, w) for a, wins in enumerate(d.window_bins) if wins is not None for w in range(len(wins))]
    if not keys:
        return
    m.AW = pyo.Set(initialize=keys, dimen=2, ordered=True)
    m.z = pyo.Var(m.AW, within=pyo.Binary)
    cover: dict[tuple, list] = {}
    for a, w in keys:
        for b in d.window_bins[a][w]:
            cover.setdefault((int(b), a), []).append(w)
    rows = [(b, r) for b, r in m.BR if d.window_bins[r] is not None]
    m.pack = pyo.Constraint(rows, rule=lambda m, b, r: m.y[b, r] <= int(d.n_feasible[b, r]) * sum(
        m.z[r, w] for w in cover.get((b, r), [])) if cover.get((b, r)) else m.y[b, r] == 0)
    apps = sorted({a for a, _ in keys})
    m.projects = pyo.Constraint(apps, rule=lambda m, a: sum(m.z[a, w] for w in range(len(d.window_bins[a])))
                                <= int(d.max_projects[a]))


def add_value_objective(m, d: AssignmentData) -> None:
    """Maximise second-life value ``sum_{b,r} v[b,r] y[b,r]`` (energy x years x value - costs)."""
    m.value_usd = pyo.Expression(expr=sum(float(d.value_usd[b, r]) * m.y[b, r] for b, r in m.BR))
    m.objective = pyo.Objective(expr=m.value_usd, sense=pyo.maximize)


def build_assignment_model(d: AssignmentData, extra_constraints=None) -> pyo.ConcreteModel:
    """Compose the assignment MILP; ``extra_constraints(model, data)`` is applied last."""
    m = pyo.ConcreteModel(name="assignment")
    m._data = d
    add_route_counts(m, d)
    add_one_route_each(m, d)
    add_demands(m, d)
    add_pack_consistency(m, d)
    add_value_objective(m, d)
    if extra_constraints is not None:
        extra_constraints(m, d)
    return m
