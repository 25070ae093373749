"""Per-bus profiles over whole days: CSV reader strictness, per-profile mapping, SimBench data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from slopt.errors import InstanceError
from slopt.grid.bus_profiles import BusProfiles, ProfileTable, check_time_axis, from_profile_table
from slopt.grid.elements import GridElements
from slopt.grid.feeder import Feeder, load_feeder
from slopt.io.profiles_csv import read_bus_profiles, read_profile_table


def tiny_feeder(with_elements=True):
    """Root 1 -> 2 -> 3; loads at 2 (H0) and 3 (G1), PV at 3."""
    e = GridElements(kind=["load", "load", "sgen"], name=["l2", "l3", "pv3"], index=[0, 1, 0], bus_id=[2, 3, 3],
                     p_kw=[10.0, 20.0, 8.0], q_kvar=[2.0, 5.0, 0.0], profile=["H0", "G1", "PV"])
    return Feeder.from_branches("tiny", [1, 2, 3], [0, 10, 20], [0, 2, 5], [1, 2], [2, 3], [0.01, 0.01],
                                [0.01, 0.01], base_kv=0.4, base_mva=1.0, elements=e if with_elements else None)


def write(tmp_path, rows, header="time,2,3", name="p.csv"):
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def day_rows(days=2, step=60, start="2024-03-01", cols=2, fmt="%Y-%m-%d %H:%M"):
    t = pd.date_range(start, periods=days * 1440 // step, freq=f"{step}min")
    return [",".join([ts.strftime(fmt)] + [f"{k + j + 1.5}" for j in range(cols)]) for k, ts in enumerate(t)]


# ----------------------------------------------------------------------------- reading
@pytest.mark.parametrize("step", [60, 15, 5])
def test_per_bus_csv_any_days(tmp_path, step):
    rows = day_rows(days=3, step=step)
    bp = read_bus_profiles(write(tmp_path, rows), tiny_feeder())
    n = 3 * 1440 // step
    assert bp.p_kw.shape == (n, 3) and bp.resolution_min == step and bp.n_days == 3
    assert bp.start == np.datetime64("2024-03-01T00:00")
    f = tiny_feeder()
    # column "2" -> internal index of bus 2; q from the nominal power factor 2/10
    k2, k3 = f.index_of(2), f.index_of(3)
    assert bp.p_kw[4, k2] == pytest.approx(5.5) and bp.p_kw[4, k3] == pytest.approx(6.5)
    assert bp.q_kvar[4, k2] == pytest.approx(5.5 * 0.2) and bp.q_kvar[4, k3] == pytest.approx(6.5 * 0.25)
    assert np.all(bp.p_kw[:, 0] == 0)  # root
    assert bp.p_kw.flags.c_contiguous
    p_day, _ = bp.by_day()
    assert p_day.shape == (3, 1440 // step, 3) and p_day[1, 0, k2] == bp.p_kw[1440 // step, k2]


def test_q_columns_and_simbench_time_format(tmp_path):
    rows = day_rows(days=1, step=60, cols=3, fmt="%d.%m.%Y %H:%M")
    bp = read_bus_profiles(write(tmp_path, rows, header="time,2,3,q:3"), tiny_feeder())
    k3 = tiny_feeder().index_of(3)
    assert bp.q_kvar[0, k3] == pytest.approx(3.5)  # from the q:3 column, not the power factor


def test_hhmm_one_day_file(tmp_path):
    rows = [f"{h:02d}:00,1,2" for h in range(24)]
    bp = read_bus_profiles(write(tmp_path, rows), tiny_feeder())
    assert bp.n_steps == 24 and bp.start is None


BAD = {
    "gap": (lambda r: r[:10] + r[11:], ["row 11, time", "gap: 1 missing step"]),
    "duplicate": (lambda r: r[:10] + [r[9]] + r[10:-1], ["row 11, time", "duplicate time"]),
    "unsorted": (lambda r: r[:9] + [r[10], r[9]] + r[11:], ["row 11, time", "not sorted"]),
    "non-uniform": (lambda r: r[:5] + [r[5].replace(":00,", ":20,", 1)] + r[6:], ["row 6, time", "non-uniform"]),
    "nan": (lambda r: r[:7] + [r[7].rsplit(",", 1)[0] + ",nan"] + r[8:], ["row 8, 3", "finite"]),
    "inf": (lambda r: r[:7] + [r[7].rsplit(",", 1)[0] + ",inf"] + r[8:], ["row 8, 3", "finite"]),
    "text": (lambda r: r[:7] + [r[7].rsplit(",", 1)[0] + ",abc"] + r[8:], ["row 8, 3", "'abc'"]),
    "empty cell": (lambda r: r[:7] + [r[7].rsplit(",", 1)[0] + ","] + r[8:], ["row 8, 3", "finite"]),
    "short day": (lambda r: r[:-1], ["rows = 47", "whole number of days"]),
    "not midnight": (lambda r: r[1:] + ["2024-03-03 00:00,1,1"], ["row 1, time", "00:00"]),
    "bad time": (lambda r: r[:3] + ["yesterday,1,2"] + r[4:], ["row 4, time", "missing or unreadable"]),
}


@pytest.mark.parametrize("case", BAD)
def test_strict_one_line_errors(tmp_path, case):
    edit, parts = BAD[case]
    path = write(tmp_path, edit(day_rows(days=2, step=60)))
    with pytest.raises(InstanceError) as err:
        read_bus_profiles(path, tiny_feeder())
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    for part in parts:
        assert part in msg, msg


@pytest.mark.parametrize("header,part", [
    ("time,2,7", "no bus 7"), ("time,2,2", "duplicate"), ("time,2", "bus 3 has a nominal load"),
    ("time,2,H0", "mixes"), ("stamp,2,3", "not a CSV table with columns time,.*no column 'time'")])
def test_bad_headers(tmp_path, header, part):
    with pytest.raises(InstanceError, match=part):
        read_bus_profiles(write(tmp_path, day_rows(days=1, cols=header.count(",")), header=header), tiny_feeder())


def test_step_other_than_60_15_5_refused():
    t = np.datetime64("2024-01-01T00:00") + np.arange(48) * np.timedelta64(30, "m")
    with pytest.raises(InstanceError, match="step of 30 min"):
        check_time_axis(t, "x.csv")


# ----------------------------------------------------------------------------- per-profile mapping
def test_profile_columns_times_rated_power(tmp_path):
    rows = [f"2024-01-01 {h:02d}:00,{h / 24},{1 - h / 24},{0.5},{0.25}" for h in range(24)]
    path = write(tmp_path, rows, header="time,H0,G1_pload,G1_qload,PV")
    bp = read_bus_profiles(path, tiny_feeder())
    f = tiny_feeder()
    k2, k3 = f.index_of(2), f.index_of(3)
    h = np.arange(24)
    # bus 2: 10 kW x H0, q 2 kvar x H0 (no H0_qload column: same multiplier)
    np.testing.assert_allclose(bp.p_kw[:, k2], 10 * h / 24)
    np.testing.assert_allclose(bp.q_kvar[:, k2], 2 * h / 24)
    # bus 3: 20 kW x G1_pload - 8 kW x PV; q 5 x G1_qload
    np.testing.assert_allclose(bp.p_kw[:, k3], 20 * (1 - h / 24) - 8 * 0.25)
    np.testing.assert_allclose(bp.q_kvar[:, k3], 5 * 0.5)
    np.testing.assert_allclose(bp.p_gen_kw[:, k3], 2.0)
    # more PV: generation x3, loads unchanged
    s = bp.scaled(gen=3.0)
    np.testing.assert_allclose(s.p_kw[:, k3], 20 * (1 - h / 24) - 8 * 0.75)
    np.testing.assert_allclose(bp.scaled(load=2.0).p_kw[:, k2], 20 * h / 24)


def test_missing_profile_and_no_elements(tmp_path):
    rows = [f"2024-01-01 {h:02d}:00,1,1" for h in range(24)]
    with pytest.raises(InstanceError, match="profile of sgen pv3"):
        read_bus_profiles(write(tmp_path, rows, header="time,H0,G1"), tiny_feeder())
    with pytest.raises(InstanceError, match="no elements with profile names"):
        read_bus_profiles(write(tmp_path, rows, header="time,H0,G1"), tiny_feeder(with_elements=False))


def test_net_gen_cannot_be_scaled_separately():
    bp = BusProfiles(np.ones((24, 3)), np.zeros((24, 3)), 60, None, "x.csv")
    with pytest.raises(InstanceError, match="generation cannot be scaled"):
        bp.scaled(gen=2.0)
    assert bp.scaled(load=2.0).p_kw.max() == 2.0


def test_profile_table_independent_of_element_count():
    """Many elements on the same profile give the same per-bus sum as one big element."""
    n = 200
    e = GridElements(kind=["load"] * n, name=[""] * n, index=range(n), bus_id=[2] * n, p_kw=[0.5] * n,
                     q_kvar=[0.1] * n, profile=["H0"] * n)
    f = Feeder.from_branches("t", [1, 2], [0, 0], [0, 0], [1], [2], [0.01], [0.01], 0.4, 1.0, elements=e)
    tab = ProfileTable(("H0",), np.linspace(0, 1, 48)[:, None], 30, None, "mem")
    bp = from_profile_table(f, tab)
    np.testing.assert_allclose(bp.p_kw[:, 1], 100.0 * np.linspace(0, 1, 48))


# ----------------------------------------------------------------------------- SimBench
def test_simbench_profiles_match_simbench_absolute_values(simbench_net):
    sb = pytest.importorskip("simbench")
    from slopt.grid.simbench import simbench_feeder, simbench_profiles

    code = "1-LV-rural1--0-sw"
    net = simbench_net(code)
    f = simbench_feeder(code)
    bp = simbench_profiles(code)
    assert bp.resolution_min == 15 and bp.n_days == 366 and bp.n_steps == 35136  # 2016
    assert bp.start == np.datetime64("2016-01-01T00:00")
    # independent reference: simbench's own absolute values, summed per bus by hand
    av = sb.get_absolute_values(net, profiles_instead_of_study_cases=True)
    p_ref = np.zeros_like(bp.p_kw)
    q_ref = np.zeros_like(bp.q_kvar)
    for elm, sign in (("load", 1.0), ("sgen", -1.0)):
        for col, bus in zip(av[(elm, "p_mw")].columns, net[elm].bus):
            p_ref[:, f.index_of(bus)] += sign * 1e3 * av[(elm, "p_mw")][col].to_numpy()
        if elm == "load":
            for col, bus in zip(av[(elm, "q_mvar")].columns, net[elm].bus):
                q_ref[:, f.index_of(bus)] += 1e3 * av[(elm, "q_mvar")][col].to_numpy()
    np.testing.assert_allclose(bp.p_kw, p_ref, atol=1e-9)
    np.testing.assert_allclose(bp.q_kvar, q_ref, atol=1e-9)
    # PV really is in it: midday of a June day exports at some bus, nights never do
    p_day, _ = bp.by_day()
    assert p_day[170, 48].min() < 0 and p_day[170, 8].min() >= 0


def test_csv_year_per_bus_on_ieee141(tmp_path):
    """A year at 15 min on a 141-bus feeder reads back exactly."""
    f = load_feeder("ieee141")
    T = 35040
    t = pd.date_range("2023-01-01", periods=T, freq="15min")
    rng = np.random.default_rng(5)
    loaded = [int(b) for b, p in zip(f.bus_ids, f.p_load_kw) if p != 0]
    vals = np.round(rng.uniform(0, 100, (T, len(loaded))), 3)
    df = pd.DataFrame(vals, columns=[str(b) for b in loaded])
    df.insert(0, "time", t.strftime("%Y-%m-%d %H:%M"))
    df.to_csv(tmp_path / "year.csv", index=False)
    bp = read_bus_profiles(tmp_path / "year.csv", f)
    assert bp.n_days == 365 and bp.p_kw.shape == (T, f.n_bus)
    np.testing.assert_array_equal(bp.p_kw[:, f.index_of(loaded)], vals)
    assert read_profile_table(tmp_path / "year.csv").names[0] == str(loaded[0])


@pytest.mark.parametrize("cell", ["true", "FALSE", "1_0", "\u0663", "0x10"])
def test_cells_pandas_or_python_would_read_as_numbers_are_refused(tmp_path, cell):
    """pandas' C parser reads 'true' as 1.0 in a float column, Python's float reads '1_0' and '٣'."""
    rows = day_rows(days=1)
    rows[4] = rows[4].rsplit(",", 1)[0] + "," + cell
    with pytest.raises(InstanceError, match=r"row 5, 3 = .*must be a finite number"):
        read_bus_profiles(write(tmp_path, rows), tiny_feeder())


def test_profile_values_are_capped(tmp_path):
    rows = day_rows(days=1)
    rows[2] = rows[2].rsplit(",", 1)[0] + ",1e12"
    with pytest.raises(InstanceError, match=r"row 3, 3 = 1000000000000.0: must be at most 1e\+07 in magnitude"):
        read_bus_profiles(write(tmp_path, rows), tiny_feeder())
