"""Feeder.from_pandapower against pandapower's own Newton-Raphson on real and hand-built nets."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

pp = pytest.importorskip("pandapower", reason="pandapower is the AC reference (pip install slopt[test])")

from slopt.errors import InstanceError  # noqa: E402
from slopt.grid.feeder import Feeder  # noqa: E402
from slopt.grid.pandapower_net import convert  # noqa: E402
from slopt.grid.powerflow import powerflow  # noqa: E402

TOL_V = 1e-6  # p.u., the target


def run_pp(net, trafo_model="t"):
    pp.runpp(net, trafo_model=trafo_model, tolerance_mva=1e-9, max_iteration=30, numba=False)


def compare(net, conv, p=None, q=None, trafo_model="t", engine="auto"):
    """max |dV| over all supplied buses, and the substation power difference (kW, kvar)."""
    f = conv.feeder
    if p is None:
        p, q = conv.net_load_kw()
    res = powerflow(f, p, q, engine=engine)
    assert res.converged
    run_pp(net, trafo_model)
    vm = conv.vm_of(res.vm_pu)
    dv = max(abs(float(vm[b]) - net.res_bus.vm_pu.at[b]) for b in vm)
    dp = abs(float(res.p_root_kw) - 1e3 * net.res_ext_grid.p_mw.sum())
    dq = abs(float(res.q_root_kvar) - 1e3 * net.res_ext_grid.q_mvar.sum())
    return dv, dp, dq


def small_net(c_nf=0.0):
    """ext_grid at 20 kV bus 0 -> trafo -> 0.4 kV bus 1 -> line -> bus 2 -> line -> bus 3."""
    net = pp.create_empty_network(sn_mva=1.0)
    b = [pp.create_bus(net, vn_kv=v, name=f"b{i}") for i, v in enumerate([20.0, 0.4, 0.4, 0.4])]
    pp.create_ext_grid(net, b[0], vm_pu=1.02)
    pp.create_transformer_from_parameters(net, b[0], b[1], sn_mva=0.4, vn_hv_kv=20.0, vn_lv_kv=0.4,
                                          vk_percent=6.0, vkr_percent=1.2, pfe_kw=0.8, i0_percent=0.3)
    for a, c in ((1, 2), (2, 3)):
        pp.create_line_from_parameters(net, b[a], b[c], length_km=0.2, r_ohm_per_km=0.2, x_ohm_per_km=0.08,
                                       c_nf_per_km=c_nf, max_i_ka=0.3)
    pp.create_load(net, b[2], p_mw=0.05, q_mvar=0.01, profile="H0-A")
    pp.create_load(net, b[3], p_mw=0.08, q_mvar=0.02, profile="G1-B")
    pp.create_sgen(net, b[3], p_mw=0.03, profile="PV3")
    return net


# ----------------------------------------------------------------------------- real grids
@pytest.mark.parametrize("trafo_model", ["t", "pi"])
@pytest.mark.parametrize("code", ["1-LV-rural1--0-sw", "1-MV-rural--0-sw"])
def test_simbench_matches_pandapower(simbench_net, code, trafo_model):
    net = copy.deepcopy(simbench_net(code))
    conv = convert(net, trafo_model=trafo_model)
    assert conv.dropped_buses == ()
    assert set(conv.bus_of) == set(net.bus.index)  # every bus supplied
    p, q = conv.net_load_kw()
    # as the net stands, an evening (loads x1.6, no generation) and a noon (PV x1) case
    f = conv.feeder
    load_p, load_q = f.p_load_kw, f.q_load_kvar
    for scen, (pk, qk) in {"net": (p, q), "evening": (1.6 * load_p, 1.6 * load_q)}.items():
        net.load["scaling"] = 1.6 if scen == "evening" else 1.0
        net.sgen["in_service"] = scen != "evening"
        for engine in ("zbus", "sweep"):
            dv, dp, dq = compare(net, conv, pk, qk, trafo_model, engine)
            assert dv <= TOL_V, (scen, engine, dv)
            assert dp < 1e-3 and dq < 1e-3, (scen, engine, dp, dq)


def test_simbench_mv_has_two_voltage_levels_and_shunts(simbench_net):
    net = simbench_net("1-MV-rural--0-sw")
    f = Feeder.from_pandapower(net)
    # ext_grid on the 110 kV side of the two parallel HV/MV transformers
    assert f.base_kv == 110.0 and f.v_root_pu == pytest.approx(1.025)
    assert sorted(set(f.vn_kv.tolist())) == [20.0, 110.0]
    assert f.has_shunts  # cable charging and transformer magnetising
    # the two HV buses and the two MV busbars are each fused by their closed bus-bus switch
    assert f.n_bus == len(net.bus) - 2
    # the parallel transformers are one branch with half the impedance of one of them:
    # vk 12 %, vkr 0.41 % on 25 MVA, per unit on 1 MVA: z = 0.12 / 25 / 2 (pi model: exactly)
    g = Feeder.from_pandapower(net, trafo_model="pi")
    k = int(np.flatnonzero(g.parent == 0)[0])
    assert math.hypot(g.r_pu[k], g.x_pu[k]) == pytest.approx(0.12 / 25 / 2, rel=1e-12)
    assert g.r_pu[k] == pytest.approx(0.0041 / 25 / 2, rel=1e-12)
    # the T model's exact pi equivalent differs from it by the magnetising branch, ~1e-5
    assert math.hypot(f.r_pu[k], f.x_pu[k]) == pytest.approx(0.12 / 25 / 2, rel=1e-4)


def test_case33bw_from_pandapower_equals_bundled_feeder():
    pn = pytest.importorskip("pandapower.networks")
    from slopt.grid.feeder import load_feeder

    net = pn.case33bw()
    conv = convert(net)
    f, g = conv.feeder, load_feeder("ieee33")
    assert f.n_bus == 33 and not f.has_shunts
    assert f.p_load_kw.sum() == pytest.approx(3715.0) and f.q_load_kvar.sum() == pytest.approx(2300.0)
    dv, dp, dq = compare(net, conv)
    assert dv <= TOL_V and dp < 1e-3 and dq < 1e-3
    # same network as slopt's MATPOWER case33bw: same voltages (bus numbers are 0-based in pandapower)
    res_f = powerflow(f, *conv.net_load_kw())
    res_g = powerflow(g, g.p_load_kw, g.q_load_kvar)
    assert float(res_f.vm_pu.min()) == pytest.approx(float(res_g.vm_pu.min()), abs=1e-9)


def test_elements_keep_profile_names(simbench_net):
    net = simbench_net("1-LV-rural1--0-sw")
    f = Feeder.from_pandapower(net)
    e = f.elements
    assert len(e) == len(net.load) + len(net.sgen)
    loads = e.kind == "load"
    assert sorted(e.profile[loads].tolist()) == sorted(net.load.profile.tolist())
    assert sorted(e.profile[~loads].tolist()) == sorted(net.sgen.profile.tolist())
    assert e.p_kw[loads].sum() == pytest.approx(1e3 * net.load.p_mw.sum())
    assert e.p_kw[~loads].sum() == pytest.approx(1e3 * net.sgen.p_mw.sum())
    # each element sits at the feeder bus of its pandapower bus
    conv = convert(net)
    assert all(conv.bus_of[int(b)] == bid for b, bid in zip(net.load.bus, e.bus_id[loads]))
    # Feeder.p_load_kw = loads only; generators enter through the profiles
    assert f.p_load_kw.sum() == pytest.approx(1e3 * net.load.p_mw.sum())


# ----------------------------------------------------------------------------- hand-built nets
def test_transformer_impedance_by_hand():
    net = small_net()
    f = Feeder.from_pandapower(net, trafo_model="pi")
    k = f.index_of(1)
    # z = vk% / 100 * (sn_base / sn_trafo) = 0.06 * 1 / 0.4 = 0.15 p.u.; r = 0.012 / 0.4 = 0.03
    assert f.r_pu[k] == pytest.approx(0.03) and f.x_pu[k] == pytest.approx(math.sqrt(0.15**2 - 0.03**2))
    # magnetising: g = pfe / sn_base = 0.0008, |y| = i0% * sn_trafo / sn_base = 0.0012, half per side
    g, b = 0.0008, -math.sqrt(0.0012**2 - 0.0008**2)
    assert f.g_shunt_pu[0] == pytest.approx(g / 2) and f.b_shunt_pu[0] == pytest.approx(b / 2)
    assert f.g_shunt_pu[k] == pytest.approx(g / 2) and f.b_shunt_pu[k] == pytest.approx(b / 2)
    # line: 0.2 km * 0.2 ohm/km on z_base = 0.4^2 / 1 = 0.16 ohm -> 0.25 p.u.
    assert f.r_pu[f.index_of(2)] == pytest.approx(0.04 / 0.16)
    for model in ("t", "pi"):
        dv, dp, dq = compare(small_net(), convert(small_net(), trafo_model=model), trafo_model=model)
        assert dv <= TOL_V and dp < 1e-3 and dq < 1e-3


def test_parallel_lines_combined():
    net = small_net()
    pp.create_line_from_parameters(net, 1, 2, length_km=0.2, r_ohm_per_km=0.2, x_ohm_per_km=0.08,
                                   c_nf_per_km=0.0, max_i_ka=0.3)  # a twin of line 1-2
    net.line.loc[1, "parallel"] = 2  # line 2-3 as two parallel circuits
    conv = convert(net)
    f = conv.feeder
    # two equal circuits in parallel: half of 0.25 p.u. each
    assert f.r_pu[f.index_of(2)] == pytest.approx(0.25 / 2)
    assert f.r_pu[f.index_of(3)] == pytest.approx(0.25 / 2)
    dv, dp, dq = compare(net, conv)
    assert dv <= TOL_V and dp < 1e-3


def test_open_switch_makes_mesh_radial_and_dangling_line_charges():
    net = small_net(c_nf=300.0)
    extra = pp.create_line_from_parameters(net, 1, 3, length_km=0.5, r_ohm_per_km=0.2, x_ohm_per_km=0.08,
                                           c_nf_per_km=300.0, max_i_ka=0.3)
    with pytest.raises(InstanceError, match="meshed"):
        convert(net)
    pp.create_switch(net, 3, extra, et="l", closed=False)  # open at bus 3: the line hangs from bus 1
    conv = convert(net)
    assert conv.feeder.n_bus == 4
    dv, dp, dq = compare(net, conv)
    assert dv <= TOL_V and dp < 1e-3 and dq < 1e-3
    # the open line still charges: more capacitive than without it
    net2 = small_net(c_nf=300.0)
    q_without = float(powerflow(convert(net2).feeder, *convert(net2).net_load_kw()).q_root_kvar)
    assert float(powerflow(conv.feeder, *conv.net_load_kw()).q_root_kvar) < q_without


def test_bus_bus_switch_fuses_and_open_switch_drops():
    net = small_net()
    b4 = pp.create_bus(net, vn_kv=0.4)
    b5 = pp.create_bus(net, vn_kv=0.4)
    pp.create_switch(net, 2, b4, et="b", closed=True)
    pp.create_switch(net, 2, b5, et="b", closed=False)
    pp.create_load(net, b4, p_mw=0.01)
    pp.create_load(net, b5, p_mw=0.02)  # unsupplied: behind an open switch
    conv = convert(net)
    assert conv.bus_of[b4] == conv.bus_of[2] == 2
    assert conv.dropped_buses == (b5,)
    f = conv.feeder
    assert f.p_load_kw[f.index_of(2)] == pytest.approx(60.0)  # 50 kW + the fused 10 kW
    assert f.p_load_kw.sum() == pytest.approx(140.0)  # the dropped 20 kW is not there
    dv, dp, dq = compare(net, conv)
    assert dv <= TOL_V and dp < 1e-3


@pytest.mark.parametrize("case", ["trafo3w", "gen", "two ext_grids", "off-neutral tap", "zip load", "no ext_grid"])
def test_refusals_are_one_line_instance_errors(case):
    net = small_net()
    if case == "trafo3w":
        b = pp.create_bus(net, vn_kv=10.0)
        pp.create_transformer3w_from_parameters(
            net, 0, 1, b, vn_hv_kv=20, vn_mv_kv=0.4, vn_lv_kv=10, sn_hv_mva=1, sn_mv_mva=1, sn_lv_mva=1,
            vk_hv_percent=6, vk_mv_percent=6, vk_lv_percent=6, vkr_hv_percent=1, vkr_mv_percent=1,
            vkr_lv_percent=1, pfe_kw=0, i0_percent=0)
        match = "trafo3w.*three-winding"
    elif case == "gen":
        pp.create_gen(net, 3, p_mw=0.01, vm_pu=1.0)
        match = "gen.*voltage-controlled"
    elif case == "two ext_grids":
        pp.create_ext_grid(net, 3)
        match = "more than one"
    elif case == "off-neutral tap":
        net.trafo.loc[0, ["tap_neutral", "tap_pos", "tap_step_percent", "tap_side"]] = [0, 2, 2.5, "hv"]
        match = "tap_pos = 2"
    elif case == "zip load":
        net.load.loc[0, "const_z_p_percent" if "const_z_p_percent" in net.load else "const_z_percent"] = 30.0
        match = "voltage-dependent"
    else:
        net.ext_grid.loc[0, "in_service"] = False
        match = "ext_grid"
    with pytest.raises(InstanceError, match=match) as err:
        convert(net)
    assert "\n" not in str(err.value)
