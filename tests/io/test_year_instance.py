"""Instances over many days: simbench feeders, SimBench profiles, per-bus CSV files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slopt.errors import InstanceError
from slopt.io.loader import load_instance

ROOT = Path(__file__).resolve().parents[2]
BASE = (ROOT / "instances" / "ieee33-hybrid.toml").read_text()


def make(tmp_path, feeder=None, profiles=None, candidates=None, name="x.toml"):
    """The ieee33-hybrid instance with its feeder line, [profiles] table or candidate buses replaced."""
    text = BASE
    if feeder is not None:
        text = re.sub(r'^feeder = .*$', f'feeder = "{feeder}"', text, flags=re.M)
    if profiles is not None:
        text = re.sub(r"^\[profiles\].*?(?=^\[storage\.new\])", profiles + "\n\n", text, flags=re.M | re.S)
    if candidates is not None:
        text = re.sub(r"^buses = \[8, 18, 30\]", f"buses = {candidates}", text, flags=re.M)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_single_day_instance_unchanged():
    inst = load_instance(ROOT / "instances" / "ieee33-hybrid.toml")
    assert inst.bus_profiles is None and inst.n_days == 1 and inst.n_steps == 96


@pytest.fixture
def simbench_lv(simbench_net):
    simbench_net("1-LV-rural1--0-sw")  # skip without simbench; warm the cache
    return "simbench:1-LV-rural1--0-sw"


def test_simbench_feeder_and_profiles_shorthand(tmp_path, simbench_lv):
    path = make(tmp_path, feeder=simbench_lv, candidates="[4, 12]")
    text = path.read_text()
    text = re.sub(r"^\[profiles\].*?(?=^\[storage\.new\])", "", text, flags=re.M | re.S)
    text = text.replace('load_scale = 1.0', 'load_scale = 1.0\nprofiles = "simbench"', 1)
    path.write_text(text)
    inst = load_instance(path)
    assert inst.feeder.n_bus == 15 and inst.feeder.name == simbench_lv
    assert inst.n_steps == 35136 and inst.n_days == 366 and inst.resolution_min == 15
    p, q = inst.net_load_kw()
    assert p.shape == (35136, 15) and q.shape == (35136, 15)
    assert p.min() < 0  # PV export at noon somewhere


def test_simbench_hourly_with_more_pv(tmp_path, simbench_lv):
    from slopt.grid.simbench import simbench_profiles

    prof = '[profiles]\nsource = "simbench"\nresolution_min = 60\ngen_scale = 3.0'
    inst = load_instance(make(tmp_path, feeder=simbench_lv, profiles=prof, candidates="[4, 12]"))
    assert inst.n_steps == 366 * 24 and inst.dt_h == 1.0
    raw = simbench_profiles(simbench_lv.split(":", 1)[1])
    load_15 = raw.p_kw + raw.p_gen_kw
    expect = (load_15 - 3.0 * raw.p_gen_kw).reshape(-1, 4, 15).mean(axis=1)  # hourly block means
    np.testing.assert_allclose(inst.net_load_kw()[0], expect, atol=1e-9)


def test_bus_file_instance(tmp_path):
    from slopt.grid.feeder import load_feeder

    f = load_feeder("ieee33")
    t = pd.date_range("2024-06-01", periods=2 * 96, freq="15min")
    df = pd.DataFrame({str(int(b)): np.full(t.size, p) for b, p in zip(f.bus_ids[1:], f.p_load_kw[1:])})
    df.insert(0, "time", t.strftime("%Y-%m-%d %H:%M"))
    df.to_csv(tmp_path / "two_days.csv", index=False)
    prof = '[profiles]\nresolution_min = 15\nbus_file = "two_days.csv"'
    inst = load_instance(make(tmp_path, profiles=prof).with_name("x.toml"))
    assert inst.n_days == 2 and inst.n_steps == 192
    p, q = inst.net_load_kw()
    np.testing.assert_allclose(p[5], f.p_load_kw)
    np.testing.assert_allclose(q[5], f.q_load_kvar)  # nominal power factor


@pytest.mark.parametrize("case,profiles,feeder,parts", [
    ("simbench source on ieee33", '[profiles]\nresolution_min = 15\nsource = "simbench"', None,
     ["profiles.source", "simbench:<code>"]),
    ("file and bus_file", '[profiles]\nresolution_min = 15\nfile = "a.csv"\nbus_file = "b.csv"', None,
     ["profiles.bus_file", "only one of"]),
    ("pv with bus_file", '[profiles]\nresolution_min = 15\nbus_file = "b.csv"\npv_buses = [3]\npv_kw = 1.0', None,
     ["profiles.pv_buses", "remove pv_buses"]),
    ("gen_scale on a day", '[profiles]\nresolution_min = 15\ngen_scale = 2.0', None, ["profiles.gen_scale"]),
    ("missing bus file", '[profiles]\nresolution_min = 15\nbus_file = "nope.csv"', None,
     ["profiles.bus_file", "file not found"]),
    ("unknown simbench code", None, "simbench:1-LV-nowhere--0-sw", ["feeder", "not a SimBench grid code"]),
])
def test_year_instance_errors(tmp_path, case, profiles, feeder, parts):
    if feeder is not None:
        pytest.importorskip("simbench")
    with pytest.raises(InstanceError) as err:
        load_instance(make(tmp_path, feeder=feeder, profiles=profiles))
    msg = str(err.value)
    assert "\n" not in msg
    for part in parts:
        assert part in msg, msg


def test_finer_than_data_refused(tmp_path, simbench_lv):
    prof = '[profiles]\nsource = "simbench"\nresolution_min = 5'
    with pytest.raises(InstanceError, match="finer than the data"):
        load_instance(make(tmp_path, feeder=simbench_lv, profiles=prof, candidates="[4, 12]"))
