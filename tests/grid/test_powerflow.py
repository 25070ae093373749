"""Batched backward/forward sweep against pandapower's Newton-Raphson and published values."""

from __future__ import annotations

import numpy as np
import pytest

from slopt.grid.feeder import BUNDLED_FEEDERS, Feeder, load_feeder
from slopt.grid.powerflow import ENGINES, powerflow

pp = pytest.importorskip("pandapower", reason="pandapower is the AC reference (pip install slopt[test])")

TOL_V = 1e-6  # p.u., the accuracy target against pandapower (docs/powerflow.md)


def to_pandapower(f: Feeder):
    """The feeder as a pandapower net: 1 km lines carrying the branch ohms, PQ loads."""
    net = pp.create_empty_network(sn_mva=f.base_mva)
    buses = [pp.create_bus(net, vn_kv=f.base_kv, name=int(b)) for b in f.bus_ids]
    pp.create_ext_grid(net, buses[0], vm_pu=f.v_root_pu, va_degree=0.0)
    z_base = f.base_kv**2 / f.base_mva
    for i in range(1, f.n_bus):
        pp.create_line_from_parameters(
            net, buses[f.parent[i]], buses[i], length_km=1.0,
            r_ohm_per_km=f.r_pu[i] * z_base, x_ohm_per_km=f.x_pu[i] * z_base,
            c_nf_per_km=0.0, max_i_ka=1e3,
        )
    pp.create_loads(net, buses, p_mw=np.zeros(f.n_bus), q_mvar=np.zeros(f.n_bus))
    g = getattr(f, "g_shunt_pu", None)
    b = getattr(f, "b_shunt_pu", None)
    if g is not None and (np.any(g) or np.any(b)):     # cable charging, transformer magnetising (SimBench)
        for i in np.flatnonzero((np.asarray(g) != 0) | (np.asarray(b) != 0)):
            pp.create_shunt(net, buses[i], p_mw=float(g[i]) * f.base_mva, q_mvar=-float(b[i]) * f.base_mva)
    return net


def run_pandapower(net, p_kw, q_kvar, numba=False):
    net.load["p_mw"] = np.asarray(p_kw) / 1e3
    net.load["q_mvar"] = np.asarray(q_kvar) / 1e3
    # NR with a flat start; 1e-8 MVA mismatch (1e-10 stalls on case141 at round-off level);
    # numba off in tests (its first call compiles), on where pandapower is timed
    pp.runpp(net, init="flat", tolerance_mva=1e-8, max_iteration=30, numba=numba)
    return (
        net.res_bus.vm_pu.to_numpy(),
        net.res_bus.va_degree.to_numpy(),
        net.res_line.pl_mw.sum() * 1e3,
        net.res_ext_grid.p_mw.iloc[0] * 1e3,
        net.res_ext_grid.q_mvar.iloc[0] * 1e3,
    )


@pytest.fixture(scope="module")
def nets():
    return {k: to_pandapower(load_feeder(k)) for k in BUNDLED_FEEDERS}


def _pv_buses(f: Feeder, n: int = 5) -> np.ndarray:
    """n buses spread over the BFS order (deterministic)."""
    return np.linspace(f.n_bus // 4, f.n_bus - 1, n).round().astype(int)


def _scenarios(f: Feeder):
    pv = np.zeros(f.n_bus)
    pv[_pv_buses(f)] = 300.0
    return {
        "base": (f.p_load_kw, f.q_load_kvar),
        "1.5x": (1.5 * f.p_load_kw, 1.5 * f.q_load_kvar),
        "pv": (f.p_load_kw - pv, f.q_load_kvar),
    }


@pytest.mark.parametrize("key", BUNDLED_FEEDERS)
@pytest.mark.parametrize("scenario", ["base", "1.5x", "pv"])
def test_matches_pandapower(nets, key, scenario):
    f = load_feeder(key)
    p, q = _scenarios(f)[scenario]
    vm_pp, va_pp, loss_pp, p_root_pp, q_root_pp = run_pandapower(nets[key], p, q)
    for engine in ("zbus", "sweep"):
        pf = powerflow(f, p, q, engine=engine)
        assert pf.converged
        assert np.abs(pf.vm_pu - vm_pp).max() <= TOL_V
        assert np.abs(pf.va_deg - va_pp).max() <= 1e-4  # degrees
        assert pf.loss_kw == pytest.approx(loss_pp, abs=1e-3)
        assert pf.p_root_kw == pytest.approx(p_root_pp, abs=1e-3)
        assert pf.q_root_kvar == pytest.approx(q_root_pp, abs=1e-3)


def test_pv_scenario_reverses_flow_somewhere():
    """The PV case must really inject (voltage above the no-PV case at the PV buses)."""
    f = load_feeder("ieee33")
    base, _, pv = (powerflow(f, *s) for s in _scenarios(f).values())
    assert np.all(pv.vm_pu[_pv_buses(f)] > base.vm_pu[_pv_buses(f)])
    assert pv.p_root_kw < base.p_root_kw - 1400.0  # 5 x 300 kW less drawn, minus loss change


@pytest.mark.parametrize(
    "key,v_min,bus,loss_kw",
    [
        ("ieee33", 0.91309, 18, 202.68),   # Baran & Wu (1989); MATPOWER case33bw
        ("ieee69", 0.90919, 65, 224.99),   # Baran & Wu (1989), 69-bus
        ("ieee141", 0.92786, None, 632.70),  # Khodr et al. (2008) via MATPOWER case141
    ],
)
def test_published_base_case(key, v_min, bus, loss_kw):
    f = load_feeder(key)
    pf = powerflow(f, f.p_load_kw, f.q_load_kvar)
    assert pf.converged
    assert pf.vm_pu.min() == pytest.approx(v_min, abs=5e-6)
    if bus is not None:
        assert f.bus_ids[np.argmin(pf.vm_pu)] == bus
    assert pf.loss_kw == pytest.approx(loss_kw, abs=0.01)


def test_batch_shapes_equal_loop():
    f = load_feeder("ieee69")
    rng = np.random.default_rng(7)
    m = rng.uniform(0.3, 1.5, size=(3, 4, 1))  # (P, T, 1)
    p = m * f.p_load_kw
    q = m * f.q_load_kvar
    p[..., 10] -= rng.uniform(0, 500, size=(3, 4))  # some PV
    res3 = powerflow(f, p, q)
    res2 = powerflow(f, p.reshape(12, f.n_bus), q.reshape(12, f.n_bus))
    assert res3.vm_pu.shape == (3, 4, f.n_bus) and res2.vm_pu.shape == (12, f.n_bus)
    assert res3.loss_kw.shape == (3, 4) and res3.converged.shape == (3, 4) and res3.iterations.shape == (3, 4)
    for a in range(3):
        for t in range(4):
            one = powerflow(f, p[a, t], q[a, t])
            assert one.vm_pu.shape == (f.n_bus,) and np.ndim(one.loss_kw) == 0
            np.testing.assert_allclose(res3.vm_pu[a, t], one.vm_pu, atol=1e-12)
            np.testing.assert_allclose(res2.vm_pu[a * 4 + t], one.vm_pu, atol=1e-12)
            np.testing.assert_allclose(res3.va_deg[a, t], one.va_deg, atol=1e-10)
            assert res3.loss_kw[a, t] == pytest.approx(float(one.loss_kw), rel=1e-10)
            assert res3.p_root_kw[a, t] == pytest.approx(float(one.p_root_kw), rel=1e-10)
            assert res3.converged[a, t]
    # snapshots differ, so the batch is not one repeated answer
    assert np.ptp(res3.loss_kw) > 10.0


def test_broadcasting():
    f = load_feeder("ieee33")
    mult = np.array([0.5, 1.0, 1.25])[:, None]
    p = mult * f.p_load_kw  # (3, n)
    res = powerflow(f, p, f.q_load_kvar)  # q (n,) broadcast to (3, n)
    assert res.vm_pu.shape == (3, f.n_bus)
    for k in range(3):
        one = powerflow(f, p[k], f.q_load_kvar)
        np.testing.assert_allclose(res.vm_pu[k], one.vm_pu, atol=1e-12)
    # (3,1,n) x (1,2,n) -> (3,2,n)
    qq = np.stack([f.q_load_kvar, 0 * f.q_load_kvar])[None]
    res = powerflow(f, p[:, None, :], qq)
    assert res.vm_pu.shape == (3, 2, f.n_bus)
    np.testing.assert_allclose(res.vm_pu[2, 1], powerflow(f, p[2], np.zeros(f.n_bus)).vm_pu, atol=1e-12)
    # q omitted = zero reactive load
    np.testing.assert_allclose(powerflow(f, p[1]).vm_pu, powerflow(f, p[1], np.zeros(f.n_bus)).vm_pu, atol=0)


def test_inputs_not_mutated():
    f = load_feeder("ieee33")
    p = f.p_load_kw.copy() + 5.0
    q = f.q_load_kvar.copy()
    p0, q0 = p.copy(), q.copy()
    powerflow(f, p, q)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(q, q0)


def test_no_load_is_flat_and_converged():
    f = load_feeder("ieee33")
    res = powerflow(f, np.zeros((2, f.n_bus)))
    assert res.all_converged
    np.testing.assert_array_equal(res.vm_pu, 1.0)
    np.testing.assert_array_equal(res.loss_kw, 0.0)
    # one empty snapshot next to a loaded one: exact flat profile, zero losses
    res = powerflow(f, np.stack([np.zeros(f.n_bus), f.p_load_kw]), np.stack([np.zeros(f.n_bus), f.q_load_kvar]))
    assert res.all_converged and res.vm_pu[0].min() == 1.0 and res.loss_kw[0] == 0.0
    assert res.vm_pu[1].min() < 0.92


def test_max_iter_reached_is_not_converged():
    f = load_feeder("ieee33")
    res = powerflow(f, f.p_load_kw, f.q_load_kvar, max_iter=3)
    assert not res.converged and res.iterations == 3
    assert np.all(np.isfinite(res.vm_pu))  # the last iterate is reported, flagged
    with pytest.raises(ValueError):
        powerflow(f, f.p_load_kw, max_iter=0)


def test_tolerance_is_met():
    """A looser tolerance stops earlier; both agree with a very tight solve to about tol."""
    f = load_feeder("ieee141")
    tight = powerflow(f, f.p_load_kw, f.q_load_kvar, tol_pu=1e-14)
    for tol in (1e-6, 1e-10):
        res = powerflow(f, f.p_load_kw, f.q_load_kvar, tol_pu=tol)
        assert res.converged
        assert np.abs(res.vm_pu - tight.vm_pu).max() < 10 * tol
    assert powerflow(f, f.p_load_kw, f.q_load_kvar, tol_pu=1e-6).iterations < tight.iterations


def test_wrong_shape_refused():
    f = load_feeder("ieee33")
    with pytest.raises(ValueError, match="n_bus = 33"):
        powerflow(f, np.zeros(32))


def test_hopeless_load_not_converged():
    f = load_feeder("ieee33")
    res = powerflow(f, 100 * f.p_load_kw, 100 * f.q_load_kvar)
    assert not res.converged
    assert not res.all_converged
    # mixed batch: the feasible snapshot is unaffected by the hopeless one
    m = np.array([1.0, 100.0, 0.5])[:, None]
    res = powerflow(f, m * f.p_load_kw, m * f.q_load_kvar)
    assert res.converged.tolist() == [True, False, True]
    np.testing.assert_allclose(res.vm_pu[0], powerflow(f, f.p_load_kw, f.q_load_kvar).vm_pu, atol=1e-12)


@pytest.mark.parametrize("factor", [3.0, 5.0, 10.0, 30.0, 100.0, 1e4])
def test_never_nan_with_converged_true(factor):
    f = load_feeder("ieee69")
    res = powerflow(f, factor * f.p_load_kw, factor * f.q_load_kvar)
    finite = np.all(np.isfinite(res.vm_pu)) and np.isfinite(res.loss_kw)
    if res.converged:
        assert finite
        assert np.all(res.vm_pu > 0) and res.vm_pu.max() <= 1.0 + 1e-12
    assert not (res.converged and not finite)
    if factor >= 30:
        assert not res.converged


def test_energy_balance_and_kirchhoff():
    """Power balance from the returned voltages alone, with no reference to the solver."""
    f = load_feeder("ieee85")
    rng = np.random.default_rng(3)
    m = rng.uniform(0.3, 1.5, size=(6, 1))
    p = m * f.p_load_kw
    p[:, 40] -= 200.0
    q = m * f.q_load_kvar
    res = powerflow(f, p, q)
    assert res.all_converged
    kva = f.base_mva * 1e3
    v = res.vm_pu * np.exp(1j * np.radians(res.va_deg))
    z = f.r_pu[1:] + 1j * f.x_pu[1:]
    i_br = (v[:, f.parent[1:]] - v[:, 1:]) / z  # current in the branch into each bus
    loss = (np.abs(i_br) ** 2 * f.r_pu[1:]).sum(axis=1) * kva
    # net current into each non-root bus = its load current
    inj = np.zeros_like(v)
    inj[:, 1:] += i_br
    np.subtract.at(inj, (slice(None), f.parent[1:]), i_br)
    s_bus = v * np.conj(inj) * kva  # power absorbed by each bus
    np.testing.assert_allclose(s_bus[:, 1:].real, p[:, 1:], atol=1e-5)
    np.testing.assert_allclose(s_bus[:, 1:].imag, q[:, 1:], atol=1e-5)
    np.testing.assert_allclose(res.loss_kw, loss, rtol=1e-9)
    p_root = -s_bus[:, 0].real  # power leaving the root into the feeder
    np.testing.assert_allclose(res.p_root_kw, p_root, rtol=1e-9)
    np.testing.assert_allclose(res.loss_kw, res.p_root_kw - p.sum(axis=1), rtol=1e-9)


def test_root_load_counts_in_substation_power(nets):
    f = load_feeder("ieee33")
    p = f.p_load_kw.copy()
    q = f.q_load_kvar.copy()
    p[0], q[0] = 500.0, 100.0
    res = powerflow(f, p, q)
    _, _, loss_pp, p_root_pp, q_root_pp = run_pandapower(nets["ieee33"], p, q)
    assert res.p_root_kw == pytest.approx(p_root_pp, abs=1e-3)
    assert res.q_root_kvar == pytest.approx(q_root_pp, abs=1e-3)
    assert res.loss_kw == pytest.approx(loss_pp, abs=1e-3)


def test_v_root_setpoint(nets):
    f = load_feeder("ieee33")
    g = Feeder(
        name=f.name, bus_ids=f.bus_ids, parent=f.parent, r_pu=f.r_pu, x_pu=f.x_pu,
        p_load_kw=f.p_load_kw, q_load_kvar=f.q_load_kvar, base_kv=f.base_kv, base_mva=f.base_mva, v_root_pu=1.03,
    )
    net = to_pandapower(g)
    vm_pp, *_ = run_pandapower(net, g.p_load_kw, g.q_load_kvar)
    res = powerflow(g, g.p_load_kw, g.q_load_kvar)
    assert res.vm_pu[0] == pytest.approx(1.03)
    assert np.abs(res.vm_pu - vm_pp).max() <= TOL_V


# ----------------------------------------------------------------------------- engines, shunts, threads
def _shunt_feeder(y, z=0.02 + 0.04j, loads=(0.0, 0.0)):
    """root 1 -- 2 with a shunt y (p.u.) at bus 2, base 1 MVA."""
    return Feeder.from_branches("shunt", [1, 2], list(loads), [0.0, 0.0], [1], [2], [z.real], [z.imag], 10.0, 1.0,
                                g_shunt_pu=[0.0, y.real], b_shunt_pu=[0.0, y.imag])


@pytest.mark.parametrize("engine", ["zbus", "sweep"])
def test_shunt_no_load_closed_form(engine):
    """No load: V2 = V0 / (1 + z y) (a voltage divider); the capacitor raises the voltage."""
    z, y = 0.02 + 0.04j, 0.3j  # strongly capacitive
    res = powerflow(_shunt_feeder(y, z), np.zeros(2), engine=engine)
    v2 = 1.0 / (1.0 + z * y)
    assert res.converged and res.vm_pu[1] == pytest.approx(abs(v2), abs=1e-12) and res.vm_pu[1] > 1.0
    assert res.va_deg[1] == pytest.approx(np.degrees(np.angle(v2)), abs=1e-9)
    i = y * v2  # series current; losses |i|^2 r, the substation supplies V0 conj(i)
    assert res.loss_kw == pytest.approx(abs(i) ** 2 * z.real * 1e3, rel=1e-9)
    assert res.q_root_kvar == pytest.approx(np.conj(i).imag * 1e3, rel=1e-9)


@pytest.mark.parametrize("engine", ["zbus", "sweep"])
def test_shunt_with_load_kirchhoff(engine):
    """With a load, the bus balance holds from the returned voltages alone."""
    z, y = 0.02 + 0.04j, 0.05 - 0.1j  # conductance and an inductive (magnetising-like) part
    res = powerflow(_shunt_feeder(y, z), np.array([[0.0, 200.0], [0.0, -150.0]]), np.array([[0.0, 50.0], [0, 0]]),
                    engine=engine)
    v = res.vm_pu * np.exp(1j * np.radians(res.va_deg))
    i_branch = (v[:, 0] - v[:, 1]) / z
    s_drawn = v[:, 1] * np.conj(i_branch) * 1e3  # load + shunt at bus 2
    s_shunt = np.conj(y) * np.abs(v[:, 1]) ** 2 * 1e3
    np.testing.assert_allclose(s_drawn - s_shunt, [200 + 50j, -150], atol=1e-6)
    np.testing.assert_allclose(res.p_root_kw, (v[:, 0] * np.conj(i_branch)).real * 1e3, atol=1e-6)


def test_engines_agree_and_threads_do_not_matter():
    f = load_feeder("ieee85")
    rng = np.random.default_rng(11)
    m = rng.uniform(0.2, 1.6, size=(5000, 1))
    p, q = m * f.p_load_kw, m * f.q_load_kvar
    p[::7] *= 60.0  # hopeless snapshots in the mix
    ref = powerflow(f, p, q, engine="zbus", threads=1)
    assert 0 < ref.converged.sum() < len(m)
    for engine in ("zbus", "sweep"):
        for threads in (1, 3):
            res = powerflow(f, p, q, engine=engine, threads=threads)
            np.testing.assert_array_equal(res.converged, ref.converged)
            ok = ref.converged
            np.testing.assert_allclose(res.vm_pu[ok], ref.vm_pu[ok], atol=1e-12)
            np.testing.assert_allclose(res.loss_kw[ok], ref.loss_kw[ok], rtol=1e-9)
    with pytest.raises(ValueError, match="engine"):
        powerflow(f, p[:2], q[:2], engine="newton")
    assert set(ENGINES) == {"auto", "zbus", "sweep"}


def test_auto_is_the_compiled_sweep_and_each_snapshot_stands_alone():
    """``auto`` runs the compiled sweep (same bits as asking for it), and a snapshot's answer
    does not depend on the batch around it or on the threads: the sweep solves each snapshot
    on its own, so a year split over threads equals the snapshots solved one by one."""
    f = load_feeder("ieee118")
    rng = np.random.default_rng(5)
    m = rng.uniform(0.3, 1.5, size=(1500, 1)) * rng.uniform(0.9, 1.1, size=(1500, f.n_bus))
    p, q = m * f.p_load_kw, m * f.q_load_kvar
    auto, sweep = powerflow(f, p, q), powerflow(f, p, q, engine="sweep", threads=2)
    for name in ("vm_pu", "va_deg", "loss_kw", "iterations", "converged"):
        assert np.array_equal(getattr(auto, name), getattr(sweep, name)), name
    for k in (0, 777, 1499):
        one = powerflow(f, p[k], q[k])
        assert np.array_equal(one.vm_pu, auto.vm_pu[k]) and one.loss_kw == auto.loss_kw[k]
    dense = powerflow(f, p, q, engine="zbus")  # the independent dense implementation
    np.testing.assert_allclose(auto.vm_pu, dense.vm_pu, atol=1e-10)


def _random_feeder(seed: int) -> Feeder:
    """A seeded random radial feeder: 2-60 buses numbered in random order, branches listed in
    random order and direction-agnostic chains and laterals, loads and PV, and shunts (line
    charging, a magnetising branch) on some buses."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 61))
    parent = [max(0, k - int(rng.geometric(0.6))) if rng.random() < 0.7 else int(rng.integers(0, k))
              for k in range(1, n)]
    label = rng.permutation(np.arange(100, 100 + n))
    order = rng.permutation(n - 1)
    p = np.r_[0.0, rng.uniform(-40.0, 120.0, n - 1)]  # some buses export (PV)
    q = np.r_[0.0, rng.uniform(-10.0, 40.0, n - 1)]
    z = 12.0 / n  # the far end sits near 0.9 p.u. at the highest load level
    r, x = rng.uniform(0.002, 0.01, n - 1) * z, rng.uniform(0.002, 0.01, n - 1) * z
    g = np.where(rng.random(n) < 0.2, rng.uniform(0, 2e-3, n), 0.0)
    b = np.where(rng.random(n) < 0.3, rng.uniform(-2e-3, 5e-3, n), 0.0)
    idx = np.argsort(label)  # bus list sorted by number, not by tree position
    return Feeder.from_branches(f"random{seed}", label[idx], p[idx], q[idx], label[np.array(parent)][order],
                                label[1:][order], r[order], x[order], 11.0, 1.0, root=int(label[0]),
                                g_shunt_pu=g[idx], b_shunt_pu=b[idx])


@pytest.mark.parametrize("seed", range(12))
def test_random_feeders_match_pandapower(seed):
    """Feeders the engines were never tuned on: random trees in random bus and branch order,
    with exports and shunts. Both engines agree with pandapower's Newton-Raphson (an
    independent solver) within 1e-6 p.u. at three load levels, and with each other."""
    f = _random_feeder(seed)
    net = to_pandapower(f)
    mult = np.array([0.3, 1.0, 1.8])[:, None]
    p, q = mult * f.p_load_kw, mult * f.q_load_kvar
    sweep, dense = powerflow(f, p, q), powerflow(f, p, q, engine="zbus")
    assert sweep.all_converged
    np.testing.assert_allclose(sweep.vm_pu, dense.vm_pu, atol=1e-10)
    for k in range(len(mult)):
        vm, va, _, p_root, q_root = run_pandapower(net, p[k], q[k])
        assert np.abs(sweep.vm_pu[k] - vm).max() < TOL_V
        assert np.abs(sweep.va_deg[k] - va).max() < 1e-4
        assert sweep.p_root_kw[k] == pytest.approx(p_root, abs=1e-3)
        assert sweep.q_root_kvar[k] == pytest.approx(q_root, abs=1e-3)
