"""The project's feeder format (TOML + buses CSV + branches CSV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slopt.errors import InstanceError
from slopt.io.feeder_file import read_feeder_toml

ROOT = Path(__file__).resolve().parents[2]

TOML = """\
name = "tiny"
base_kv = 10.0
base_mva = 5.0
root_bus = 7
v_root_pu = 1.02
buses = "b.csv"
branches = "l.csv"
"""
BUSES = "bus_id,p_kw,q_kvar\n3,100.0,50.0\n7,0,0\n5,20.5,-4\n"
BRANCHES = "from_bus,to_bus,r_ohm,x_ohm\n7,5,1.0,2.0\n5,3,0.5,0.25\n"


def _write(tmp_path, toml=TOML, buses=BUSES, branches=BRANCHES) -> Path:
    (tmp_path / "f.toml").write_text(toml)
    (tmp_path / "b.csv").write_text(buses)
    (tmp_path / "l.csv").write_text(branches)
    return tmp_path / "f.toml"


def test_reads_units_and_order(tmp_path):
    f = read_feeder_toml(_write(tmp_path))
    assert f.name == "tiny"
    assert f.bus_ids.tolist() == [7, 5, 3]  # BFS from root_bus 7
    assert f.parent.tolist() == [-1, 0, 1]
    z_base = 10.0**2 / 5.0  # 20 ohm
    np.testing.assert_allclose(f.r_pu, [0, 1.0 / z_base, 0.5 / z_base])
    np.testing.assert_allclose(f.x_pu, [0, 2.0 / z_base, 0.25 / z_base])
    np.testing.assert_allclose(f.p_load_kw, [0, 20.5, 100.0])
    np.testing.assert_allclose(f.q_load_kvar, [0, -4, 50.0])
    assert (f.base_kv, f.base_mva, f.v_root_pu) == (10.0, 5.0, 1.02)


def test_v_root_defaults_to_one(tmp_path):
    f = read_feeder_toml(_write(tmp_path, toml=TOML.replace("v_root_pu = 1.02\n", "")))
    assert f.v_root_pu == 1.0


@pytest.mark.parametrize(
    "toml,buses,branches,expect",
    [
        (TOML.replace("base_kv = 10.0\n", ""), BUSES, BRANCHES, "f.toml: base_kv = 'missing'"),
        (TOML.replace("base_kv = 10.0", "base_kv = -10.0"), BUSES, BRANCHES, "base_kv = -10.0"),
        (TOML.replace("base_mva = 5.0", 'base_mva = "5"'), BUSES, BRANCHES, "base_mva = '5'"),
        (TOML.replace("root_bus = 7", "root_bus = 8"), BUSES, BRANCHES, "root_bus = 8"),
        (TOML.replace("root_bus = 7", "root_bus = 7.0"), BUSES, BRANCHES, "root_bus = 7.0"),
        (TOML + "colour = 'red'\n", BUSES, BRANCHES, "colour = 'red'"),
        (TOML.replace("name = ", "name == "), BUSES, BRANCHES, "not valid TOML"),
        (TOML.replace('"b.csv"', '"nope.csv"'), BUSES, BRANCHES, "nope.csv"),
        (TOML, BUSES.replace("q_kvar", "q_kw"), BRANCHES, "b.csv: not a CSV table with columns bus_id,p_kw,q_kvar"),
        (TOML, BUSES.replace("20.5", "lots"), BRANCHES, "b.csv: row 3, p_kw = 'lots'"),
        (TOML, BUSES.replace("20.5", "nan"), BRANCHES, "b.csv: row 3, p_kw = 'nan'"),
        (TOML, BUSES.replace("\n5,", "\n5.5,"), BRANCHES, "row 3, bus_id = '5.5'"),
        (TOML, BUSES, BRANCHES.replace("5,3,0.5,0.25", "5,3,0.5"), "l.csv: row 2: has 3 fields, the header has 4"),
        (TOML, BUSES, BRANCHES.replace("5,3,", "5,9,"), "bus 9 is not in the bus table"),
        (TOML, BUSES, BRANCHES.replace("1.0,2.0", "0,0"), "impedance must be > 0"),
        (TOML, BUSES, BRANCHES + "3,7,1,1\n", "meshed"),
        (TOML, "bus_id,p_kw,q_kvar\n", BRANCHES, "no data rows"),
    ],
)
def test_refusals_are_one_line_and_name_the_value(tmp_path, toml, buses, branches, expect):
    path = _write(tmp_path, toml, buses, branches)
    with pytest.raises(InstanceError) as ei:
        read_feeder_toml(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert expect in msg
    assert str(tmp_path) in msg


def test_missing_file(tmp_path):
    with pytest.raises(InstanceError, match="cannot read file"):
        read_feeder_toml(tmp_path / "none.toml")


def test_bundled_files_exist_in_instances():
    """The package data dir is a symlink to instances/feeders (one copy of the files)."""
    link = ROOT / "slopt" / "data" / "feeders"
    assert link.resolve() == (ROOT / "instances" / "feeders").resolve()
    for case in ("case33bw", "case69", "case85", "case118zh", "case141"):
        for suffix in (".toml", "_buses.csv", "_branches.csv"):
            assert (ROOT / "instances" / "feeders" / f"{case}{suffix}").is_file()
