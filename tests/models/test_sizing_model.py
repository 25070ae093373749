"""The sizing MILP against optima computed by hand."""

import numpy as np
import pyomo.environ as pyo
import pytest

from slopt.models.sizing import build_sizing_model
from slopt.solve import SolveOptions, Status, solve
from tests.conftest import three_bus_instance


def hand_optimum_three_bus(vmin=0.995, load_kw=300.0, eta=0.9, soc0=0.1, soc_max=0.9):
    """LinDistFlow on 1-2-3 (r = 0.01 p.u. each, x = 0, 1 MVA): w3 = 1 - 0.04 p3[p.u.].

    Holding w3 >= vmin^2 at the 300 kW step needs p3 <= (1 - vmin^2)/0.04; the storage
    discharges the rest, refills it in the 0 kW step (cyclic SOC), and the SOC swing from the
    start soc0 to soc_max must hold the refill: E = eta*p_ch*dt / (soc_max - soc0), P = p_ch.
    With a free cyclic start the day starts at soc_min (0.1); with a fixed start at 0.5.
    """
    p3_max_kw = (1 - vmin**2) / 0.04 * 1000.0
    p_dis = load_kw - p3_max_kw
    p_ch = p_dis / eta / eta
    e_kwh = eta * p_ch / (soc_max - soc0)
    cost = e_kwh * 1510.0 + p_ch * 300.0      # Table 1, new: 1.51 $/Wh, 0.3 $/W
    return p_dis, p_ch, e_kwh, cost


def test_three_bus_matches_hand_optimum():
    inst = three_bus_instance()
    p_dis, p_ch, e_kwh, cost = hand_optimum_three_bus()
    assert p_dis == pytest.approx(50.625)
    m = build_sizing_model(inst, voltage_model="lindistflow")
    res = solve(m, SolveOptions(mip_rel_gap=1e-9))
    assert res.status == Status.OPTIMAL
    assert pyo.value(m.E[3, "new"]) == pytest.approx(e_kwh, rel=1e-6)      # 70.3125 kWh
    assert pyo.value(m.P[3, "new"]) == pytest.approx(p_ch, rel=1e-6)       # 62.5 kW
    assert pyo.value(m.cost_usd) == pytest.approx(cost, rel=1e-6)      # 124,921.875 $
    assert pyo.value(m.pdis[3, "new", 1]) == pytest.approx(p_dis, rel=1e-6)


def test_three_bus_with_the_day_fixed_to_start_at_half_charge():
    # starting (and ending) at SOC 0.5 halves the usable swing: E = 56.25 / (0.9 - 0.5) = 140.625 kWh
    from slopt.models.sizing import sizing_data
    inst = three_bus_instance()
    m = build_sizing_model(sizing_data(inst, fixed_initial_soc=True, voltage_model="lindistflow"))
    assert solve(m, SolveOptions(mip_rel_gap=1e-9)).status == Status.OPTIMAL
    _, p_ch, e_kwh, cost = hand_optimum_three_bus(soc0=0.5)
    assert pyo.value(m.E[3, "new"]) == pytest.approx(140.625, rel=1e-6) == e_kwh
    assert pyo.value(m.cost_usd) == pytest.approx(cost, rel=1e-6)      # 231,093.75 $


def test_hybrid_choice_matches_hand_optimum():
    # Per kW of charging (one 1-h refill step, free cyclic start, window 0.1-0.9, eta 0.9):
    # new needs E >= max(pch, 0.9 pch / 0.8) = 1.125 pch -> 1510*1.125 + 300 = 1998.75 $/kW;
    # retired needs E >= max(pch / (0.5*0.8), 0.9 pch / (0.8*0.8)) = 2.5 pch -> 1015*2.5 + 200 = 2737.5 $/kW.
    # The short, power-heavy need is met by new packs only.
    inst = three_bus_instance(techs=("new", "retired"))
    m = build_sizing_model(inst, voltage_model="lindistflow")
    assert solve(m, SolveOptions(mip_rel_gap=1e-9)).status == Status.OPTIMAL
    assert pyo.value(m.E[3, "retired"]) == pytest.approx(0.0, abs=1e-6)
    assert pyo.value(m.E[3, "new"]) == pytest.approx(1.125 * 62.5, rel=1e-6)
    assert pyo.value(m.cost_usd) == pytest.approx(62.5 * 1998.75, rel=1e-6)


def test_retired_c_rate_binds_when_window_is_wide():
    # SOC window 0..1 from 0.5: headroom 0.4*E_ret >= 56.25 needs E >= 140.6 kWh, but the C-rate
    # P <= 0.4 E with P = 62.5 kW needs E >= 156.25 kWh: the C-rate limit sets the size.
    inst = three_bus_instance(techs=("retired",))
    tech = inst.technologies["retired"].with_(soc_min=0.0, soc_max=1.0)
    inst = inst.with_(technologies={"retired": tech})
    m = build_sizing_model(inst, voltage_model="lindistflow")
    assert solve(m, SolveOptions(mip_rel_gap=1e-9)).status == Status.OPTIMAL
    assert pyo.value(m.E[3, "retired"]) == pytest.approx(156.25, rel=1e-6)


def test_extra_constraints_hook_is_applied():
    inst = three_bus_instance()
    m = build_sizing_model(inst, voltage_model="lindistflow", extra_constraints=lambda m, i: setattr(m, "cap", pyo.Constraint(expr=m.E[3, "new"] >= 200)))
    assert solve(m).status == Status.OPTIMAL
    assert pyo.value(m.E[3, "new"]) == pytest.approx(200.0)


def test_infeasible_when_bounds_too_small():
    inst = three_bus_instance()
    inst = inst.with_(candidates=inst.candidates.__class__(**{**inst.candidates.__dict__, "p_max_kw": np.array([10.0])}))
    res = solve(build_sizing_model(inst, voltage_model="lindistflow"))
    assert res.status == Status.INFEASIBLE
    assert res.objective is None


def test_cyclic_and_window_hold_in_solution():
    inst = three_bus_instance()
    m = build_sizing_model(inst, voltage_model="lindistflow")
    solve(m)
    e = np.array([pyo.value(m.e[3, "new", t]) for t in range(2)])
    E = pyo.value(m.E[3, "new"])
    assert e[-1] == pytest.approx(pyo.value(m.e0[3, "new", 0]), rel=1e-7)   # the day repeats
    assert np.all(e <= 0.9 * E + 1e-6) and np.all(e >= 0.1 * E - 1e-6)
