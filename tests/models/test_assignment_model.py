"""The aggregated assignment MILP against optima worked out by hand."""

import numpy as np
import pyomo.environ as pyo
import pytest

from slopt.models.assignment import AssignmentData, build_assignment_model
from slopt.solve import SolveOptions, Status, solve


def data(demand_a=50.0, max_projects=1):
    # bins b0 (3 batteries) and b1 (2 batteries), 10 kWh each; routes: app A, remanufacture, recycle
    return AssignmentData(
        count=np.array([3, 2]),
        n_feasible=np.array([[3, 3, 3], [2, 2, 2]]),
        value_usd=np.array([[100.0, 40.0, 5.0], [80.0, 60.0, 5.0]]),
        energy_kwh=np.array([10.0, 10.0]),
        demand_kwh=np.array([demand_a, np.inf, np.inf]),
        window_bins=[[np.array([0]), np.array([1])], None, None],
        max_projects=np.array([max_projects, 0, 0]),
    )


def solved(d):
    m = build_assignment_model(d)
    res = solve(m, SolveOptions(mip_rel_gap=0.0))
    assert res.status == Status.OPTIMAL
    y = {(b, r): round(pyo.value(m.y[b, r])) for b, r in m.BR}
    return res.objective, y


def test_pack_consistency_binds():
    # one project: A draws from b0 only (3 x 100) and b1 goes to remanufacture (2 x 60) = 420;
    # drawing from b1 instead gives 2 x 80 + 3 x 40 = 280
    obj, y = solved(data(max_projects=1))
    assert obj == pytest.approx(420.0)
    assert y[(0, 0)] == 3 and y[(1, 1)] == 2 and y[(1, 0)] == 0


def test_two_projects_lift_the_limit():
    # both windows open: all five to A (300 + 160) = 460, within 50 kWh of demand
    obj, y = solved(data(max_projects=2))
    assert obj == pytest.approx(460.0)


def test_demand_caps_energy():
    # 20 kWh of demand: two b0 batteries go to A (200), the third to remanufacture (40), b1 to reman (120)
    obj, y = solved(data(demand_a=20.0, max_projects=2))
    assert obj == pytest.approx(360.0)
    assert y[(0, 0)] == 2


def test_every_battery_takes_one_route_and_infeasible_routes_stay_empty():
    d = data(max_projects=2)
    d.n_feasible = np.array([[3, 0, 3], [2, 2, 2]])      # b0 cannot be remanufactured (SOH < 0.8)
    d.demand_kwh = np.array([10.0, np.inf, np.inf])
    obj, y = solved(d)
    assert (0, 1) not in y                                # no variable for an infeasible route
    assert sum(v for (b, _), v in y.items() if b == 0) == 3
    # A takes one b0 (100); the other two b0 recycle (2 x 5); b1 remanufactured (120)
    assert obj == pytest.approx(230.0)
