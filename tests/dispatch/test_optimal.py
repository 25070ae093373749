"""Variance-optimal dispatch (Yuan et al. Eq. 10-11) and the MPC strategy through the public functions."""


import numpy as np
import pytest

from slopt.battery.aging import remaining_cycles
from slopt.dispatch.base import BatteryGroups, GroupState, group_power_bounds
from slopt.dispatch.optimal import DispatchPlan, OptimalOptions, mpc_allocate, plan_optimal, solve_dispatch
from slopt.errors import SolverError
from slopt.models.dispatch import DispatchModelOptions
from slopt.solve import SolveOptions, Status


def groups(soh=(1.0, 1.0), e_kwh=100.0, p_kw=50.0, eta=1.0) -> BatteryGroups:
    soh = np.asarray(soh, dtype=float)
    G = soh.size
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (G,)).copy()  # noqa: E731
    return BatteryGroups(e_kwh=full(e_kwh), p_kw=full(p_kw), soh=soh, eta_charge=full(eta), eta_discharge=full(eta),
                         soc_min=full(0.1), soc_max=full(0.9))


def state(g: BatteryGroups, soc=0.5, dt_h=1.0) -> GroupState:
    return GroupState(e_stored_kwh=soc * g.soh * g.e_kwh, dt_h=dt_h)


def case_study(dt_h=0.25):
    """Yuan et al. §5.2 node-30 groups: 4 new 14 kWh, 4 retired 28 kWh (SOH 0.85-0.75), one 18 kWh at 0.70."""
    soh = np.array([1.0, 1.0, 1.0, 1.0, 0.85, 0.80, 0.78, 0.75, 0.70])
    e = np.array([14.0] * 4 + [28.0] * 4 + [18.0])
    g = BatteryGroups(e_kwh=e, p_kw=0.5 * e, soh=soh, eta_charge=np.full(9, 0.95), eta_discharge=np.full(9, 0.95),
                      soc_min=np.full(9, 0.1), soc_max=np.full(9, 0.9))
    return g, GroupState(e_stored_kwh=0.5 * soh * e, dt_h=dt_h)


def day_request_kw(T=96):
    """Charge around noon, discharge in the evening; within the case-study fleet's energy window."""
    h = np.arange(T) * 24.0 / T
    return 12.0 * np.exp(-((h - 12.0) / 2.5) ** 2) - 14.0 * np.exp(-((h - 19.5) / 2.0) ** 2) + 1.5 * np.sin(h)


def test_identical_groups_split_equally():
    g = groups()
    p = plan_optimal(g, [10.0, -6.0], state(g))
    assert p.shape == (2, 2)
    np.testing.assert_allclose(p, [[5.0, 5.0], [-3.0, -3.0]], atol=1e-6)


def test_weaker_group_takes_less_throughput_by_hand():
    # SOH 1.0 (N = 2493.27) and SOH s with N(s) = 2493.27/2 (Eq. 7b); nameplate 100 and 100/s kWh so that
    # both hold 100 kWh usable: zero variance needs thr_1 = thr_0/2 -> a 2:1 split every step
    s = 0.978 * np.exp(-((2493.27 / 2) / 1953.0) ** 2)
    assert remaining_cycles(s) == pytest.approx(2493.27 / 2, rel=1e-9)
    g = groups(soh=(1.0, s), e_kwh=(100.0, 100.0 / s))
    plan = solve_dispatch(g, [12.0, -9.0], state(g))
    assert plan.result.status == Status.OPTIMAL
    np.testing.assert_allclose(plan.p_group_kw, [[8.0, 4.0], [-6.0, -3.0]], atol=1e-3)
    assert plan.life_used[0] == pytest.approx(plan.life_used[1], rel=1e-5)
    assert plan.variance < 1e-16
    np.testing.assert_allclose(plan.efc, [14.0 / 200.0, 7.0 / 200.0], rtol=1e-5)


def test_unserved_is_reported_not_dropped():
    g = groups(p_kw=20.0)
    plan = solve_dispatch(g, [50.0, -45.0, 10.0], state(g))
    np.testing.assert_allclose(plan.unserved_kw, [10.0, -5.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(plan.p_group_kw.sum(axis=1) + plan.unserved_kw, [50.0, -45.0, 10.0], atol=1e-6)
    assert plan.unserved_kwh == pytest.approx(15.0, abs=1e-6)


def test_plan_obeys_eq_11_and_reports_no_simultaneity():
    g, st = case_study()
    req = day_request_kw()
    plan = solve_dispatch(g, req, st)
    assert plan.result.status == Status.OPTIMAL
    p, tol = plan.p_group_kw, 1e-6
    assert np.all(np.abs(p) <= g.p_kw + tol)                                           # 11a
    u = g.soh * g.e_kwh
    assert np.all(plan.e_kwh >= g.soc_min * u - tol) and np.all(plan.e_kwh <= g.soc_max * u + tol)  # 11b
    assert np.all(np.abs(p.sum(axis=1)) <= np.abs(req) + tol)                           # 11c
    assert np.all(p * req[:, None] >= -tol)
    assert plan.max_simultaneous_kw <= tol
    assert plan.unserved_kwh == pytest.approx(0.0, abs=1e-6)
    # the request fits the fleet: Eq. 10 reaches (numerically) zero variance
    assert plan.variance <= 1e-6 * np.mean(plan.life_used) ** 2
    assert list(plan.res_groups().columns) == ["efc", "life_used", "throughput_kwh"]


def test_nine_groups_96_steps_solve_to_optimality():
    # the speed target (build + solve <= 2 s) is measured in benchmarks/dispatch_optimal_speed.py
    g, st = case_study()
    plan = solve_dispatch(g, day_request_kw(), st)
    assert plan.result.status == Status.OPTIMAL
    assert plan.p_group_kw.shape == (96, 9)


def test_aggregating_identical_groups_is_exact():
    g, st = case_study()
    req = day_request_kw()[36:60]
    agg = solve_dispatch(g, req, st)
    full = solve_dispatch(g, req, st, OptimalOptions(aggregate=False))
    assert agg.result.status == full.result.status == Status.OPTIMAL
    np.testing.assert_allclose(agg.p_group_kw, full.p_group_kw, atol=1e-3)
    np.testing.assert_allclose(agg.p_group_kw[:, :4], agg.p_group_kw[:, [0]].repeat(4, axis=1))
    assert agg.variance == pytest.approx(full.variance, rel=1e-3, abs=1e-14)
    # group 0 starts almost full (SOC 0.89 of 0.9) while charging: no longer interchangeable
    e = st.e_stored_kwh.copy()
    e[0] = 0.89 * 14.0
    p = solve_dispatch(g, req, GroupState(e, st.dt_h)).p_group_kw
    assert p[:, 0].sum() * 0.95 * st.dt_h <= 0.14 + 1e-6
    np.testing.assert_allclose(p[:, 1], p[:, 3], atol=1e-3)
    assert p[:, 1].sum() > 10 * p[:, 0].sum()


def test_mpc_first_step_equals_plan_when_horizon_covers_request():
    g, st = case_study()
    req = day_request_kw(96)[40:52]
    opts = OptimalOptions(horizon=12)
    first = mpc_allocate(g, req, st, opts)
    plan = plan_optimal(g, req, st, opts)
    assert first.shape == (9,)
    np.testing.assert_allclose(first, plan[0], atol=1e-6)


def test_mpc_step_is_feasible_for_the_current_state():
    g, st = case_study()
    req = day_request_kw()
    e = st.e_stored_kwh.copy()
    for k in range(0, 96, 7):
        s = GroupState(e_stored_kwh=e, dt_h=st.dt_h)
        p = mpc_allocate(g, req[k:], s)
        lo, hi = group_power_bounds(g, s)
        assert np.all(p >= lo - 1e-6) and np.all(p <= hi + 1e-6)
        assert abs(p.sum()) <= abs(req[k]) + 1e-6 and p.sum() * req[k] >= -1e-6
        e = e + np.where(p >= 0, g.eta_charge * p, p / g.eta_discharge) * st.dt_h


def test_mpc_history_balances_cumulative_wear():
    # group 0 already consumed more life: with the history the MPC steers this window's throughput
    # to group 1; without it the window is split evenly
    g = groups()
    st = state(g)
    p_myopic = mpc_allocate(g, [10.0, 10.0], st)
    p_hist = mpc_allocate(g, [10.0, 10.0], st, life_used0=np.array([4.0 / 200.0 / 2493.27, 0.0]))
    np.testing.assert_allclose(p_myopic, [5.0, 5.0], atol=1e-6)
    np.testing.assert_allclose(p_hist, [4.0, 6.0], atol=1e-4)   # thr (8, 12): 8 + 4 = 12


def test_mpc_allocates_every_step_of_a_day_within_ratings():
    # the speed (per-step solve time) is measured in benchmarks/dispatch_optimal_speed.py
    g, st = case_study()
    req = np.concatenate([day_request_kw(), day_request_kw()[:8]])
    for k in range(0, 96, 12):
        p = np.asarray(mpc_allocate(g, req[k:], st))
        assert p.shape == (9,) and np.all(np.abs(p) <= g.p_kw + 1e-6)


def test_throughput_objective_option():
    g = groups(soh=(1.0, 0.8), p_kw=20.0)
    opts = OptimalOptions(model=DispatchModelOptions(objective="throughput"))
    p = mpc_allocate(g, [30.0], state(g), opts)
    # life per kWh 1/(2 N U): the SOH 1.0 group is cheaper and takes its full 20 kW
    np.testing.assert_allclose(p, [20.0, 10.0], atol=1e-5)


def test_solver_failure_raises(monkeypatch):
    import slopt.dispatch.optimal as optimal
    from slopt.solve import SolveResult
    monkeypatch.setattr(optimal, "solve", lambda m, o: SolveResult(Status.ERROR, None, None, None, 0.0, "error", "x"))
    g = groups()
    with pytest.raises(SolverError, match="HiGHS returned error"):
        plan_optimal(g, [10.0, -6.0], state(g))


def test_iteration_limit_is_passed_unless_user_sets_it():
    assert OptimalOptions().solve_options().highs_options == {"qp_iteration_limit": 20_000}
    own = OptimalOptions(solver=SolveOptions(highs_options={"qp_iteration_limit": 5}))
    assert own.solve_options().highs_options == {"qp_iteration_limit": 5}
    assert OptimalOptions(qp_iteration_limit=None).solve_options().highs_options == {}


def test_input_validation():
    g = groups()
    with pytest.raises(ValueError, match="horizon"):
        OptimalOptions(horizon=0)
    with pytest.raises(ValueError, match="non-empty"):
        mpc_allocate(g, [], state(g))
    batched = BatteryGroups(**{k: np.ones((2, 3)) for k in BatteryGroups.__dataclass_fields__})
    with pytest.raises(ValueError, match=r"shape \(G,\)"):
        plan_optimal(batched, [1.0], GroupState(np.ones((2, 3)), 1.0))


def test_plan_is_a_dispatch_plan():
    g = groups()
    plan = solve_dispatch(g, [10.0], state(g), OptimalOptions(dt_h=0.5))
    assert isinstance(plan, DispatchPlan)
    assert plan.dt_h == 0.5
    np.testing.assert_allclose(plan.e_kwh, [[52.5, 52.5]], atol=1e-6)  # 50 kWh + 5 kW * 0.5 h


def test_round_off_warnings_are_filtered_but_real_violations_are_not():
    import logging

    from slopt.dispatch.optimal import _RoundOffFilter
    f = _RoundOffFilter()
    rec = lambda msg: logging.LogRecord("pyomo.core", logging.WARNING, "", 0, msg, (), None)  # noqa: E731
    assert not f.filter(rec("Setting Var 'pdis[2,5]' to a numeric value `-1.3e-15` outside the bounds (0.0, 6.0)."))
    assert f.filter(rec("Setting Var 'pdis[2,5]' to a numeric value `-0.5` outside the bounds (0.0, 6.0)."))
    assert f.filter(rec("Setting Var 'x' to a numeric value `7.5` outside the bounds (None, 6.0)."))
    assert f.filter(rec("something else"))


def test_options_may_be_a_mapping():
    g = groups()
    p = mpc_allocate(g, [10.0, 10.0, 10.0], state(g), {"horizon": 2, "dt_h": 0.5})
    np.testing.assert_allclose(p, [5.0, 5.0], atol=1e-6)
    q = mpc_allocate(g, [10.0], state(g), {"model": {"objective": "throughput"}, "solver": {"seed": 3}})
    assert q.sum() == pytest.approx(10.0, abs=1e-6)
    with pytest.raises(ValueError, match="mapping of its fields"):
        plan_optimal(g, [1.0], state(g), {"no_such_field": 1})
