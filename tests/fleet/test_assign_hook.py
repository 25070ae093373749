"""The assignment's user hook ``extra_constraints(model, data)``: name-indexed components, exact
against an enumeration that applies the same constraints, and errors when nothing is feasible."""

import itertools

import numpy as np
import pyomo.environ as pyo
import pytest

from slopt.errors import ArgumentError, InfeasibleError
from slopt.fleet import APPLICATIONS, generate_fleet
from slopt.fleet.assign import AssignmentOptions, assign, assign_arrays

NO_PACK = AssignmentOptions(pack=None)
ROUTES = ["A", "B", "C", "remanufacture", "recycle"]


def case(seed, n=6):
    rng = np.random.default_rng(seed)
    energy = np.round(rng.uniform(1.2, 2.6, n), 3)
    value = np.column_stack([rng.uniform(-100, 600, (n, 3)), rng.uniform(50, 150, n), rng.uniform(0, 30, n)])
    feas = np.column_stack([rng.random((n, 3)) < 0.85, rng.random(n) < 0.3, np.ones(n, bool)])
    value[1], feas[1], energy[1] = value[0], feas[0], energy[0]          # two identical batteries
    demand = np.r_[rng.uniform(0.3, 0.7, 3) * energy.sum(), np.inf, np.inf]
    return value, feas, energy, demand


def enumerate_best(value, feas, energy, demand, ok):
    """Best plan by enumeration of every battery -> route map, subject to ``ok(routes)``."""
    n, R = value.shape
    best, arg = -np.inf, None
    for routes in itertools.product(range(R), repeat=n):
        r = np.array(routes)
        if not feas[np.arange(n), r].all():
            continue
        use = np.bincount(r, weights=energy, minlength=R)
        if np.any(use[:3] > demand[:3] + 1e-9) or not ok(r):
            continue
        v = value[np.arange(n), r].sum()
        if v > best:
            best, arg = v, r
    return best, arg


@pytest.mark.parametrize("seed", range(6))
def test_hook_is_exact_against_enumeration(seed):
    value, feas, energy, demand = case(300 + seed)
    ids = [f"b{i}" for i in range(6)]

    def hook(m, d):
        # battery b1 never takes route A (if open to it); at most one battery on route B
        if ("b1", "A") in m.y:
            m.y["b1", "A"].fix(0)
        m.at_most_one_b = pyo.Constraint(expr=sum(m.y[b, "B"] for b in ids if (b, "B") in m.y) <= 1)

    plan = assign_arrays(value, feas, energy, demand, options=NO_PACK, battery_ids=ids, route_names=ROUTES,
                         extra_constraints=hook)
    best, _ = enumerate_best(value, feas, energy, demand, lambda r: r[1] != 0 and (r == 1).sum() <= 1)
    assert plan.objective_usd == pytest.approx(best, rel=1e-9, abs=1e-6)
    assert plan.route[1] != 0 and (plan.route == 1).sum() <= 1
    assert plan.bound_usd >= best - 1e-6
    # without the hook the enumeration's unconstrained optimum is reached, and it is no worse
    free = assign_arrays(value, feas, energy, demand, options=NO_PACK)
    assert free.objective_usd >= plan.objective_usd - 1e-6


def test_components_are_indexed_by_names():
    value, feas, energy, demand = case(7)
    ids = [f"b{i}" for i in range(6)]
    seen = {}

    def hook(m, d):
        seen["one_route"] = list(m.one_route)
        seen["demand"] = list(m.demand)
        seen["y"] = list(m.y)
        seen["d"] = d

    assign_arrays(value, feas, energy, demand, options=NO_PACK, battery_ids=ids, route_names=ROUTES,
                  extra_constraints=hook)
    assert seen["one_route"] == ids                                  # every battery its own row (no merging)
    assert seen["demand"] == ["A", "B", "C"]
    expect = [(b, r) for i, b in enumerate(ids) for j, r in enumerate(ROUTES) if feas[i, j] and demand[j] > 0]
    assert sorted(seen["y"]) == sorted(expect)                       # only open routes have a variable
    assert seen["d"].count.tolist() == [1] * 6


def test_hook_on_a_fleet_by_battery_id_and_application():
    fleet = generate_fleet(40, seed=5)
    nmc = set(fleet.table.loc[fleet.table["chemistry"] == "NMC", "battery_id"])

    def no_nmc_in_fr(m, d):
        for b in nmc:
            if (b, "frequency_regulation") in m.y:
                m.y[b, "frequency_regulation"].fix(0)

    base = assign(fleet, APPLICATIONS, options=NO_PACK)
    res = assign(fleet, APPLICATIONS, options=NO_PACK, extra_constraints=no_nmc_in_fr)
    fr = res.batteries.loc[res.batteries["route"] == "frequency_regulation", "battery_id"]
    assert not (set(fr) & nmc)
    assert res.objective_usd <= base.objective_usd + 1e-6
    # the same plan value as closing the route to those batteries in the data (a different mechanism)
    from slopt.battery.twin import simulate_twin
    from slopt.fleet.assign import route_values

    twin = simulate_twin(fleet, APPLICATIONS, years=10)
    value, feas, _, _ = route_values(fleet.table, list(APPLICATIONS.values()), twin, NO_PACK)
    fr_col = list(APPLICATIONS).index("frequency_regulation")
    feas[fleet.table["chemistry"].to_numpy() == "NMC", fr_col] = False
    energy = fleet.table["nominal_kwh"].to_numpy() * fleet.table["soh"].to_numpy()
    demand = np.r_[[a.demand_kwh for a in APPLICATIONS.values()], np.inf, np.inf]
    masked = assign_arrays(value, feas, energy, demand, n_apps=len(APPLICATIONS), options=NO_PACK)
    assert res.objective_usd == pytest.approx(masked.objective_usd, rel=1e-9)


def test_a_hook_that_leaves_no_plan_is_an_infeasible_error():
    value, feas, energy, demand = case(11)
    ids = [f"b{i}" for i in range(6)]

    def impossible(m, d):
        m.y["b0", "recycle"].fix(0)
        m.none_recycled = pyo.Constraint(expr=sum(m.y[b, "recycle"] for b in ids) >= 7)

    with pytest.raises(InfeasibleError, match="no plan meets the extra constraints"):
        assign_arrays(value, feas, energy, demand, options=NO_PACK, battery_ids=ids, route_names=ROUTES,
                      extra_constraints=impossible)
    with pytest.raises(ArgumentError, match="extra_constraints must be callable"):
        assign_arrays(value, feas, energy, demand, options=NO_PACK, extra_constraints=3)
