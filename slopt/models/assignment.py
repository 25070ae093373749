"""Battery-to-route assignment as a Pyomo MILP (``docs/assignment.md``).

The model is the **per-battery** problem: every battery has its own usable energy and its own
value on every route. Columns are *groups of identical batteries* (same value on every route,
same energy, same feasibility, same installation windows), so the integer count ``y[g,r]`` of a
group is exact, not an approximation; a group usually holds a single battery and ``y`` is then
binary. :mod:`slopt.fleet.assign` builds the data (and, at fleet scale, a reduced model in which
batteries decided by their dual reduced cost are fixed and only the residual demands remain).

Symbols: groups ``g``, routes ``r`` (applications ``a``, then remanufacture and recycle),
installation windows ``w`` of an application. Components are indexed by name: ``y[battery_id,
route]``, ``one_route[battery_id]``, ``demand[application]``, ``z[application, w]``,
``installations[application]`` (``slopt.assign`` passes the names; a study's
``extra_constraints(model, data)`` addresses them so).

====================  ===========================================================  =========
``y[g,r]``            batteries of group g sent to route r                          integer
``z[a,w]``            application a opens an installation on window w               binary
``n[g]``              batteries in group g
``v[g,r]``            value of one battery of group g on route r                    USD
``e[g]``              usable energy of one battery of group g                      kWh
``D[a]``              energy application a can absorb (residual after fixed ones)   kWh
``K[a]``              installations application a may still open
====================  ===========================================================  =========

Each builder adds one constraint family and states its equation (numbers of
``docs/assignment.md``). Building is by lists and ``LinearExpression`` (no Python ``sum`` of
Pyomo terms), so a model of some 10^4 columns builds in well under a second; the fleet-scale
caller keeps the model that small.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

__all__ = ["AssignmentData", "InstallationWindows", "build_assignment_model", "add_route_columns",
           "add_one_route_each", "add_demands", "add_installations", "add_value_objective", "column_counts",
           "open_windows", "demand_prices", "WindowSelectionData", "build_window_selection_model"]


@dataclass
class InstallationWindows:
    """Candidate installation windows of one application (pack consistency, Eq. A4-A6).

    Attributes
    ----------
    members : list of int arrays
        ``members[w]`` = the groups whose batteries lie inside window ``w`` (one chemistry, an
        SOH and a resistance range no wider than the application's spreads).
    max_open : int
        Installations the application may (still) open, ``K[a]``.
    must_cover : list of int arrays
        Window sets of which at least one window must be open (batteries fixed outside the
        model to this application must sit in an open window).
    """

    members: list
    max_open: int
    must_cover: list = field(default_factory=list)


@dataclass
class AssignmentData:
    """Arrays of the assignment model (no Pyomo objects).

    Attributes
    ----------
    count : (G,) int
        Batteries per group (identical batteries; 1 for a single battery).
    value_usd : (G, R) float
        Value of one battery of the group on each route.
    feasible : (G, R) bool
        Route open to the group (twin feasibility, SOH rule of remanufacture).
    energy_kwh : (G,) float
        Usable energy of one battery of the group.
    demand_kwh : (R,) float
        Energy each route can absorb; ``inf`` = unlimited.
    windows : list of InstallationWindows or None, length R
        Pack consistency per route (``None``: no installation rule).
    relax : bool
        Continuous ``y`` and ``z`` (the LP relaxation).
    group_names : list, length G, optional
        Index of every group in the model's components (default 0..G-1); ``slopt.assign``
        passes battery ids (a merged group is named after its first battery).
    route_names : list, length R, optional
        Index of every route (default 0..R-1); ``slopt.assign`` passes the application names,
        ``"remanufacture"`` and ``"recycle"``.
    """

    count: np.ndarray
    value_usd: np.ndarray
    feasible: np.ndarray
    energy_kwh: np.ndarray
    demand_kwh: np.ndarray
    windows: list | None = None
    relax: bool = False
    group_names: list | None = None
    route_names: list | None = None

    def __post_init__(self) -> None:
        self.count = np.asarray(self.count, dtype=np.int64)
        self.value_usd = np.asarray(self.value_usd, dtype=float)
        self.feasible = np.asarray(self.feasible, dtype=bool)
        self.energy_kwh = np.asarray(self.energy_kwh, dtype=float)
        self.demand_kwh = np.asarray(self.demand_kwh, dtype=float)
        G, R = self.value_usd.shape
        if self.feasible.shape != (G, R) or self.count.shape != (G,) or self.energy_kwh.shape != (G,):
            raise ValueError("AssignmentData: count (G,), value_usd and feasible (G, R), energy_kwh (G,) must agree")
        if self.demand_kwh.shape != (R,):
            raise ValueError(f"AssignmentData: demand_kwh must have {R} entries")
        if self.windows is None:
            self.windows = [None] * R
        if len(self.windows) != R:
            raise ValueError(f"AssignmentData: windows must have {R} entries (None for no rule)")
        if np.any(self.count < 0) or np.any(~self.feasible.any(axis=1) & (self.count > 0)):
            raise ValueError("AssignmentData: every group needs a feasible route (recycling is always feasible)")
        self.group_names = list(range(G)) if self.group_names is None else list(self.group_names)
        self.route_names = list(range(R)) if self.route_names is None else list(self.route_names)
        if len(self.group_names) != G or len(set(self.group_names)) != G:
            raise ValueError(f"AssignmentData: group_names must be {G} distinct names")
        if len(self.route_names) != R or len(set(self.route_names)) != R:
            raise ValueError(f"AssignmentData: route_names must be {R} distinct names")


def _lin(coefs, variables, constant=0.0):
    return LinearExpression(constant=float(constant), linear_coefs=[float(c) for c in coefs],
                            linear_vars=list(variables))


def add_route_columns(m, d: AssignmentData) -> None:
    """Columns (Eq. A1): ``y[g,r]`` integer in ``[0, n[g]]`` for the feasible pairs only.

    Indexed by ``(group name, route name)``. A twin-infeasible pair has no variable, so no battery
    can take a route the twin rejects.
    """
    gi, ri = np.nonzero(d.feasible & (d.count[:, None] > 0))
    m._g, m._r = gi, ri
    cnt = d.count[gi]
    dom = pyo.NonNegativeReals if d.relax else pyo.NonNegativeIntegers
    keys = [(d.group_names[g], d.route_names[r]) for g, r in zip(gi.tolist(), ri.tolist())]
    bounds = dict(zip(keys, cnt.tolist()))
    m.GR = pyo.Set(initialize=keys, dimen=2, ordered=True)
    m.y = pyo.Var(m.GR, within=dom, bounds=lambda _, g, r: (0, int(bounds[g, r])))
    m._ylist = [m.y[k] for k in keys]


def add_one_route_each(m, d: AssignmentData) -> None:
    """Every battery takes exactly one route (Eq. A2): ``sum_r y[g,r] = n[g]``."""
    gi, yl = m._g, m._ylist
    starts = np.searchsorted(gi, np.arange(d.count.size))
    ends = np.r_[starts[1:], gi.size]
    groups = [g for g in range(d.count.size) if d.count[g] > 0]
    pos = {d.group_names[g]: g for g in groups}
    m.one_route = pyo.Constraint([d.group_names[g] for g in groups], rule=lambda m, name: _lin(
        np.ones(ends[pos[name]] - starts[pos[name]]), yl[starts[pos[name]]:ends[pos[name]]]) == int(d.count[pos[name]]))


def add_demands(m, d: AssignmentData) -> None:
    """Application demand (Eq. A3): ``sum_g e[g] y[g,a] <= D[a]`` for every finite ``D[a]``."""
    gi, ri, yl = m._g, m._r, m._ylist
    finite = [int(r) for r in np.flatnonzero(np.isfinite(d.demand_kwh))]
    cols = {d.route_names[r]: np.flatnonzero(ri == r) for r in finite}
    cap = {d.route_names[r]: float(d.demand_kwh[r]) for r in finite}
    m.demand = pyo.Constraint([d.route_names[r] for r in finite], rule=lambda m, r: _lin(
        d.energy_kwh[gi[cols[r]]], [yl[k] for k in cols[r]]) <= cap[r])


def add_installations(m, d: AssignmentData) -> None:
    """Pack consistency (Eq. A4-A6): batteries of an application sit in its open windows.

    ``y[g,a] <= n[g] * sum_{w ∋ g} z[a,w]`` (A4), ``sum_w z[a,w] <= K[a]`` (A5) and, for
    batteries fixed outside the model, ``sum_{w in S} z[a,w] >= 1`` for each required set S (A6).
    Every installation of ``a`` draws from one open window, and a window spans at most the
    application's SOH and resistance spreads, so every installation keeps within them.
    """
    rn = d.route_names
    keys = [(rn[r], w) for r, win in enumerate(d.windows) if win is not None for w in range(len(win.members))]
    if not keys and not any(win is not None for win in d.windows):
        return
    m.AW = pyo.Set(initialize=keys, dimen=2, ordered=True)
    m.z = pyo.Var(m.AW, within=pyo.UnitInterval if d.relax else pyo.Binary)
    gi, ri, yl = m._g, m._r, m._ylist
    link = []                                   # (column k, application r, windows containing g)
    for r, win in enumerate(d.windows):
        if win is None:
            continue
        inside: dict[int, list] = {}
        for w, mem in enumerate(win.members):
            for g in np.asarray(mem, dtype=np.int64).tolist():
                inside.setdefault(g, []).append(w)
        for k in np.flatnonzero(ri == r).tolist():
            link.append((k, rn[r], inside.get(int(gi[k]), [])))
    m.pack_link = pyo.Constraint(range(len(link)), rule=lambda m, j: _lin(
        [1.0] + [-float(d.count[gi[link[j][0]]])] * len(link[j][2]),
        [yl[link[j][0]]] + [m.z[link[j][1], w] for w in link[j][2]]) <= 0)
    apps = [r for r, win in enumerate(d.windows) if win is not None]
    win_of = {rn[r]: d.windows[r] for r in apps}
    m.installations = pyo.Constraint([rn[r] for r in apps], rule=lambda m, a: pyo.Constraint.Skip
                                     if not win_of[a].members else _lin(np.ones(len(win_of[a].members)),
                                     [m.z[a, w] for w in range(len(win_of[a].members))]) <= int(win_of[a].max_open))
    cover = [(rn[r], np.asarray(s, dtype=np.int64)) for r in apps for s in d.windows[r].must_cover]
    m.cover = pyo.Constraint(range(len(cover)), rule=lambda m, j: _lin(
        np.ones(cover[j][1].size), [m.z[cover[j][0], int(w)] for w in cover[j][1]]) >= 1)


def add_value_objective(m, d: AssignmentData) -> None:
    """Maximise second-life value (Eq. A0): ``sum_{g,r} v[g,r] y[g,r]``."""
    m.value_usd = pyo.Expression(expr=_lin(d.value_usd[m._g, m._r], m._ylist))
    m.objective = pyo.Objective(expr=m.value_usd, sense=pyo.maximize)


def build_assignment_model(d: AssignmentData, extra_constraints=None) -> pyo.ConcreteModel:
    """Compose the assignment MILP (Eq. A0-A6); ``extra_constraints(model, data)`` is applied last.

    With ``d.relax`` (the LP relaxation) the model also imports row duals (``m.dual``), read
    with :func:`demand_prices`.
    """
    m = pyo.ConcreteModel(name="assignment")
    m._data = d
    add_route_columns(m, d)
    add_one_route_each(m, d)
    add_demands(m, d)
    add_installations(m, d)
    add_value_objective(m, d)
    if d.relax:
        m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    if extra_constraints is not None:
        extra_constraints(m, d)
    return m


def demand_prices(m) -> np.ndarray:
    """Duals of the demand rows A3 of a solved LP relaxation ($/kWh, >= 0; 0 for unlimited routes),
    by route index."""
    d = m._data
    out = np.zeros(d.demand_kwh.size)
    if hasattr(m, "dual"):
        for r, name in enumerate(d.route_names):
            if name in m.demand:
                out[r] = max(0.0, float(m.dual.get(m.demand[name], 0.0)))
    return out


def column_counts(m) -> np.ndarray:
    """Solved ``y`` as a (G, R) integer array (rounded; LP values with ``relax``: use ``m.y``)."""
    d = m._data
    out = np.zeros(d.value_usd.shape, dtype=np.int64)
    vals = np.array([v.value if v.value is not None else 0.0 for v in m._ylist])
    out[m._g, m._r] = np.rint(vals).astype(np.int64)
    return out


def open_windows(m) -> dict:
    """Open windows per application index: ``{r: [w, ...]}``."""
    if not hasattr(m, "z"):
        return {}
    index = {name: r for r, name in enumerate(m._data.route_names)}
    out: dict[int, list] = {}
    for (name, w), var in m.z.items():
        if (var.value or 0.0) > 0.5:
            out.setdefault(index[name], []).append(w)
    return out


# --------------------------------------------------------------------------- window selection at fleet scale


@dataclass
class WindowSelectionData:
    """Aggregated data of the window-selection model (cells of similar batteries; no Pyomo objects).

    Used at fleet scale to choose each application's installation windows before the exact
    per-battery solve inside them. Cells ``c`` (chemistry x SOH cell x resistance cell) hold
    energy segments ``s`` per application: the cell's batteries that gain from the application,
    split by gain into segments of decreasing value.

    Attributes
    ----------
    seg_app, seg_cell : (S,) int
        Application and cell of every segment.
    seg_energy_kwh, seg_gain_usd_per_kwh : (S,) float
        Energy of the segment and its mean gain per kWh over the batteries' best unlimited route.
    cell_energy_kwh : (C,) float
        Energy of every cell (a battery takes one route).
    demand_kwh : (A,) float
        Energy every application can absorb (inf: unlimited).
    windows : list of (list of int arrays) or None, length A
        Cells of every candidate window of an application (None: no pack rule).
    max_open : (A,) int
        Installations allowed per application (ignored where ``windows[a]`` is None).
    """

    seg_app: np.ndarray
    seg_cell: np.ndarray
    seg_energy_kwh: np.ndarray
    seg_gain_usd_per_kwh: np.ndarray
    cell_energy_kwh: np.ndarray
    demand_kwh: np.ndarray
    windows: list
    max_open: np.ndarray


def build_window_selection_model(d: WindowSelectionData) -> pyo.ConcreteModel:
    """Choose installation windows on aggregated cells (Eq. W1-W5 of ``docs/assignment.md``).

    ``max sum_s gain[s] q[s]`` (W1) with ``q[s] <= E[s] sum_{w ∋ cell(s)} z[app(s), w]`` (W2),
    ``sum_{s in a} q[s] <= D[a]`` (W3), ``sum_{s in c} q[s] <= E[c]`` (W4) and
    ``sum_w z[a, w] <= K[a]`` (W5). Segments of applications without a rule have no W2 row.
    """
    m = pyo.ConcreteModel(name="window_selection")
    S = d.seg_app.size
    m.q = pyo.Var(range(S), within=pyo.NonNegativeReals, bounds=lambda _, s: (0.0, float(d.seg_energy_kwh[s])))
    keys = [(a, w) for a, wins in enumerate(d.windows) if wins is not None for w in range(len(wins))]
    m.z = pyo.Var(keys, within=pyo.Binary)
    cover: dict[tuple, list] = {}
    for a, w in keys:
        for c in np.asarray(d.windows[a][w]).tolist():
            cover.setdefault((a, int(c)), []).append(w)
    ruled = [s for s in range(S) if d.windows[int(d.seg_app[s])] is not None]
    m.open_link = pyo.Constraint(ruled, rule=lambda m, s: _lin(
        [1.0] + [-float(d.seg_energy_kwh[s])] * len(cover.get((int(d.seg_app[s]), int(d.seg_cell[s])), [])),
        [m.q[s]] + [m.z[int(d.seg_app[s]), w] for w in cover.get((int(d.seg_app[s]), int(d.seg_cell[s])), [])]) <= 0)
    apps = [a for a in range(d.demand_kwh.size) if np.isfinite(d.demand_kwh[a])]
    by_app = {a: np.flatnonzero(d.seg_app == a) for a in range(d.demand_kwh.size)}
    m.demand = pyo.Constraint(apps, rule=lambda m, a: _lin(np.ones(by_app[a].size), [m.q[s] for s in by_app[a]])
                              <= float(d.demand_kwh[a]))
    by_cell = {c: np.flatnonzero(d.seg_cell == c) for c in np.unique(d.seg_cell).tolist()}
    m.cell = pyo.Constraint(list(by_cell), rule=lambda m, c: _lin(np.ones(by_cell[c].size), [m.q[s] for s in by_cell[c]])
                            <= float(d.cell_energy_kwh[c]))
    limited = [a for a, wins in enumerate(d.windows) if wins]
    m.installations = pyo.Constraint(limited, rule=lambda m, a: _lin(
        np.ones(len(d.windows[a])), [m.z[a, w] for w in range(len(d.windows[a]))]) <= int(d.max_open[a]))
    m.objective = pyo.Objective(expr=_lin(d.seg_gain_usd_per_kwh, [m.q[s] for s in range(S)]), sense=pyo.maximize)
    return m
