"""The assignment model (slopt.models.assignment) against optima worked out by hand."""

import numpy as np
import pyomo.environ as pyo
import pytest

from slopt.models.assignment import (AssignmentData, InstallationWindows, build_assignment_model, column_counts,
                                     open_windows)
from slopt.solve import SolveOptions, Status, solve


def data(demand_a=50.0, windows=None, relax=False):
    # groups g0 (3 identical batteries) and g1 (2), 10 kWh each; routes: app A, remanufacture, recycle
    return AssignmentData(
        count=np.array([3, 2]),
        value_usd=np.array([[100.0, 40.0, 5.0], [80.0, 60.0, 5.0]]),
        feasible=np.ones((2, 3), bool),
        energy_kwh=np.array([10.0, 10.0]),
        demand_kwh=np.array([demand_a, np.inf, np.inf]),
        windows=windows, relax=relax,
    )


def solved(d):
    m = build_assignment_model(d)
    res = solve(m, SolveOptions(mip_rel_gap=0.0))
    assert res.status == Status.OPTIMAL
    return res.objective, column_counts(m), m


def test_unconstrained_every_battery_takes_its_best_route():
    obj, y, _ = solved(data(demand_a=np.inf))
    assert obj == pytest.approx(3 * 100 + 2 * 80)
    assert y.tolist() == [[3, 0, 0], [2, 0, 0]]


def test_demand_caps_energy():
    # 20 kWh of demand: two g0 batteries to A (200), the third to remanufacture (40), g1 to reman (120)
    obj, y, _ = solved(data(demand_a=20.0))
    assert obj == pytest.approx(360.0)
    assert y[0].tolist() == [2, 1, 0] and y[1].tolist() == [0, 2, 0]


def test_installation_windows_bind():
    # one installation: A draws from window {g0} (3 x 100) and g1 goes to remanufacture (2 x 60) = 420;
    # drawing from {g1} instead gives 2 x 80 + 3 x 40 = 280
    wins = [InstallationWindows(members=[np.array([0]), np.array([1])], max_open=1), None, None]
    obj, y, m = solved(data(windows=wins))
    assert obj == pytest.approx(420.0)
    assert y.tolist() == [[3, 0, 0], [0, 2, 0]]
    assert open_windows(m) == {0: [0]}
    wins2 = [InstallationWindows(members=[np.array([0]), np.array([1])], max_open=2), None, None]
    obj2, _, _ = solved(data(windows=wins2))          # both windows open: all five to A = 460
    assert obj2 == pytest.approx(460.0)


def test_required_window_for_batteries_fixed_outside_the_model():
    # a battery fixed to A outside the model sits in window 1: that window must be open, so with one
    # installation A can only draw g1 (2 x 80) and g0 goes to remanufacture (3 x 40) = 280
    wins = [InstallationWindows(members=[np.array([0]), np.array([1])], max_open=1, must_cover=[np.array([1])]),
            None, None]
    obj, y, _ = solved(data(windows=wins))
    assert obj == pytest.approx(280.0)
    assert y.tolist() == [[0, 3, 0], [2, 0, 0]]


def test_infeasible_routes_have_no_column():
    d = data(demand_a=10.0)
    d.feasible = np.array([[True, False, True], [True, True, True]])   # g0 cannot be remanufactured
    obj, y, m = solved(d)
    assert len(m.y) == 5
    # A takes one battery: g0 (100) beats g1 (80 - 60 = 20 gain); two g0 recycle (10); g1 reman (120)
    assert obj == pytest.approx(230.0)
    assert y.tolist() == [[1, 0, 2], [0, 2, 0]]


def test_lp_relaxation_splits_one_battery_and_its_dual_is_the_price():
    # demand 25 kWh: the LP sends 2.5 g0 batteries to A; the demand row's dual is the price of a kWh of
    # A: (100 - 40) / 10 = 6 $/kWh (g0's gain over remanufacture per kWh)
    m = build_assignment_model(data(demand_a=25.0, relax=True))
    m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    res = solve(m)
    assert res.status == Status.OPTIMAL
    assert res.objective == pytest.approx(2.5 * 100 + 0.5 * 40 + 2 * 60)
    assert m.dual[m.demand[0]] == pytest.approx(6.0)


def test_bad_data_is_refused():
    with pytest.raises(ValueError, match="feasible route"):
        AssignmentData(count=np.array([1]), value_usd=np.zeros((1, 2)), feasible=np.zeros((1, 2), bool),
                       energy_kwh=np.ones(1), demand_kwh=np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="demand_kwh"):
        AssignmentData(count=np.array([1]), value_usd=np.zeros((1, 2)), feasible=np.ones((1, 2), bool),
                       energy_kwh=np.ones(1), demand_kwh=np.array([1.0]))
