"""Feeder: BFS ordering, lookup, and refusal of networks that are not radial feeders."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from slopt.errors import InstanceError
from slopt.grid.feeder import BUNDLED_FEEDERS, Feeder, load_feeder

ROOT = Path(__file__).resolve().parents[2]


def _tiny(**over):
    """Root 10 with children 20 and 30; 40 hangs below 30. Buses deliberately unsorted."""
    kw = dict(
        name="tiny",
        bus_ids=[30, 10, 40, 20],
        p_load_kw=[3.0, 0.0, 4.0, 2.0],
        q_load_kvar=[0.3, 0.0, 0.4, 0.2],
        from_bus=[40, 10, 10],
        to_bus=[30, 20, 30],
        r_pu=[0.03, 0.01, 0.02],
        x_pu=[0.06, 0.02, 0.04],
        base_kv=10.0,
        base_mva=1.0,
        root=10,
        source="tiny.toml",
    )
    kw.update(over)
    return Feeder.from_branches(**kw)


def test_tiny_feeder_order_and_values():
    f = _tiny()
    assert f.bus_ids[0] == 10
    assert set(f.bus_ids[1:3].tolist()) == {20, 30} and f.bus_ids[3] == 40
    i20, i30, i40 = f.index_of([20, 30, 40])
    assert f.parent[i20] == 0 and f.parent[i30] == 0 and f.parent[i40] == i30
    # impedance of the branch INTO each bus; loads follow their bus
    assert (f.r_pu[i20], f.r_pu[i30], f.r_pu[i40]) == (0.01, 0.02, 0.03)
    assert (f.x_pu[i20], f.x_pu[i30], f.x_pu[i40]) == (0.02, 0.04, 0.06)
    assert (f.p_load_kw[i20], f.p_load_kw[i30], f.p_load_kw[i40]) == (2.0, 3.0, 4.0)
    assert f.q_load_kvar[i40] == 0.4
    assert f.depth.tolist() == [0, 1, 1, 2]
    # path matrix: bus 40 is below branches into 30 and 40
    assert f.path_matrix[i40].tolist() == [0.0 if k not in (i30, i40) else 1.0 for k in range(4)]


def test_root_defaults_to_first_bus():
    f = _tiny(root=None, bus_ids=[10, 30, 40, 20], p_load_kw=[0, 3, 4, 2], q_load_kvar=[0, 0, 0, 0])
    assert f.bus_ids[0] == 10


@pytest.mark.parametrize("key", BUNDLED_FEEDERS)
def test_bundled_bfs_order(key):
    f = load_feeder(key)
    assert f.bus_ids[0] == 1 and f.parent[0] == -1
    idx = np.arange(1, f.n_bus)
    assert np.all(f.parent[1:] >= 0)
    assert np.all(f.parent[1:] < idx)  # every bus comes after its parent
    assert f.r_pu[0] == 0 and f.x_pu[0] == 0


@pytest.mark.parametrize("key,case", BUNDLED_FEEDERS.items())
def test_bundled_branches_kept(key, case):
    """Each branch of the CSV appears as (parent, child) with its own impedance."""
    f = load_feeder(key)
    z_base = f.base_kv**2 / f.base_mva
    with open(ROOT / "instances" / "feeders" / f"{case}_branches.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == f.n_bus - 1
    for row in rows:
        a, b = f.index_of([int(row["from_bus"]), int(row["to_bus"])])
        child = b if f.parent[b] == a else a
        assert f.parent[child] == (a if child == b else b)
        assert f.r_pu[child] == pytest.approx(float(row["r_ohm"]) / z_base, rel=1e-12)
        assert f.x_pu[child] == pytest.approx(float(row["x_ohm"]) / z_base, rel=1e-12, abs=1e-15)


def test_index_of():
    f = load_feeder("ieee33")
    assert f.index_of(1) == 0
    assert isinstance(f.index_of(18), int)
    assert f.bus_ids[f.index_of(18)] == 18
    ids = [33, 2, 18]
    assert f.bus_ids[f.index_of(ids)].tolist() == ids
    assert f.index_of(np.int64(5)) == f.index_of(5)
    with pytest.raises(InstanceError, match="bus = 34: no such bus in feeder case33bw"):
        f.index_of(34)
    with pytest.raises(InstanceError, match="bus = 99"):
        f.index_of([2, 99])


def test_arrays_are_read_only():
    f = load_feeder("ieee33")
    with pytest.raises(ValueError):
        f.p_load_kw[1] = 0.0
    assert f.p_load_kw[1] == 100.0


def test_scaled_does_not_mutate():
    f = load_feeder("ieee33")
    g = f.scaled(2.0)
    assert g.p_load_kw.sum() == pytest.approx(2 * 3715.0)
    assert f.p_load_kw.sum() == pytest.approx(3715.0)


def _assert_one_line(ei, *needles):
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith("tiny.toml: ")
    for n in needles:
        assert n in msg, msg


def test_meshed_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(from_bus=[40, 10, 10, 20], to_bus=[30, 20, 30, 40], r_pu=[0.03, 0.01, 0.02, 0.05], x_pu=[0.06, 0.02, 0.04, 0.1])
    _assert_one_line(ei, "meshed")


def test_meshed_bundled_refused():
    """ieee33 with the tie 21-8 closed."""
    f = load_feeder("ieee33")
    g = f.graph()
    fb = [u for u, v in g.edges] + [21]
    tb = [v for u, v in g.edges] + [8]
    r = [d["r_pu"] for *_, d in g.edges(data=True)] + [0.01]
    x = [d["x_pu"] for *_, d in g.edges(data=True)] + [0.01]
    Feeder.from_branches("ok", f.bus_ids, f.p_load_kw, f.q_load_kvar, fb[:-1], tb[:-1], r[:-1], x[:-1], 12.66, 10, root=1)
    with pytest.raises(InstanceError, match="meshed"):
        Feeder.from_branches("m", f.bus_ids, f.p_load_kw, f.q_load_kvar, fb, tb, r, x, 12.66, 10, root=1)


def test_disconnected_bus_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(bus_ids=[30, 10, 40, 20, 50], p_load_kw=[3, 0, 4, 2, 1], q_load_kvar=[0] * 5)
    _assert_one_line(ei, "bus = 50", "disconnected")


def test_duplicate_branch_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(from_bus=[40, 10, 10, 30], to_bus=[30, 20, 30, 10], r_pu=[0.03, 0.01, 0.02, 0.02], x_pu=[0.06, 0.02, 0.04, 0.04])
    _assert_one_line(ei, "branch[3] = '30-10'", "duplicate branch")


def test_duplicate_bus_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(bus_ids=[30, 10, 40, 30])
    _assert_one_line(ei, "bus = 30", "duplicate")


def test_zero_impedance_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(r_pu=[0.03, 0.0, 0.02], x_pu=[0.06, 0.0, 0.04])
    _assert_one_line(ei, "branch[1].r,x", "must be > 0")


@pytest.mark.parametrize("field,over", [("r", dict(r_pu=[0.03, -0.01, 0.02])), ("x", dict(x_pu=[0.06, 0.02, -0.04]))])
def test_negative_impedance_refused(field, over):
    with pytest.raises(InstanceError) as ei:
        _tiny(**over)
    _assert_one_line(ei, f".{field} = -0.0", ">= 0")


def test_nan_impedance_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(r_pu=[0.03, float("nan"), 0.02])
    _assert_one_line(ei, "branch[1].r = nan")


def test_unknown_bus_in_branch_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(to_bus=[30, 20, 99])
    _assert_one_line(ei, "branch[2] = '10-99'", "bus 99 is not in the bus table")


def test_self_loop_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(to_bus=[30, 10, 30])
    _assert_one_line(ei, "branch[1] = '10-10'")


def test_unknown_root_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(root=77)
    _assert_one_line(ei, "root = 77")


def test_non_finite_load_refused():
    with pytest.raises(InstanceError) as ei:
        _tiny(p_load_kw=[3.0, 0.0, float("inf"), 2.0])
    _assert_one_line(ei, "bus[40].p_load_kw = inf")


def test_load_feeder_unknown_name():
    with pytest.raises(InstanceError) as ei:
        load_feeder("nope")
    msg = str(ei.value)
    assert "\n" not in msg
    assert "feeder = 'nope'" in msg
    assert "ieee33" in msg  # tells the user what exists


def test_load_feeder_is_case_insensitive_and_cached():
    assert load_feeder("IEEE69") is load_feeder("ieee69")
    assert load_feeder("ieee69").n_bus == 69


# ----------------------------------------------------------------------------- argument and value checks
_OK = dict(name="t", bus_ids=[1, 2, 3], p_load_kw=[0, 1, 1], q_load_kvar=[0, 0, 0], from_bus=[1, 2], to_bus=[2, 3],
           r_pu=[0.01, 0.01], x_pu=[0.01, 0.01], base_kv=10.0, base_mva=1.0)


@pytest.mark.parametrize("change,needle", [
    ({"v_root_pu": float("nan")}, "t: v_root_pu = nan: must be a finite number"),
    ({"v_root_pu": float("inf")}, "t: v_root_pu = inf: must be a finite number"),
    ({"v_root_pu": 0.0}, "t: v_root_pu = 0.0: must be in [0.5, 1.5]"),
    ({"base_mva": 0.0}, "t: base_mva = 0.0: must be in [0.001, 100000]"),
    ({"base_mva": float("inf")}, "t: base_mva = inf: must be a finite number"),
    ({"base_kv": float("nan")}, "t: base_kv = nan: must be a finite number"),
    ({"base_kv": "10"}, "t: base_kv = '10': must be a number"),
    ({"r_pu": [float("nan"), 0.1]}, "t: branch[0].r = nan: impedance must be finite"),
    ({"x_pu": [0.1, 1e30]}, "t: branch[1].x = 1e+30: impedance must be finite, >= 0 and <= 1e+06 p.u."),
    ({"bus_ids": [1, 2, 3.5]}, "t: bus[2] = 3.5: bus number must be an integer"),
    ({"bus_ids": [1, 2, 1e30]}, "t: bus[2] = 1e+30"),
    ({"bus_ids": [1, 2, 10**30]}, "t: bus[2] = 1e+30"),
    ({"bus_ids": [1, 2, -3]}, "t: bus[2] = -3"),
    ({"to_bus": [2, 3.25]}, "t: to_bus[1] = 3.25"),
    ({"p_load_kw": [0, 1]}, "t: p_load_kw = '2 values': need one per bus (3)"),
    ({"x_pu": [0.01]}, "t: x_pu = '1 values': need one per branch (2 from_bus)"),
    ({"p_load_kw": [0, 1e308, 0]}, "t: bus[2].p_load_kw = 1e+308: load must be at most 1e+07 kW"),
    ({"q_load_kvar": [0, float("nan"), 0]}, "t: bus[2].q_load_kvar = nan: load must be finite"),
    ({"root": 2.5}, "t: root = 2.5: must be an integer bus number"),
])
def test_from_branches_refuses_bad_values(change, needle):
    """NaN root voltage used to give NaN voltages; baseMVA 0 a ZeroDivisionError; 3.5 was truncated to 3."""
    with pytest.raises(InstanceError) as e:
        Feeder.from_branches(**{**_OK, **change})
    assert str(e.value).startswith(needle), str(e.value)


@pytest.mark.parametrize("change", [{"bus_ids": "123"}, {"bus_ids": [[1, 2, 3]]}, {"p_load_kw": ["a", "b", "c"]},
                                    {"r_pu": None}, {"name": 5}, {"name": " "}])
def test_from_branches_wrong_kinds_are_argument_errors(change):
    from slopt.errors import ArgumentError

    with pytest.raises(ArgumentError):
        Feeder.from_branches(**{**_OK, **change})


def test_from_branches_keeps_valid_float_ids_and_bus_limit(monkeypatch):
    f = Feeder.from_branches(**{**_OK, "bus_ids": [1.0, 2.0, 3.0], "from_bus": np.array([1.0, 2.0])})
    assert f.bus_ids.tolist() == [1, 2, 3] and f.bus_ids.dtype == np.int64
    monkeypatch.setenv("SLOPT_LIMITS", "buses=2")
    with pytest.raises(InstanceError, match=r"buses = 3: exceeds the limit buses = 2"):
        Feeder.from_branches(**_OK)


def test_scaled_checks_its_factor():
    from slopt.errors import ArgumentError

    f = Feeder.from_branches(**_OK)
    assert f.scaled(2.0).p_load_kw.tolist() == [0.0, 2.0, 2.0]
    for bad in (float("nan"), -1.0, 1e308):
        with pytest.raises(InstanceError, match="Feeder.scaled: load_factor"):
            f.scaled(bad)
    with pytest.raises(ArgumentError):
        f.scaled("2")
