"""Day simulation of dispatch strategies and the Table 3/4 metrics of Yuan et al. (slopt.dispatch.simulate)."""

from pathlib import Path

import numpy as np
import pytest

import slopt
from slopt.battery.aging import Woehler, equivalent_full_cycles, remaining_cycles, soh_after
from slopt.dispatch.base import BatteryGroups
from slopt.dispatch.simulate import (FeederContext, consistency_index, consistency_matrix,
                                     feeder_context_from_instance, groups_from_instance, simulate_dispatch,
                                     table3, throughput_table)
from slopt.dispatch.strategies import Strategy, lookahead_rule, plan_rule
from slopt.errors import InstanceError, SolverError

ROOT = Path(__file__).resolve().parents[2]
NODE30 = ROOT / "instances" / "node30-groups.toml"


def groups(e, p, soh, eta_c=1.0, eta_d=1.0, soc_min=0.0, soc_max=1.0):
    n = len(e)
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
    return BatteryGroups(full(e), full(p), full(soh), full(eta_c), full(eta_d), full(soc_min), full(soc_max))


@pytest.fixture(scope="module")
def node30():
    inst = slopt.load_instance(NODE30)
    g, info = groups_from_instance(inst)
    return inst, g, info


def run(node30, strategy="priority", scenario="base", **kw):
    inst, g, info = node30
    return simulate_dispatch(g, inst.dispatch.requests()[scenario], strategy, dt_h=info["dt_h"], soc0=info["soc0"],
                             names=info["names"], technology=info["technology"], scenario=scenario, **kw)


# ----------------------------------------------------------------------------- bookkeeping
def test_public_entry_point_and_tables(node30):
    assert slopt.simulate_dispatch is simulate_dispatch
    r = run(node30)
    n_t, n_g = 96, 9
    assert r.p_group_kw.shape == (n_t, n_g) and r.soc_pu.shape == (n_t + 1, n_g)
    assert len(r.steps) == n_t and len(r.power) == n_t * n_g and len(r.groups) == n_g
    assert list(r.soc.columns) == [f"G{i}" for i in range(1, 10)] and r.soc.index[-1] == pytest.approx(24.0)
    assert set(r.power.columns) >= {"step", "time_h", "group", "p_kw", "soc_end_pu"}
    assert {"soh_start", "soh_end", "efc", "e_charged_kwh", "e_discharged_kwh", "soc_min_pu", "soc_max_pu",
            "active"} <= set(r.groups.columns)
    for k in ("soh_degradation_pct_per_day", "deviation_mae_kw", "deviation_rms_kw", "compute_s",
              "voltage_rmse_pu", "unserved_charge_kwh", "unserved_discharge_kwh", "system_efficiency_pct",
              "active_groups", "life_variance_eq10"):
        assert k in r.metrics
    assert r.metrics_frame().shape[0] == 1
    np.testing.assert_allclose(r.power["p_kw"].to_numpy().reshape(n_t, n_g), r.p_group_kw)


@pytest.mark.parametrize("strategy", ["priority", "proportional", "soh"])
def test_trajectory_honours_eq11_and_energy_balance(node30, strategy):
    inst, g, info = node30
    r = run(node30, strategy)
    req = inst.dispatch.request_kw
    p = r.p_group_kw
    assert np.all(np.abs(p) <= g.p_kw + 1e-9)                                  # 11a
    assert np.all(r.soc_pu >= g.soc_min - 1e-9) and np.all(r.soc_pu <= g.soc_max + 1e-9)   # 11b
    assert np.all(np.abs(p.sum(axis=1)) <= np.abs(req) + 1e-9)                 # 11c
    assert np.all(p * np.sign(req)[:, None] >= -1e-12)
    usable = g.soh * g.e_kwh
    de = (np.where(p > 0, g.eta_charge * p, p / g.eta_discharge) * info["dt_h"]).sum(axis=0)
    np.testing.assert_allclose((r.soc_pu[-1] - r.soc_pu[0]) * usable, de, atol=1e-9)
    assert r.metrics["repair_kw_max"] < 1e-9                                    # nothing to repair


def test_aging_follows_rainflow_and_eq7(node30):
    r = run(node30)
    efc = equivalent_full_cycles(r.soc_pu.T, Woehler.LFP)
    np.testing.assert_allclose(r.groups["efc"], efc)
    np.testing.assert_allclose(r.groups["soh_end"], soh_after(r.groups["soh_start"].to_numpy(), efc))
    rate = 100 * (r.groups["soh_start"] - r.groups["soh_end"]) / 1.0
    np.testing.assert_allclose(r.groups["degradation_pct_per_day"], rate)
    assert r.metrics["soh_degradation_pct_per_day"] == pytest.approx(rate.mean())
    x = efc / remaining_cycles(r.groups["soh_start"].to_numpy())
    assert r.metrics["life_variance_eq10"] == pytest.approx(np.var(x, ddof=1))
    k2 = run(node30, woehler=Woehler(5000.0, 2.0))                              # deeper penalty, fewer EFC
    assert np.all(k2.groups["efc"] <= r.groups["efc"] + 1e-12)


def test_unserved_energy_by_hand():
    # two 4 kW groups with plenty of energy: the request exceeds the 8 kW rating
    g = groups([100, 100], [4, 4], [1.0, 1.0])
    req = np.array([-10.0, -10.0, 12.0, 3.0])
    for strategy in ("priority", "proportional", "soh"):
        r = simulate_dispatch(g, req, strategy, dt_h=0.5)
        delivered = r.p_group_kw.sum(axis=1)
        np.testing.assert_allclose(delivered, [-8.0, -8.0, 8.0, 3.0])
        assert r.metrics["unserved_discharge_kwh"] == pytest.approx((2 + 2) * 0.5)
        assert r.metrics["unserved_charge_kwh"] == pytest.approx(4 * 0.5)
        np.testing.assert_allclose(r.steps["unserved_kwh"], np.abs(req - delivered) * 0.5)
        assert r.metrics["deviation_mae_kw"] == pytest.approx(np.mean([2, 2, 4, 0]))
        assert r.metrics["deviation_rms_kw"] == pytest.approx(np.sqrt(np.mean([4, 4, 16, 0])))


def test_unserved_when_soc_window_binds():
    g = groups([10.0], [100.0], [1.0], soc_min=0.2, soc_max=0.8)
    r = simulate_dispatch(g, [-4.0, -4.0, 20.0], "priority", dt_h=1.0, soc0=0.5)
    np.testing.assert_allclose(r.p_group_kw[:, 0], [-3.0, 0.0, 6.0])
    assert r.metrics["unserved_discharge_kwh"] == pytest.approx(1 + 4)
    assert r.metrics["unserved_charge_kwh"] == pytest.approx(14)


def test_priority_intent_over_a_day(node30):
    """Healthier packs take the deeper cycles: new groups do more EFC than the weak group 9."""
    for scenario in ("base", "low"):
        r = run(node30, "priority", scenario)
        efc = r.groups.set_index("group")["efc"]
        assert efc[["G1", "G2", "G3", "G4"]].min() > efc["G9"], scenario
    low = run(node30, "priority", "low").groups.set_index("group")
    assert low.loc["G9", "soc_range_pu"] < low.loc["G1", "soc_range_pu"]      # weak group cycles shallow
    prop = run(node30, "proportional", "low")
    assert run(node30, "priority", "low").metrics["soh_degradation_pct_per_day"] < \
        prop.metrics["soh_degradation_pct_per_day"]


def test_system_efficiency_definition():
    # one group, eta 0.9 / 0.8: the metric is the round-trip efficiency whatever the SOC change
    g = groups([100.0], [50.0], [1.0], eta_c=0.9, eta_d=0.8)
    for req in ([10.0, -5.0], [10.0, -8.0, 10.0], [-10.0, 5.0]):
        r = simulate_dispatch(g, req, "priority", dt_h=1.0, soc0=0.5)
        assert r.metrics["system_efficiency_pct"] == pytest.approx(72.0)
    r = simulate_dispatch(g, [0.0, 0.0], "priority", dt_h=1.0)
    assert np.isnan(r.metrics["system_efficiency_pct"]) and r.metrics["n_active_groups"] == 0


def test_active_groups_threshold():
    g = groups([100.0, 100.0, 100.0], [100.0, 5.0, 0.0], [1.0, 0.9, 0.8])
    # group 1 rated 100 kW; groups share only when group 1 is exhausted -> groups 2, 3 idle
    r = simulate_dispatch(g, [-10.0, 10.0], "priority", dt_h=1.0)
    assert r.metrics["active_groups"] == "G1" and r.metrics["n_active_groups"] == 1
    r = simulate_dispatch(g, [-10.0, 10.0], "proportional", dt_h=1.0)      # 100 : 5 : 0 split, G2 4.8 %
    assert r.metrics["active_groups"] == "G1,G2"


def test_voltage_rmse(node30):
    inst, g, info = node30
    ctx = feeder_context_from_instance(inst)
    assert ctx.bus == 30
    low = run(node30, "priority", "low", feeder_context=ctx)                    # everything served
    assert low.metrics["voltage_rmse_pu"] == pytest.approx(0.0, abs=1e-12)
    high = run(node30, "priority", "high", feeder_context=ctx)
    assert high.metrics["voltage_rmse_pu"] > 1e-4
    v = high.voltages
    assert len(v) == 96
    by_hand = np.sqrt(np.mean((v["vm_delivered_pu"] - v["vm_request_pu"]) ** 2))
    assert high.metrics["voltage_rmse_pu"] == pytest.approx(by_hand)
    # reference: AC sweep of the day with the request at bus 30
    p, q = inst.net_load_kw()
    j = inst.feeder.index_of(30)
    p = p.copy()
    p[:, j] += inst.dispatch.scenarios["high"]
    vm = slopt.powerflow(inst.feeder, p, q).vm_pu[:, j]
    np.testing.assert_allclose(v["vm_request_pu"], vm, atol=1e-10)
    # unserved discharge at the evening peak means a lower voltage than requested
    assert (v["vm_delivered_pu"] - v["vm_request_pu"]).min() < 0
    assert np.isnan(run(node30).metrics["voltage_rmse_pu"])                     # no context, no RMSE


def test_voltage_rmse_at_finer_resolution(node30):
    inst, g, info = node30
    req = np.repeat(inst.dispatch.scenarios["high"], 3)                       # 5-min request, 15-min profiles
    r = simulate_dispatch(g, req, "priority", dt_h=5 / 60, soc0=info["soc0"], feeder_context=FeederContext(inst, 30))
    assert len(r.voltages) == 288 and r.metrics["voltage_rmse_pu"] > 0
    with pytest.raises(InstanceError, match="divide"):
        simulate_dispatch(g, req[:100], "priority", dt_h=5 / 60, soc0=info["soc0"],
                          feeder_context=FeederContext(inst, 30))


# ----------------------------------------------------------------------------- across scenarios
def test_consistency_index(node30):
    res = {sc: run(node30, "soh", sc) for sc in ("low", "medium", "high")}
    thr = throughput_table(res)
    assert thr.shape == (3, 9) and list(thr.index) == ["low", "medium", "high"]
    c = consistency_matrix(res)
    np.testing.assert_allclose(np.diag(c), 1.0)
    ci = consistency_index(res)
    for k in res:
        others = [c.loc[k, o] for o in res if o != k]
        assert ci[k] == pytest.approx(np.mean(others))
    # SOHD shares energy in proportion to SOH x E whenever no group saturates: near 1
    assert ci.min() > 0.95
    # identical runs correlate perfectly; a single run has no index
    same = {"a": res["low"], "b": res["low"]}
    assert consistency_index(same).tolist() == pytest.approx([1.0, 1.0])
    assert np.isnan(consistency_index({"a": res["low"]})["a"])


def test_consistency_index_pearson_by_hand():
    g = groups([100.0, 100.0, 100.0], [30.0, 20.0, 10.0], [1.0, 1.0, 1.0])
    a = simulate_dispatch(g, [-6.0], "proportional", dt_h=1.0, scenario="a")    # 3, 2, 1 kWh
    b = simulate_dispatch(g, [-45.0], "priority", dt_h=1.0, scenario="b")       # 30, 15, 0 kWh
    ci = consistency_index([a, b])
    assert ci["a"] == pytest.approx(np.corrcoef([3, 2, 1], [30, 15, 0])[0, 1])


def test_table3(node30):
    res = {sc: run(node30, "priority", sc) for sc in ("low", "medium")}
    t = table3(res)
    assert list(t.index) == ["low", "medium"]
    assert {"peak_request_kw", "active_groups", "soc_range[G1]", "soc_range[G9]", "system_efficiency_pct",
            "consistency_index"} <= set(t.columns)
    assert t.loc["low", "peak_request_kw"] == pytest.approx(38.945)


# ----------------------------------------------------------------------------- plan / lookahead hooks
def test_plan_and_lookahead_kinds_are_stepped_and_enforced():
    g = groups([10.0, 10.0], [4.0, 4.0], [1.0, 0.8])
    req = np.array([-6.0, -3.0, 5.0])
    seen = []

    def plan(groups_, p_request_kw, state0, options):
        seen.append(("plan", p_request_kw.copy(), state0.e_stored_kwh.copy(), options))
        return np.array([[-4.0, -2.0], [-9.0, 0.0], [4.0, 1.0]])             # step 2 breaks 11a/11c

    def look(groups_, future, state, options):
        seen.append(("look", future.copy()))
        return np.array([future[0] / 2, future[0] / 2])

    r = simulate_dispatch(g, req, Strategy("p", "P", "plan", plan_rule(plan)), dt_h=1.0, options={"x": 1})
    assert seen[0][0] == "plan" and seen[0][3] == {"x": 1}
    np.testing.assert_allclose(seen[0][2], [5.0, 4.0])
    np.testing.assert_allclose(r.p_group_kw[1], [-1.0, 0.0])                  # SOC floor of group 1 after step 1
    assert r.metrics["repair_kw_max"] == pytest.approx(8.0)
    r = simulate_dispatch(g, req, Strategy("l", "L", "lookahead", lookahead_rule(look)), dt_h=1.0)
    assert [len(s[1]) for s in seen[1:]] == [3, 2, 1]
    np.testing.assert_allclose(r.p_group_kw[0], [-3.0, -3.0])


def test_bad_strategy_output_is_a_solver_error():
    g = groups([10.0, 10.0], [4.0, 4.0], [1.0, 0.8])
    bad = Strategy("bad", "bad", "plan", plan_rule(lambda *a: np.zeros((2, 2))))
    with pytest.raises(SolverError, match="shape"):
        simulate_dispatch(g, [1.0, 2.0, 3.0], bad, dt_h=1.0)


@pytest.mark.parametrize("kwargs, needle", [
    (dict(p_request_kw=[1.0, np.nan]), "p_request_kw"),
    (dict(p_request_kw=[]), "p_request_kw"),
    (dict(strategy="greedy"), "strategy = 'greedy'"),
    (dict(soc0=1.5), "soc0[0] = 1.5"),
    (dict(dt_h=0.0), "dt_h = 0.0"),
])
def test_bad_inputs_raise_instance_error(kwargs, needle):
    g = groups([10.0, 10.0], [4.0, 4.0], [1.0, 0.8], soc_min=0.1, soc_max=0.9)
    args = dict(p_request_kw=[1.0, -1.0], strategy="priority", dt_h=1.0)
    args.update(kwargs)
    with pytest.raises(InstanceError) as info:
        simulate_dispatch(g, args.pop("p_request_kw"), args.pop("strategy"), **args)
    assert needle in str(info.value)


def test_bad_groups_raise_instance_error():
    with pytest.raises(InstanceError, match="groups.soh"):
        simulate_dispatch(groups([10.0], [4.0], [1.2]), [1.0], dt_h=1.0)
    with pytest.raises(InstanceError, match="groups"):
        simulate_dispatch(BatteryGroups(*(np.ones((2, 3)) for _ in range(7))), [1.0], dt_h=1.0)


def test_inputs_not_mutated(node30):
    inst, g, info = node30
    req = inst.dispatch.request_kw.copy()
    e = g.e_kwh.copy()
    run(node30)
    np.testing.assert_array_equal(inst.dispatch.request_kw, req)
    np.testing.assert_array_equal(g.e_kwh, e)


def test_sweep_instance_equals_the_runs_one_by_one():
    from pathlib import Path

    import slopt
    from slopt.dispatch.simulate import groups_from_instance
    from slopt.dispatch.sweep import sweep_instance
    inst = slopt.load_instance(Path(__file__).resolve().parents[2] / "instances" / "node30-groups.toml")
    sw = sweep_instance(inst, ["priority", "soh"], voltage=False)
    assert len(sw.runs) == 2 * len(inst.dispatch.requests()) and set(sw.table3) == {"priority", "soh"}
    groups, info = groups_from_instance(inst)
    req = inst.dispatch.requests()["base"]
    one = simulate_dispatch(groups, req, "soh", dt_h=info["dt_h"], soc0=info["soc0"])
    run = next(r for r in sw.runs if r.scenario == "base" and r.strategy == "soh")
    np.testing.assert_allclose(run.p_group_kw, one.p_group_kw)
    assert all(np.isfinite(r.metrics["consistency_index"]) for r in sw.runs)
