"""Fleet tables: Kumar et al.'s synthetic population and CSV loading with one-line errors."""


import numpy as np
import pandas as pd
import pytest

from slopt.battery.twin import DEFAULT_CHEMISTRY
from slopt.errors import InstanceError
from slopt.fleet.data import FLEET_COLUMNS, Fleet, generate_fleet, load_fleet

# --------------------------------------------------------------------------- generator


def test_default_fleet_is_kumar_population():
    fleet = generate_fleet()
    t = fleet.table
    assert len(fleet) == 120 and list(t.columns) == list(FLEET_COLUMNS)
    assert t["soh"].between(0.55, 0.80).all()                        # Kumar et al. §3A
    assert t["battery_id"].is_unique and t["battery_id"].iloc[0] == "B001"
    assert set(t["chemistry"]) == {"LFP", "NMC"}
    assert 0 < t["accelerated"].sum() < 60                           # "some" accelerated agers
    assert (t["r_growth"] >= 0).all() and (t["t_min_c"] <= t["t_max_c"]).all()
    assert (t["cycle_count"] >= 0).all() and (t["degradation_trend"] > 0).all()
    assert t["accelerated"].dtype == bool and t["soh"].dtype == float


def test_generator_is_seeded_and_vectorised():
    a, b, c = generate_fleet(200, seed=7), generate_fleet(200, seed=7), generate_fleet(200, seed=8)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not a.table.equals(c.table)
    pd.testing.assert_frame_equal(generate_fleet(50, seed=np.random.default_rng(3)).table,
                                  generate_fleet(50, seed=3).table)
    big = generate_fleet(100_000, seed=1)          # its speed is measured in benchmarks/twin.py
    assert len(big) == 100_000 and big.table["battery_id"].is_unique


def test_generator_follows_kumar_table_3_trends():
    # Table 3 sorted by SOH (B5, B1, B3, B2, B4): SOH 80/78/72/65/58 % <-> R 40/45/50/60/70 mOhm,
    # cycles 1000/1200/1100/1500/1800, lower ends of the temperature range 25/25/20/30/35 degC;
    # the generator's mean lines pass within the tolerances of all five sample modules
    t = generate_fleet(20_000, seed=2).table
    n = t[~t["accelerated"]]
    soh = n["soh"].to_numpy() * 100
    for col, table3, tol in (("r0_mohm", [40, 45, 50, 60, 70], 6.0), ("cycle_count", [1000, 1200, 1100, 1500, 1800], 250),
                             ("t_min_c", [25, 25, 20, 30, 35], 6.0)):
        slope, icpt = np.polyfit(soh, n[col].to_numpy(), 1)
        fit = slope * np.array([80, 78, 72, 65, 58]) + icpt
        assert slope < 0, col                                       # worse health, more of it
        np.testing.assert_allclose(fit, table3, atol=tol, err_msg=col)
    acc = t["accelerated"].to_numpy()
    assert t.loc[acc, "degradation_trend"].mean() > 1.5 * t.loc[~acc, "degradation_trend"].mean()
    assert t.loc[acc, "t_max_c"].mean() > t.loc[~acc, "t_max_c"].mean() + 5
    assert t.loc[acc, "soh"].mean() < t.loc[~acc, "soh"].mean()
    # shares: 40 % LFP, 20 % accelerated (ours)
    assert abs((t["chemistry"] == "LFP").mean() - 0.4) < 0.02
    assert abs(acc.mean() - 0.2) < 0.02
    # the trend of an ordinary module scatters around the twin's reference rate
    for chem in ("LFP", "NMC"):
        ref = DEFAULT_CHEMISTRY[chem].trend_ref_pp_per_kefc
        med = n.loc[n["chemistry"] == chem, "degradation_trend"].median()
        assert ref < med < 2.0 * ref


def test_generator_rejects_bad_n():
    with pytest.raises(ValueError):
        generate_fleet(0)


def test_fleet_copies_and_validates_its_table():
    t = generate_fleet(10).table
    fleet = Fleet(t)
    t.loc[0, "soh"] = 0.1
    assert fleet.table.loc[0, "soh"] != 0.1                           # a private copy
    assert len(fleet.subset(fleet.table["chemistry"] == "LFP")) == (fleet.table["chemistry"] == "LFP").sum()
    np.testing.assert_allclose(fleet.usable_kwh, fleet.table["nominal_kwh"] * fleet.table["soh"])
    bad = fleet.table.copy()
    bad.loc[3, "soh"] = 1.5
    with pytest.raises(InstanceError, match=r"^fleet: row 4, soh = 1.5: must be in \(0, 1\]$"):
        Fleet(bad)
    assert set(fleet.summary()["chemistry"]) <= {"LFP", "NMC"}


# --------------------------------------------------------------------------- CSV


def test_csv_round_trip(tmp_path):
    fleet = generate_fleet(30, seed=4)
    loaded = load_fleet(fleet.to_csv(tmp_path / "fleet.csv"))
    pd.testing.assert_frame_equal(loaded.table, fleet.table)


HEADER = ",".join(FLEET_COLUMNS)
GOOD = "B1,LFP,5.12,0.78,45,0.5,25,35,1200,3.1,false"


def write(tmp_path, lines, header=HEADER):
    p = tmp_path / "fleet.csv"
    p.write_text("\n".join([header] + lines) + "\n")
    return p


def rows_with(n_good, bad_line):
    return [GOOD.replace("B1", f"B{i}") for i in range(1, n_good + 1)] + [bad_line]


@pytest.mark.parametrize("bad, message", [
    ("B17,LFP,5.12,1.3,45,0.5,25,35,1200,3.1,false", "row 17, soh = 1.3: must be in (0, 1]"),
    ("B17,LFP,5.12,78,45,0.5,25,35,1200,3.1,false", "row 17, soh = 78: must be in (0, 1] (give SOH as a fraction"),
    ("B17,LFP,5.12,0,45,0.5,25,35,1200,3.1,false", "row 17, soh = 0: must be in (0, 1]"),
    ("B17,LFP,5.12,0.7,-3,0.5,25,35,1200,3.1,false", "row 17, r0_mohm = -3: must be > 0"),
    ("B17,LFP,5.12,0.7,45,-0.1,25,35,1200,3.1,false", "row 17, r_growth = -0.1: must be >= 0"),
    ("B17,LFP,5.12,0.7,45,0.5,25,35,-5,3.1,false", "row 17, cycle_count = -5: must be >= 0"),
    ("B17,LFP,5.12,0.7,45,0.5,25,35,1200,-1,false", "row 17, degradation_trend = -1: must be >= 0"),
    ("B17,LFP,0,0.7,45,0.5,25,35,1200,3.1,false", "row 17, nominal_kwh = 0: must be > 0"),
    ("B17,LFP,5.12,NaN,45,0.5,25,35,1200,3.1,false", "row 17, soh = 'NaN': must be a finite number"),
    ("B17,LFP,5.12,,45,0.5,25,35,1200,3.1,false", "row 17, soh = '': missing value"),
    ("B17,LFP,5.12,high,45,0.5,25,35,1200,3.1,false", "row 17, soh = 'high': must be a number"),
    ("B17,LFP,5.12,0.7,45,0.5,25,inf,1200,3.1,false", "row 17, t_max_c = 'inf': must be a finite number"),
    ("B17,LFP,5.12,0.7,45,0.5,40,35,1200,3.1,false", "row 17, t_max_c = 35: must be >= t_min_c (40)"),
    ("B17,LCO,5.12,0.7,45,0.5,25,35,1200,3.1,false", "row 17, chemistry = 'LCO': must be one of LFP, NMC"),
    ("B17,LFP,5.12,0.7,45,0.5,25,35,1200,3.1,maybe", "row 17, accelerated = 'maybe': must be true or false"),
    ("B3,LFP,5.12,0.7,45,0.5,25,35,1200,3.1,false", "row 17, battery_id = 'B3': duplicate of row 3"),
    (",LFP,5.12,0.7,45,0.5,25,35,1200,3.1,false", "row 17, battery_id = '': must be a non-empty id"),
])
def test_row_errors_name_file_row_column_and_value(tmp_path, monkeypatch, bad, message):
    write(tmp_path, rows_with(16, bad))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InstanceError) as e:
        load_fleet("fleet.csv")
    text = str(e.value)
    assert text.startswith("fleet.csv: " + message), text
    assert "\n" not in text


def test_the_brief_example_message_exactly(tmp_path, monkeypatch):
    write(tmp_path, rows_with(16, "B17,NMC,4,1.3,45,0.5,25,35,1200,3.1,true"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InstanceError, match=r"^fleet.csv: row 17, soh = 1.3: must be in \(0, 1\]$"):
        load_fleet("fleet.csv")


def test_file_level_errors(tmp_path):
    with pytest.raises(InstanceError, match="missing column 'soh'"):
        load_fleet(write(tmp_path, ["B1,LFP,5"], header="battery_id,chemistry,nominal_kwh"))
    with pytest.raises(InstanceError, match="no data rows"):
        load_fleet(write(tmp_path, []))
    with pytest.raises(InstanceError, match="not found"):
        load_fleet(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InstanceError, match="empty fleet file"):
        load_fleet(tmp_path / "empty.csv")
    with pytest.raises(InstanceError, match="duplicate column 'soh'"):
        load_fleet(write(tmp_path, ["B1,LFP,5.12,0.78,45,0.5,25,35,1200,3.1,false,0.7"], header=HEADER + ",soh"))


def test_lenient_parsing_that_is_still_unambiguous(tmp_path):
    # accelerated is optional (false), chemistry is case-insensitive, extra columns are kept,
    # spaces after commas are ignored, yes/no and 1/0 flags are read
    header = ",".join(c for c in FLEET_COLUMNS if c != "accelerated") + ",site"
    p = write(tmp_path, ["B1, lfp, 5.12, 0.78, 45, 0.5, 25, 35, 1200, 3.1, north"], header=header)
    f = load_fleet(p)
    assert f.table.loc[0, "chemistry"] == "LFP" and not f.table.loc[0, "accelerated"]
    assert f.table.loc[0, "site"] == "north"
    p = write(tmp_path, [GOOD.replace("false", "yes"), GOOD.replace("B1", "B2").replace("false", "0")])
    assert load_fleet(p).table["accelerated"].tolist() == [True, False]


# --------------------------------------------------------------------------- bounds, shapes, library entry points


@pytest.mark.parametrize("bad,message", [
    ("B17,LFP,1e308,0.78,45,0.5,25,35,1200,3.1,false", "row 17, nominal_kwh = 1e308: must be at most 10000"),
    ("B17,LFP,5.12,0.78,1e9,0.5,25,35,1200,3.1,false", "row 17, r0_mohm = 1e9: must be at most 100000"),
    ("B17,LFP,5.12,0.78,45,500,25,35,1200,3.1,false", "row 17, r_growth = 500: must be at most 100"),
    ("B17,LFP,5.12,0.78,45,0.5,25,35,1e12,3.1,false", "row 17, cycle_count = 1e12: must be at most 1e+06"),
    ("B17,LFP,5.12,0.78,45,0.5,25,35,1200,1e6,false", "row 17, degradation_trend = 1e6: must be at most 1000"),
    ("B17,LFP,5.12,0.7_8,45,0.5,25,35,1200,3.1,false", "row 17, soh = '0.7_8': must be a number"),
    ("B17,LFP,5.12,\u0660.78,45,0.5,25,35,1200,3.1,false", "row 17, soh = '\u0660.78': must be a number"),
    ("B17,LFP,5.12,0.78,45,0.5,25,35,1200,3.1", "row 17: has 10 fields, the header has 11"),
    ("B17,LFP,5.12,0.78,45,0.5,25,35,1200,3.1,false,9", "row 17: has 12 fields, the header has 11"),
    ('"B17\nB18",LFP,5.12,0.78,45,0.5,25,35,1200,3.1,false', "row 17: a quoted field holds a line break"),
])
def test_bounds_and_row_shape(tmp_path, monkeypatch, bad, message):
    write(tmp_path, rows_with(16, bad))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InstanceError) as e:
        load_fleet("fleet.csv")
    assert str(e.value).startswith("fleet.csv: " + message), str(e.value)


def test_a_non_csv_file_is_named_not_shown(tmp_path):
    p = tmp_path / "fleet.csv"
    p.write_text("password=hunter2\nxyzzy:x:0:0\n")
    with pytest.raises(InstanceError) as e:
        load_fleet(p)
    assert "hunter2" not in str(e.value) and "xyzzy" not in str(e.value)
    assert "not a CSV table with columns battery_id,chemistry," in str(e.value)


def test_row_limit_before_parsing(tmp_path, monkeypatch):
    p = generate_fleet(30, seed=1).to_csv(tmp_path / "fleet.csv")
    monkeypatch.setenv("SLOPT_LIMITS", "batteries=20")
    with pytest.raises(InstanceError, match=r"fleet rows = 30: exceeds the limit batteries = 20"):
        load_fleet(p)
    with pytest.raises(InstanceError, match=r"generate_fleet: n = 21: exceeds the limit batteries = 20"):
        generate_fleet(21)


def test_validate_fleet_table_and_as_fleet(tmp_path):
    from slopt.errors import ArgumentError
    from slopt.fleet.data import as_fleet, validate_fleet_table

    fleet = generate_fleet(8, seed=2)
    t = fleet.table
    pd.testing.assert_frame_equal(validate_fleet_table(t), t)
    for change, needle in ((dict(soh=np.nan), "soh = nan: must be a finite number"),
                           (dict(soh=7.5), "soh = 7.5: must be in (0, 1]"),
                           (dict(battery_id="X"), "battery_id = 'X': duplicate of row 1"),
                           (dict(nominal_kwh=1e308), "nominal_kwh = 1e+308: must be at most 10000")):
        with pytest.raises(InstanceError) as e:
            validate_fleet_table(t.assign(**change))
        assert needle in str(e.value), str(e.value)
    assert as_fleet(fleet) is fleet
    assert len(as_fleet(t)) == 8
    assert len(as_fleet(fleet.to_csv(tmp_path / "f.csv"))) == 8
    for bad in (None, 5, [1, 2]):
        with pytest.raises(ArgumentError):
            as_fleet(bad)


@pytest.mark.parametrize("args,error", [
    ((1.5,), "ArgumentError"), (("5",), "ArgumentError"), ((True,), "ArgumentError"), ((-1,), "InstanceError"),
    ((5, -1), "InstanceError"), ((5, 1.5), "ArgumentError"), ((5, "a"), "ArgumentError"),
])
def test_generate_fleet_arguments(args, error):
    import slopt.errors as errors

    with pytest.raises(getattr(errors, error)):
        generate_fleet(*args)
