"""Yuan et al. Algorithm 1: the closed-loop day simulation and the capacity problem."""

from pathlib import Path

import numpy as np
import pytest

import slopt
from slopt.heuristics.capacity import CapacityProblem
from slopt.heuristics.simulation import simulate_day, zones_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def inst():
    return slopt.load_instance(ROOT / "instances" / "ieee33-open.toml")


def test_no_storage_violation_equals_base_case_measured_independently(inst):
    z = np.zeros((1, 3, 2))
    sim = simulate_day(inst, z, z)
    p, q = inst.net_load_kw()
    vm = slopt.powerflow(inst.feeder, p, q).vm_pu
    worst = (np.maximum(0.93 - vm, 0) + np.maximum(vm - 1.05, 0))[:, 1:].max(axis=1)
    assert sim.violation_puh[0] == pytest.approx(worst.sum() * 0.25, rel=1e-12)
    assert sim.max_violation_pu[0] == pytest.approx(worst.max())
    assert sim.max_violation_pu[0] > 0.015          # bus 18 at 0.912 p.u. without storage
    assert sim.soc_deficit_kwh[0] == 0.0


def test_batch_equals_one_by_one_and_limits_hold(inst):
    rng = np.random.default_rng(3)
    e = rng.uniform(0, 1500, (4, 3, 2))
    p = np.minimum(rng.uniform(0, 500, (4, 3, 2)), e * np.array([1.0, 0.4]))
    batch = simulate_day(inst, e, p, record=True)
    for i in range(4):
        one = simulate_day(inst, e[i:i + 1], p[i:i + 1], record=True)
        np.testing.assert_allclose(one.violation_puh, batch.violation_puh[i:i + 1], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(one.p_group_kw[0], batch.p_group_kw[i], rtol=1e-9, atol=1e-9)
    pg, eg = batch.p_group_kw, batch.e_group_kwh
    assert np.all(np.abs(pg) <= p[:, None] + 1e-9)                          # Eq. 11a: ratings
    soh = np.array([1.0, 0.8])
    assert np.all(eg >= 0.1 * soh * e[:, None] - 1e-6)                       # Eq. 11b: SOC window
    assert np.all(eg <= 0.9 * soh * e[:, None] + 1e-6)
    # energy balance of the measured day, by hand: eta 0.95 (new) / 0.93 (retired)
    eta = np.array([0.95, 0.93])
    de = np.where(pg >= 0, eta * pg, pg / eta).sum(axis=1) * 0.25
    np.testing.assert_allclose(batch.extra["e_day_start_kwh"] + de, eg[:, -1], atol=1e-6)


def test_zones_follow_the_strongest_influence(inst):
    z = zones_of(inst)
    f = inst.feeder
    # candidates (8, 18, 30): bus 18's lateral end belongs to 18, bus 33 to 30
    assert z[f.index_of(17)] == 1 and z[f.index_of(33)] == 2 and z[f.index_of(8)] == 0


def test_mfac_storage_holds_the_band_with_ample_size(inst):
    e = np.zeros((1, 3, 2))
    p = np.zeros((1, 3, 2))
    e[0, 1, 1], p[0, 1, 1] = 1500.0, 500.0     # bus 18, retired
    e[0, 2, 1], p[0, 2, 1] = 2000.0, 600.0     # bus 30, retired
    sim = simulate_day(inst, e, p)
    assert sim.max_violation_pu[0] <= 1e-4
    assert sim.soc_deficit_kwh[0] <= 1e-6


def test_decode_repairs_c_rate_and_sites(inst):
    prob = CapacityProblem(inst)
    x = prob.encode(np.full((3, 2), 100.0), np.full((3, 2), 90.0))
    e, p = prob.decode(x[None])
    np.testing.assert_allclose(p[0, :, 0], 90.0)          # new: 1 C on 100 kWh allows 90 kW
    np.testing.assert_allclose(p[0, :, 1], 40.0)          # retired: 0.5 C on 0.8 * 100 kWh
    c = inst.candidates
    free = CapacityProblem(inst.with_(candidates=c.__class__(c.bus_ids, c.e_max_kwh, c.p_max_kw, c.e_min_kwh, 1, False)))
    x = free.encode(np.array([[10.0, 0], [300.0, 0], [50.0, 0]]), np.full((3, 2), 5.0))
    e, _ = free.decode(x[None])
    assert (e[0].sum(axis=1) > 0).tolist() == [False, True, False]


def test_fitness_is_cost_plus_penalties(inst):
    prob = CapacityProblem(inst)
    e = np.zeros((2, 3, 2))
    p = np.zeros((2, 3, 2))
    e[1, 2, 1], p[1, 2, 1] = 200.0, 80.0
    out = {}
    prob._evaluate(prob.encode(e, p), out)
    assert out["cost_usd"][0] == 0.0
    assert out["cost_usd"][1] == pytest.approx(200 * 1015 + 80 * 200)        # Table 1, retired
    sim = simulate_day(inst, e, p)
    np.testing.assert_allclose(out["F"][:, 0], out["cost_usd"] + 1e9 * sim.violation_puh + 1e4 * sim.soc_deficit_kwh)


def test_solve_sizing_heuristics_are_reproducible_and_near_the_milp(inst):
    from slopt.sizing import HeuristicOptions, SizingOptions
    opts = SizingOptions(heuristic=HeuristicOptions(pop_size=20, n_gen=15, seed=7))
    a = slopt.solve_sizing(inst, "dbo", opts)
    b = slopt.solve_sizing(inst, "dbo", opts)
    assert a.objective_usd == b.objective_usd
    pd_eq = a.sizing.equals(b.sizing)
    assert pd_eq
    assert a.status in (slopt.Status.FEASIBLE, slopt.Status.ERROR)        # a heuristic is never 'optimal'
    assert list(a.convergence["generation"]) == list(range(1, 16))
    assert a.convergence["best_f"].is_monotonic_decreasing                 # elitist: the best never worsens
    milp = slopt.solve_sizing(inst)
    if a.status == slopt.Status.FEASIBLE:
        # a band-feasible reactive plan cannot beat perfect foresight by more than the AC tolerance slack
        assert a.objective_usd >= 0.99 * milp.objective_usd
    for method in ("pso", "ga"):
        r = slopt.solve_sizing(inst, method, opts)
        assert r.method == method and r.n_evals >= 20 * 15 * 0.5


def test_voltage_collapse_is_scored_not_raised(inst):
    # at 30x the nominal load the evening sweeps do not converge (voltage collapse)
    heavy = inst.with_(load_scale=30.0)
    z = np.zeros((2, 3, 2))
    sim = simulate_day(heavy, z, z)
    assert np.isfinite(sim.violation_puh).all()
    assert (sim.extra["diverged_steps"] > 0).all()
    assert sim.max_violation_pu.min() >= 0.9          # a collapsed snapshot counts as 0 p.u.
    ok = simulate_day(inst, z, z)
    assert (ok.extra["diverged_steps"] == 0).all()
