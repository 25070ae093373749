"""Instance files: the default instance and one test per kind of bad input (slopt.io.loader)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

import slopt
from slopt import InstanceError, load_instance
from slopt.battery.cost import NEW_DEFAULT, RETIRED_DEFAULT
from slopt.grid.profiles import load_profile, pv_profile

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "instances" / "ieee33-hybrid.toml"
PV_BUSES = [7, 10, 13, 15, 17, 18, 21, 24, 25, 28, 30, 31, 33]


# ----------------------------------------------------------------------------- the default instance
def test_default_instance_loads():
    inst = slopt.load_instance(DEFAULT)
    assert isinstance(inst, slopt.Instance)
    assert inst.name == "ieee33-hybrid"
    assert inst.feeder.n_bus == 33 and inst.feeder.name == "case33bw"
    assert inst.n_steps == 96
    assert inst.dt_h == 0.25
    assert (inst.vmin_pu, inst.vmax_pu) == (0.93, 1.05)
    assert sorted(inst.pv_bus_ids.tolist()) == PV_BUSES
    assert len(inst.pv_bus_ids) == 13
    np.testing.assert_array_equal(inst.pv_kw, np.full(13, 150.0))
    np.testing.assert_array_equal(inst.load_mult, load_profile(15))   # CSV = built-in profiles
    np.testing.assert_array_equal(inst.pv_mult, pv_profile(15))
    c = inst.candidates
    assert c.bus_ids.tolist() == [8, 18, 30] and c.fixed and c.max_sites == 3
    np.testing.assert_array_equal(c.e_max_kwh, [500.0] * 3)
    np.testing.assert_array_equal(c.p_max_kw, [200.0] * 3)


def test_default_instance_has_table1_costs():
    techs = load_instance(DEFAULT).technologies
    assert set(techs) == {"new", "retired"}
    new, ret = techs["new"], techs["retired"]
    # Yuan et al. Table 1: Ce, Cp, Cb, Cj, Cw, Cd
    assert (new.ce_usd_per_wh, new.cp_usd_per_w, new.cb_usd_per_wh, new.cj_usd_per_wh,
            new.cw_usd_per_wh_yr, new.cd_usd_per_wh) == (1.0, 0.3, 0.1, 0.3, 0.01, 0.1)
    assert (ret.ce_usd_per_wh, ret.cp_usd_per_w, ret.cb_usd_per_wh, ret.cj_usd_per_wh,
            ret.cw_usd_per_wh_yr, ret.cd_usd_per_wh) == (0.5, 0.2, 0.1, 0.3, 0.015, 0.1)
    assert new == NEW_DEFAULT.with_(lifetime_years=10.0)
    assert ret == RETIRED_DEFAULT
    assert new.energy_cost_usd_per_kwh == pytest.approx(1510.0)
    assert ret.energy_cost_usd_per_kwh == pytest.approx(1015.0)


def test_net_load_subtracts_pv_at_pv_buses_only():
    inst = load_instance(DEFAULT)
    p, q = inst.net_load_kw()
    assert p.shape == (96, 33) and q.shape == (96, 33)
    f = inst.feeder
    gross = inst.load_mult[:, None] * f.p_load_kw[None, :]
    pv_cols = f.index_of(inst.pv_bus_ids)
    other = np.setdiff1d(np.arange(33), pv_cols)
    np.testing.assert_allclose(p[:, other], gross[:, other])
    np.testing.assert_allclose(gross[:, pv_cols] - p[:, pv_cols], np.outer(inst.pv_mult, np.full(13, 150.0)), atol=1e-9)
    noon = 12 * 4 + 2
    assert np.all(p[noon, pv_cols] < gross[noon, pv_cols])
    np.testing.assert_allclose(q, inst.load_mult[:, None] * f.q_load_kvar[None, :])


def test_builtin_profiles_when_no_file(default_copy):
    text = default_copy.read_text()
    default_copy.write_text(text.replace('file = "profiles/day_15min.csv"', "").replace(
        "resolution_min = 15", "resolution_min = 5"))
    inst = load_instance(default_copy)
    assert inst.n_steps == 288 and inst.dt_h == pytest.approx(5 / 60)
    np.testing.assert_array_equal(inst.pv_mult, pv_profile(5))
    assert inst.profile_source.startswith("built-in")


def test_defaults_fill_empty_technology_sections(default_copy):
    text = default_copy.read_text()
    start = text.index("[storage.new]")
    end = text.index("[candidates]")
    default_copy.write_text(text[:start] + "[storage.new]\n[storage.retired]\nsoh = 0.7\n\n" + text[end:])
    techs = load_instance(default_copy).technologies
    assert techs["new"] == NEW_DEFAULT
    assert techs["retired"] == RETIRED_DEFAULT.with_(soh=0.7)


def test_omitted_technology_is_disabled(default_copy):
    text = default_copy.read_text()
    start = text.index("[storage.retired]")
    end = text.index("[candidates]")
    default_copy.write_text(text[:start] + text[end:])
    assert set(load_instance(default_copy).technologies) == {"new"}


def test_per_bus_lists_and_free_mode(default_copy):
    text = default_copy.read_text()
    text = text.replace('mode = "fixed"', 'mode = "free"').replace("max_sites = 3", "max_sites = 2")
    text = text.replace("e_max_kwh = 500.0", "e_max_kwh = [100, 200.5, 300]")
    text = text.replace("pv_kw = 150.0", "pv_kw = [" + ", ".join(str(10 * k) for k in range(1, 14)) + "]")
    default_copy.write_text(text)
    inst = load_instance(default_copy)
    assert not inst.candidates.fixed and inst.candidates.max_sites == 2
    np.testing.assert_array_equal(inst.candidates.e_max_kwh, [100.0, 200.5, 300.0])
    np.testing.assert_array_equal(inst.pv_kw, np.arange(1, 14) * 10.0)


def test_feeder_by_path_to_matpower_file(default_copy):
    shutil.copy(ROOT / "instances" / "feeders" / "matpower" / "case33bw.m", default_copy.parent / "my33.m")
    default_copy.write_text(default_copy.read_text().replace('feeder = "ieee33"', 'feeder = "my33.m"'))
    inst = load_instance(default_copy)
    assert inst.feeder.n_bus == 33
    assert inst.feeder.p_load_kw.sum() == pytest.approx(3715.0)


def test_inputs_not_shared_between_loads():
    a = load_instance(DEFAULT)
    b = load_instance(DEFAULT)
    assert a.load_mult is not b.load_mult
    np.testing.assert_array_equal(a.load_mult, b.load_mult)


# ----------------------------------------------------------------------------- bad inputs
TOML = "ieee33-hybrid.toml"


def _sub(old, new):
    def edit(toml: Path):
        text = toml.read_text()
        assert old in text, old
        toml.write_text(text.replace(old, new, 1))
    return edit


def _csv(fn):
    def edit(toml: Path):
        csv = toml.parent / "profiles" / "day_15min.csv"
        lines = csv.read_text().splitlines()
        csv.write_text("\n".join(fn(lines)) + "\n")
    return edit


def _set_csv_cell(row, col, value):
    def fn(lines):
        cells = lines[row].split(",")
        cells[col] = value
        lines[row] = ",".join(cells)
        return lines
    return fn


def _remove_section(header, until=None):
    def edit(toml: Path):
        text = toml.read_text()
        toml.write_text(text[: text.index(header)] + (text[text.index(until):] if until else ""))
    return edit


def _bytes(data: bytes):
    def edit(toml: Path):
        toml.write_bytes(toml.read_bytes()[:200] + data)
    return edit


def _meshed(toml: Path):
    shutil.copy(ROOT / "tests" / "data" / "bad" / "meshed4.m", toml.parent / "meshed4.m")
    _sub('feeder = "ieee33"', 'feeder = "meshed4.m"')(toml)


# id: (edit, file named in the message, substrings that must appear)
BAD = {
    "toml-syntax": (_sub("vmin_pu = 0.93", "vmin_pu = = 0.93"), TOML, ["line 10, column 11", "invalid TOML"]),
    "toml-not-utf8": (_bytes(b"\nname2 = \"\xff\xfe\"\n"), TOML, ["line", "UTF-8"]),
    "missing-field": (_sub("buses = [8, 18, 30]", ""), TOML, ["candidates.buses", "(missing)"]),
    "missing-section": (_remove_section("[candidates]"), TOML, ["candidates", "(missing)"]),
    "missing-resolution": (_sub("resolution_min = 15", ""), TOML, ["profiles.resolution_min", "(missing)"]),
    "unknown-field": (_sub("soh = 0.8", "soh = 0.8\nsoh_pct = 80"), TOML, ["storage.retired.soh_pct", "80", "unknown"]),
    "unknown-top-field": (_sub("load_scale = 1.0", "load_scal = 1.0"), TOML, ["load_scal ", "1.0", "load_scale"]),
    "wrong-type-str": (_sub("soh = 0.8", 'soh = "high"'), TOML, ["storage.retired.soh", "'high'"]),
    "wrong-type-bool": (_sub("cp_usd_per_w = 0.3", "cp_usd_per_w = true"), TOML, ["storage.new.cp_usd_per_w", "True"]),
    "wrong-type-float-bus": (_sub("buses = [8, 18, 30]", "buses = [8, 18.0, 30]"), TOML, ["candidates.buses[1]", "18.0"]),
    "wrong-type-table": (_sub("[band]", "band = 3\n[band_x]"), TOML, ["band", "3"]),
    "negative-cost": (_sub("ce_usd_per_wh = 0.5", "ce_usd_per_wh = -0.5"), TOML, ["storage.retired.ce_usd_per_wh", "-0.5"]),
    "nan-cost": (_sub("cw_usd_per_wh_yr = 0.01", "cw_usd_per_wh_yr = nan"), TOML, ["storage.new.cw_usd_per_wh_yr", "nan"]),
    "inf-cost": (_sub("cd_usd_per_wh = 0.1", "cd_usd_per_wh = inf"), TOML, ["storage.new.cd_usd_per_wh", "inf"]),
    "negative-capacity": (_sub("e_max_kwh = 500.0", "e_max_kwh = -500.0"), TOML, ["candidates.e_max_kwh", "-500.0"]),
    "nan-capacity": (_sub("p_max_kw = 200.0", "p_max_kw = nan"), TOML, ["candidates.p_max_kw", "nan"]),
    "negative-capacity-in-list": (_sub("p_max_kw = 200.0", "p_max_kw = [1.0, -2.0, 3.0]"), TOML, ["candidates.p_max_kw[1]", "-2.0"]),
    "e-min-above-e-max": (_sub("e_min_kwh = 0.0", "e_min_kwh = 600.0"), TOML, ["candidates.e_min_kwh", "600.0"]),
    "soh-above-1": (_sub("soh = 0.8", "soh = 1.7"), TOML, ["storage.retired.soh", "1.7", "(0, 1]"]),
    "soh-zero": (_sub("soh = 1.0", "soh = 0"), TOML, ["storage.new.soh", "0", "(0, 1]"]),
    "eta-zero": (_sub("eta_charge = 0.93", "eta_charge = 0.0"), TOML, ["storage.retired.eta_charge", "0.0"]),
    "eta-above-1": (_sub("eta_discharge = 0.95", "eta_discharge = 1.05"), TOML, ["storage.new.eta_discharge", "1.05"]),
    "soc-min-above-max": (_sub("soc_min = 0.1\nsoc_max = 0.9\nsoc_initial = 0.5\nc_rate_max = 1.0",
                               "soc_min = 0.95\nsoc_max = 0.9\nsoc_initial = 0.5\nc_rate_max = 1.0"), TOML,
                          ["storage.new.soc_min", "0.95"]),
    "soc-max-above-1": (_sub("soc_max = 0.9", "soc_max = 1.2"), TOML, ["storage.new.soc_max", "1.2"]),
    "soc-initial-outside": (_sub("soc_initial = 0.5\nc_rate_max = 0.5", "soc_initial = 0.05\nc_rate_max = 0.5"), TOML,
                            ["storage.retired.soc_initial", "0.05"]),
    "band-inverted": (_sub("vmin_pu = 0.93", "vmin_pu = 1.06"), TOML, ["band.vmin_pu", "1.06"]),
    "band-equal": (_sub("vmin_pu = 0.93", "vmin_pu = 1.05"), TOML, ["band.vmin_pu", "1.05"]),
    "band-outside": (_sub("vmax_pu = 1.05", "vmax_pu = 1.6"), TOML, ["band.vmax_pu", "1.6", "(0.5, 1.5)"]),
    "band-low": (_sub("vmin_pu = 0.93", "vmin_pu = 0.4"), TOML, ["band.vmin_pu", "0.4"]),
    "resolution": (_sub("resolution_min = 15", "resolution_min = 30"), TOML, ["profiles.resolution_min", "30"]),
    "csv-missing": (_sub('file = "profiles/day_15min.csv"', 'file = "profiles/nope.csv"'), TOML,
                    ["profiles.file", "nope.csv", "not found"]),
    "csv-missing-column": (_csv(lambda ls: [ln.rsplit(",", 1)[0] for ln in ls]), "day_15min.csv", ["'pv'", "time,load"]),
    "csv-short": (_csv(lambda ls: ls[:-1]), "day_15min.csv", ["rows", "95", "short", "96"]),
    "csv-long": (_csv(lambda ls: ls + ["24:00,0.5,0"]), "day_15min.csv", ["rows", "97", "96"]),
    "csv-wrong-resolution": (_sub("resolution_min = 15", "resolution_min = 60"), "day_15min.csv", ["rows", "96", "24"]),
    "csv-nan": (_csv(_set_csv_cell(13, 2, "nan")), "day_15min.csv", ["row 13, pv", "'nan'"]),
    "csv-inf": (_csv(_set_csv_cell(5, 1, "inf")), "day_15min.csv", ["row 5, load", "'inf'"]),
    "csv-negative": (_csv(_set_csv_cell(40, 1, "-0.2")), "day_15min.csv", ["row 40, load", "'-0.2'"]),
    "csv-text": (_csv(_set_csv_cell(2, 2, "abc")), "day_15min.csv", ["row 2, pv", "'abc'"]),
    "csv-time": (_csv(_set_csv_cell(3, 0, "00:31")), "day_15min.csv", ["row 3, time", "'00:31'", "00:30"]),
    "csv-not-utf8": (lambda t: (t.parent / "profiles" / "day_15min.csv").write_bytes(b"time,load,pv\n\xff\xfe\n"),
                     "day_15min.csv", ["UTF-8"]),
    "unknown-feeder": (_sub('feeder = "ieee33"', 'feeder = "ieee34"'), TOML, ["feeder", "'ieee34'", "unknown feeder"]),
    "feeder-file-missing": (_sub('feeder = "ieee33"', 'feeder = "nowhere/x.m"'), TOML, ["feeder", "'nowhere/x.m'", "not found"]),
    "meshed-feeder": (_meshed, TOML, ["feeder", "'meshed4.m'", "meshed"]),
    "unknown-pv-bus": (_sub("pv_buses = [7, 10,", "pv_buses = [7, 99,"), TOML, ["profiles.pv_buses[1]", "99", "no such bus"]),
    "unknown-candidate-bus": (_sub("buses = [8, 18, 30]", "buses = [8, 18, 34]"), TOML,
                              ["candidates.buses[2]", "34", "no such bus"]),
    "duplicate-pv-bus": (_sub("pv_buses = [7, 10, 13,", "pv_buses = [7, 10, 7,"), TOML, ["profiles.pv_buses[2]", "7", "duplicate"]),
    "duplicate-candidate-bus": (_sub("buses = [8, 18, 30]", "buses = [8, 18, 18]"), TOML,
                                ["candidates.buses[2]", "18", "duplicate"]),
    "pv-kw-length": (_sub("pv_kw = 150.0", "pv_kw = [150.0, 100.0]"), TOML, ["profiles.pv_kw", "[150.0, 100.0]", "13"]),
    "pv-kw-missing": (_sub("pv_kw = 150.0", ""), TOML, ["profiles.pv_kw", "(missing)"]),
    "max-sites-zero": (_sub("max_sites = 3", "max_sites = 0"), TOML, ["candidates.max_sites", "0", "[1, "]),
    "max-sites-negative": (_sub("max_sites = 3", "max_sites = -2"), TOML, ["candidates.max_sites", "-2"]),
    "mode": (_sub('mode = "fixed"', 'mode = "maybe"'), TOML, ["candidates.mode", "'maybe'"]),
    "no-storage": (_remove_section("# Yuan et al. Table 1. Costs", "[candidates]"), TOML, ["storage", "(missing)"]),
    "empty-storage": (_sub("[storage.new]", "[storage]\n[storage.new]"), TOML, []),   # replaced below
    "load-scale-negative": (_sub("load_scale = 1.0", "load_scale = -1.0"), TOML, ["load_scale", "-1.0"]),
}


def _empty_storage(toml: Path):
    _remove_section("# Yuan et al. Table 1. Costs", "[candidates]")(toml)
    _sub("[candidates]", "[storage]\n\n[candidates]")(toml)


BAD["empty-storage"] = (_empty_storage, TOML, ["storage = {}", "storage.new", "storage.retired"])


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_line_instance_error(case, default_copy):
    edit, fname, needles = BAD[case]
    edit(default_copy)
    with pytest.raises(InstanceError) as info:
        load_instance(default_copy)
    msg = str(info.value)
    assert "\n" not in msg and "\r" not in msg
    assert fname in msg
    assert msg.count(": ") >= 2 or ": not a CSV table with columns " in msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    assert info.value.exit_code == 2


def test_canonical_message_format(default_copy):
    _sub("soh = 0.8", "soh = 1.7")(default_copy)
    with pytest.raises(InstanceError) as info:
        load_instance(default_copy)
    assert str(info.value) == f"{default_copy}: storage.retired.soh = 1.7: must be in (0, 1]"


def test_missing_instance_file(tmp_path):
    with pytest.raises(InstanceError, match="nope.toml"):
        load_instance(tmp_path / "nope.toml")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(InstanceError) as info:
        load_instance(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("name", ["short_csv", "soh", "syntax"])
def test_bundled_bad_examples(name):
    toml = ROOT / "tests" / "data" / "bad" / f"{name}.toml"
    with pytest.raises(InstanceError) as info:
        load_instance(toml)
    assert f"{name}.toml" in str(info.value) or "short.csv" in str(info.value)
