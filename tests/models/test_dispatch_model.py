"""The Eq. 10-11 dispatch QP against optima computed by hand.

Small cases (2 groups, 2 steps, dt = 1 h, lossless unless stated) where the zero-variance
split is known: with ``C_g = 1/N_g`` and ``EFC_g = throughput_g / (2 U_g)``, Eq. 10a is zero
iff ``throughput_g`` is proportional to ``N_g U_g``. Among the zero-variance plans the regulariser
picks the per-step split in that proportion; the QP solver resolves that choice to about 1e-4 of
the power (its tolerances are absolute), the totals that set the variance much more tightly.
"""

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.repn import generate_standard_repn

from slopt.battery.groups import BatteryGroups
from slopt.models.dispatch import (DispatchModelData, DispatchModelOptions, build_dispatch_model, dispatch_model_data,
                                   dispatch_solution)
from slopt.solve import SolveOptions, Status, solve


def data(request_kw, n=(2000.0, 2000.0), e_kwh=100.0, p_kw=50.0, soh=1.0, eta=1.0, e0_pu=0.5,
         life0=(0.0, 0.0), **opts) -> DispatchModelData:
    n = np.asarray(n, dtype=float)
    G = n.size
    soh_a = np.broadcast_to(np.asarray(soh, dtype=float), (G,))
    e_a = np.broadcast_to(np.asarray(e_kwh, dtype=float), (G,))
    groups = BatteryGroups(e_kwh=e_a, p_kw=p_kw, soh=soh_a, eta_charge=eta, eta_discharge=eta, soc_min=0.1,
                           soc_max=0.9)
    return DispatchModelData(groups=groups, e0_kwh=e0_pu * soh_a * e_a, request_kw=request_kw, dt_h=1.0,
                             n_remaining=n, life_used0=np.asarray(life0, dtype=float)[:G],
                             options=DispatchModelOptions(**opts))


def solved(d: DispatchModelData):
    m = build_dispatch_model(d)
    res = solve(m, SolveOptions())
    assert res.status == Status.OPTIMAL, res
    return m, dispatch_solution(m)


def fw_gap(m) -> float:
    """Frank-Wolfe certificate ``grad f(x*) . (x* - y*)``, ``y* = argmin_feasible grad f(x*) . y``.

    It bounds ``f(x*) - f_opt`` from above and is 0 exactly at an optimum of a convex problem;
    the LP is solved by simplex, independently of the QP solver.
    """
    repn = generate_standard_repn(m.objective.expr, quadratic=True)
    grad = {}
    for c, v in zip(repn.linear_coefs, repn.linear_vars):
        grad.setdefault(id(v), [v, 0.0])[1] += c
    for c, (v1, v2) in zip(repn.quadratic_coefs, repn.quadratic_vars):
        grad.setdefault(id(v1), [v1, 0.0])[1] += c * v2.value
        grad.setdefault(id(v2), [v2, 0.0])[1] += c * v1.value
    x = {k: v.value for k, (v, _) in grad.items()}
    m.nbar.fix()  # free variable with zero slope at the optimum (the mean); keeps the LP bounded
    m.objective.deactivate()
    m.fw_objective = pyo.Objective(expr=sum(g * v for v, g in grad.values()))
    assert solve(m, SolveOptions()).status == Status.OPTIMAL
    gap = sum(g * (x[k] - v.value) for k, (v, g) in grad.items())
    for k, (v, _) in grad.items():
        v.value = x[k]
    m.del_component(m.fw_objective)
    m.objective.activate()
    m.nbar.unfix()
    return gap


def test_identical_groups_split_equally():
    m, s = solved(data([10.0, -6.0]))
    np.testing.assert_allclose(s["p_group_kw"], [[5.0, 5.0], [-3.0, -3.0]], atol=1e-6)
    np.testing.assert_allclose(s["unserved_kw"], 0.0, atol=1e-9)
    assert s["variance"] == pytest.approx(0.0, abs=1e-14)
    # EFC by hand: 8 kWh through each group of 100 kWh usable -> 8/200 = 0.04 cycles; life = 0.04/2000
    np.testing.assert_allclose(s["efc"], 0.04, rtol=1e-6)
    np.testing.assert_allclose(s["life_used"], 0.04 / 2000.0, rtol=1e-6)


def test_half_remaining_cycles_takes_half_the_throughput():
    # N = (2000, 1000), same usable energy: zero variance needs thr_2 = thr_1 / 2 -> split 2:1
    m, s = solved(data([12.0, -9.0], n=(2000.0, 1000.0)))
    np.testing.assert_allclose(s["p_group_kw"], [[8.0, 4.0], [-6.0, -3.0]], atol=1e-3)
    np.testing.assert_allclose(np.abs(s["p_group_kw"]).sum(axis=0), [14.0, 7.0], atol=1e-6)
    life = s["life_used"]
    assert life[0] == pytest.approx(life[1], rel=1e-6)                    # C_i N_i^Life equal
    assert life[0] == pytest.approx((14.0 / 200.0) / 2000.0, rel=1e-6)    # 14 kWh / (2*100 kWh) / 2000
    assert s["variance"] < 1e-18
    assert pyo.value(m.variance_scaled) < 1e-9


def test_hand_split_with_soh_and_capacity():
    # weights N_g U_g: (2000*100, 1500*0.8*50) = (200000, 60000) -> shares 10/13 and 3/13
    d = data([13.0, 26.0], n=(2000.0, 1500.0), e_kwh=(100.0, 50.0), soh=(1.0, 0.8))
    _, s = solved(d)
    np.testing.assert_allclose(s["p_group_kw"], [[10.0, 3.0], [20.0, 6.0]], atol=1e-3)
    np.testing.assert_allclose(s["p_group_kw"].sum(axis=0), [30.0, 9.0], atol=1e-5)


def test_history_is_balanced():
    # group 0 already used life0 = 1e-5 (= 4 kWh of throughput at N U = 2000*100); request 20 kWh
    # over the horizon: final life equal needs thr_0 + 4 = thr_1 and thr_0 + thr_1 = 20 -> (8, 12)
    _, s = solved(data([10.0, 10.0], life0=(4.0 / (2 * 100.0) / 2000.0, 0.0)))
    thr = s["p_group_kw"].sum(axis=0)
    np.testing.assert_allclose(thr, [8.0, 12.0], atol=1e-4)
    assert s["life_used"][0] == pytest.approx(s["life_used"][1], rel=1e-6)


def test_constraints_11a_to_11c_hold():
    d = data([60.0, -80.0, 30.0, 0.0], n=(2000.0, 900.0), p_kw=(35.0, 25.0), e0_pu=(0.3, 0.8), eta=0.95)
    _, s = solved(d)
    p, e, u, r = s["p_group_kw"], s["e_kwh"], s["unserved_kw"], d.request_kw
    tol = 1e-6
    assert np.all(np.abs(p) <= d.p_kw + tol)                                      # Eq. 11a
    lo, hi = d.e_bounds_kwh
    assert np.all(e >= lo - tol) and np.all(e <= hi + tol)                        # Eq. 11b
    tot = p.sum(axis=1)
    assert np.all(np.abs(tot) <= np.abs(r) + tol)                                 # Eq. 11c
    assert np.all(tot * r >= -tol)                                                # follows the sign
    np.testing.assert_allclose(tot + u, r, atol=tol)                              # nothing dropped
    assert np.all(np.minimum(s["p_charge_kw"], s["p_discharge_kw"]) <= tol)       # no simultaneous
    assert np.all(p[:, :] * r[:, None] >= -tol)                                   # every group follows
    # SOC balance with efficiencies, by hand
    de = np.where(p >= 0, 0.95 * p, p / 0.95)
    np.testing.assert_allclose(e, d.e0_kwh + np.cumsum(de, axis=0), atol=1e-6)


def test_unserved_power_when_request_exceeds_rating():
    # 2 x 20 kW cannot deliver 50 kW: 10 kW unserved, the rest split equally
    _, s = solved(data([50.0, -50.0], p_kw=20.0))
    np.testing.assert_allclose(s["unserved_kw"], [10.0, -10.0], atol=1e-6)
    np.testing.assert_allclose(s["p_group_kw"], [[20.0, 20.0], [-20.0, -20.0]], atol=1e-6)


def test_unserved_energy_when_soc_window_binds():
    # each group holds 40 kWh above SOC_min (0.5 -> 0.1 of 100 kWh): 2 x 50 kWh asked, 80 delivered
    _, s = solved(data([-50.0, -50.0], p_kw=50.0))
    assert -s["unserved_kw"].sum() == pytest.approx(20.0, abs=1e-6)
    np.testing.assert_allclose(s["e_kwh"][-1], [10.0, 10.0], atol=1e-6)


def test_penalty_beats_variance():
    # shedding would lower the variance (the weak group is forced above its 1/3 share because the
    # strong group is power-limited), but the request is served in full
    _, s = solved(data([30.0, 30.0], n=(2000.0, 1000.0), p_kw=(15.0, 20.0)))
    np.testing.assert_allclose(s["unserved_kw"], 0.0, atol=1e-6)
    np.testing.assert_allclose(s["p_group_kw"], [[15.0, 15.0], [15.0, 15.0]], atol=1e-6)
    assert s["variance"] > 0.0


def test_objective_and_hessian_pass_through_highs():
    # HiGHS's objective equals the Pyomo objective at the solution (factor-2 conventions of the
    # Hessian), and the scaled variance is the numpy sample variance of life / L_ref
    d = data([40.0, -20.0, 10.0], n=(2000.0, 1200.0, 700.0), p_kw=(15.0, 15.0, 30.0), e0_pu=(0.5, 0.2, 0.6),
             life0=(0.0, 3e-5, 1e-5))
    m = build_dispatch_model(d)
    res = solve(m, SolveOptions())
    assert res.status == Status.OPTIMAL
    assert res.objective == pytest.approx(pyo.value(m.objective), rel=1e-7, abs=1e-9)
    s = dispatch_solution(m)
    assert pyo.value(m.variance_scaled) == pytest.approx(s["variance"] / d.life_ref**2, rel=1e-5, abs=1e-9)
    assert fw_gap(m) == pytest.approx(0.0, abs=1e-6)


def test_random_cases_are_certified_optimal():
    rng = np.random.default_rng(3)
    for _ in range(5):
        G, T = 4, 8
        groups = BatteryGroups(e_kwh=rng.uniform(10, 30, G), p_kw=rng.uniform(5, 15, G), soh=rng.uniform(0.7, 1.0, G),
                               eta_charge=rng.uniform(0.9, 0.98, G), eta_discharge=rng.uniform(0.9, 0.98, G),
                               soc_min=0.1, soc_max=0.9)
        d = DispatchModelData(groups=groups, e0_kwh=rng.uniform(2, 8, G), request_kw=rng.normal(0, 20, T),
                              dt_h=0.25, n_remaining=rng.uniform(800, 2400, G), life_used0=rng.uniform(0, 1e-5, G))
        m, _ = solved(d)
        assert fw_gap(m) <= 1e-5 * max(1.0, abs(pyo.value(m.objective)))


def test_throughput_efc_is_rainflow_efc_for_linear_dod_law():
    from slopt.battery.aging import Woehler, equivalent_full_cycles
    d = data([30.0, -20.0, -25.0, 10.0, 20.0], n=(2000.0, 1000.0), eta=0.95)
    _, s = solved(d)
    soc = np.vstack([d.e0_kwh, s["e_kwh"]]) / d.usable_kwh
    efc_rf = equivalent_full_cycles(soc.T, Woehler(n100_cycles=3000.0, k=1.0))
    np.testing.assert_allclose(s["efc"], efc_rf, rtol=1e-9)


def test_counterflow_lets_the_variance_burn_energy():
    # the strong group (P = 15 kW) cannot take its 2/3 share of 30 kW; with counterflow the variance
    # objective makes it charge and discharge at once in the idle steps to wear it up to the weak
    # group. Sign coherence (the default) forbids that: zero simultaneous power.
    req = [30.0, 0.0, -10.0, 0.0]
    kw = dict(n=(2000.0, 1000.0), p_kw=(15.0, 20.0), eta=0.95)
    _, coherent = solved(data(req, **kw))
    _, counter = solved(data(req, counterflow=True, **kw))
    assert np.minimum(coherent["p_charge_kw"], coherent["p_discharge_kw"]).max() <= 1e-9
    assert np.minimum(counter["p_charge_kw"], counter["p_discharge_kw"]).max() > 1.0
    assert counter["variance"] < coherent["variance"]
    for s in (coherent, counter):
        np.testing.assert_allclose(s["p_group_kw"].sum(axis=1) + s["unserved_kw"], req, atol=1e-6)
        np.testing.assert_allclose(s["unserved_kw"], 0.0, atol=1e-6)


def test_throughput_objective_loads_the_cheapest_group():
    # life per kWh is 1/(2 N U): group 0 (N = 2000) is cheaper than group 1 (N = 1000); it takes all
    # it can (P = 20 kW), group 1 the rest
    _, s = solved(data([30.0, 10.0], n=(2000.0, 1000.0), p_kw=20.0, objective="throughput"))
    np.testing.assert_allclose(s["p_group_kw"], [[20.0, 10.0], [10.0, 0.0]], atol=1e-5)


def test_single_group_and_idle_request():
    _, s = solved(data([5.0, 0.0], n=(1500.0,)))
    np.testing.assert_allclose(s["p_group_kw"], [[5.0], [0.0]], atol=1e-6)
    _, s = solved(data([0.0, 0.0]))
    np.testing.assert_allclose(s["p_group_kw"], 0.0, atol=1e-9)


def test_state_outside_window_is_not_infeasible():
    # e0 below SOC_min and a discharge request: nothing can be delivered, the model stays feasible
    _, s = solved(data([-10.0], e0_pu=0.05))
    np.testing.assert_allclose(s["unserved_kw"], [-10.0], atol=1e-6)


def test_options_validation():
    with pytest.raises(ValueError, match="mixed-integer QPs"):
        DispatchModelOptions(exclusivity=True)
    with pytest.raises(ValueError, match="objective"):
        DispatchModelOptions(objective="minimax")
    with pytest.raises(ValueError, match="1-D"):
        data(np.zeros((2, 2)))


def test_exclusivity_milp():
    d = data([10.0, -6.0], n=(2000.0, 1000.0), eta=0.95, counterflow=True, exclusivity=True,
             objective="throughput", w_reg=0.0)
    m, s = solved(d)
    assert hasattr(m, "y")
    assert np.minimum(s["p_charge_kw"], s["p_discharge_kw"]).max() < 1e-9
    np.testing.assert_allclose(s["p_group_kw"].sum(axis=1), [10.0, -6.0], atol=1e-6)


def test_dispatch_model_data_uses_eq_7b():
    from slopt.battery.aging import remaining_cycles
    groups = BatteryGroups(10.0, 5.0, np.array([1.0, 0.7]), 0.95, 0.95, 0.1, 0.9)
    d = dispatch_model_data(groups, 5.0, [1.0], 0.25)
    np.testing.assert_allclose(d.n_remaining, [2493.27, remaining_cycles(0.7)])
    assert d.life_used0.tolist() == [0.0, 0.0]
