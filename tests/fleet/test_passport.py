"""BMS-history ingestion and battery passport (the LiBat white paper; docs/passport.md).

The synthetic histories know their capacity, resistance and cycle depths by construction
(``attrs["truth"]``), so the estimators are checked against numbers that were put in, not
against the code's own output.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slopt.battery.aging import Woehler, arrhenius_factor
from slopt.errors import InstanceError
from slopt.fleet.passport import (
    HISTORY_COLUMNS, PASSPORT_KEYS, IngestOptions, SynthProfile, ingest_history, passport_record,
    read_history, read_passport, synthesize_history, to_fleet_table, write_passport,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "bms"


def _rel(a, b):
    return abs(a - b) / abs(b)


# --------------------------------------------------------------------------- synthetic recovery


@pytest.mark.parametrize("cap_ah, r_mohm, res_s, seed, prof", [
    (100.0, 45.0, 60, 1, SynthProfile()),
    (60.0, 80.0, 30, 2, SynthProfile(cycles_per_day=2, discharge_c_max=1.5)),
    (250.0, 12.0, 120, 3, SynthProfile(dod_pu=0.6, dod_jitter_pu=0.08, charge_c=0.3)),
])
def test_capacity_resistance_efc_recovered(cap_ah, r_mohm, res_s, seed, prof):
    h = synthesize_history(40, cap_ah, r_mohm, seed=seed, resolution_s=res_s, profile=prof)
    truth = h.attrs["truth"]
    row = ingest_history(h, nominal_ah=1.25 * cap_ah).iloc[0]
    assert _rel(row.capacity_ah, cap_ah) < 0.02
    assert row.soh == pytest.approx(row.capacity_ah / (1.25 * cap_ah))
    assert _rel(row.soh, 0.8) < 0.02
    assert _rel(row.r0_mohm, r_mohm) < 0.10
    assert _rel(row.efc, truth["efc"]) < 0.05
    # k = 1 rainflow count ~ the charge throughput over twice the capacity (the throughput
    # also collects the rectified current-sensor noise of the rests, about 2 %)
    assert _rel(row.efc, row.throughput_ah / (2 * cap_ah)) < 0.05
    # a Woehler exponent > 1 discounts partial cycles
    assert row.efc_woehler < row.efc
    assert row.n_swings == 2 * truth["n_cycles"]
    assert row.quality_flags == ["nominal_v_estimated"]


def test_efc_counts_generated_cycles():
    # 50 cycles of depth 0.9 (no jitter): 45 equivalent full cycles with k = 1
    prof = SynthProfile(dod_pu=0.9, dod_jitter_pu=0.0)
    h = synthesize_history(50, 80.0, 30.0, seed=5, profile=prof)
    row = ingest_history(h, nominal_ah=100.0).iloc[0]
    assert h.attrs["truth"]["n_cycles"] == 50
    assert _rel(row.efc / 0.9, 50) < 0.05
    k = Woehler.LFP.k  # chemistry unknown: LFP law
    assert _rel(row.efc_woehler, 50 * 0.9 ** k) < 0.05
    assert row.woehler_k == k


def test_soh_history_decreases_with_fade():
    prof = SynthProfile(fade_pu=0.06, r_growth_pu=0.3)
    h = synthesize_history(90, 100.0, 50.0, seed=7, profile=prof)
    row = ingest_history(h, nominal_ah=100.0, options=IngestOptions(n_periods=4)).iloc[0]
    hist = row.soh_history
    assert len(hist) == 4
    soh = [p["soh"] for p in hist]
    assert all(a > b for a, b in zip(soh, soh[1:]))
    dates = [pd.Timestamp(p["date"]) for p in hist]
    assert dates == sorted(dates)
    t0 = pd.Timestamp(h["time"].iloc[0])
    span_days = (h["time"].iloc[-1] - t0).total_seconds() / 86400
    for p in hist:
        f = p["days"] / span_days
        assert _rel(p["capacity_ah"], 100.0 * (1 - 0.06 * f)) < 0.02
    assert all(a < b for a, b in zip([p["r0_mohm"] for p in hist], [p["r0_mohm"] for p in hist][1:]))
    assert _rel(row.soh_fade_pu_per_year, 0.06 * 365.25 / span_days) < 0.10
    # the fleet table's unit: SOH points per 1000 equivalent full cycles
    assert [p["efc"] for p in hist] == sorted(p["efc"] for p in hist)
    assert _rel(row.degradation_trend, 6.0 / (h.attrs["truth"]["efc"] / 1000)) < 0.10


def test_three_periods_by_default_and_option_checked():
    h = synthesize_history(12, 50.0, 40.0, seed=2)
    assert len(ingest_history(h, nominal_ah=50.0).iloc[0].soh_history) == 3
    with pytest.raises(ValueError):
        IngestOptions(n_periods=2)


def test_thermal_stress_by_hand():
    t = pd.date_range("2024-06-01", periods=5, freq="h", tz="UTC")
    df = pd.DataFrame({"battery_id": "T1", "time": t, "voltage_v": 50.0, "current_a": 0.0,
                       "temperature_c": [30.0, 40.0, 50.0, -5.0, 20.0], "soc": 0.5})
    row = ingest_history(df, nominal_ah=10.0).iloc[0]
    # sample k holds its temperature until the next sample: 30, 40, 50, -5 for one hour each
    assert row.hours_above_35c == pytest.approx(2.0)
    assert row.hours_above_45c == pytest.approx(1.0)
    assert row.hours_below_0c == pytest.approx(1.0)
    assert (row.t_min_c, row.t_max_c) == (-5.0, 50.0)
    assert row.t_mean_c == pytest.approx((30 + 40 + 50 - 5) / 4)
    expect = sum(arrhenius_factor(x, 50_000.0) for x in (30.0, 40.0, 50.0, -5.0))
    assert row.arrhenius_equiv_h == pytest.approx(expect)
    assert row.arrhenius_mean_factor == pytest.approx(expect / 4)
    assert "no_full_swing" in row.quality_flags and "no_current_steps" in row.quality_flags
    assert math.isnan(row.capacity_ah) and math.isnan(row.r0_mohm)


def test_resistance_from_hand_made_steps():
    # V = 50 + I * 0.040 ohm: every current step gives dV/dI = 40 mOhm
    i = np.array([0, 0, -20, -20, -50, -50, 0, 0, 30, 30, 0], float)
    df = pd.DataFrame({"battery_id": "R1", "time": np.arange(i.size) * 10.0, "voltage_v": 50 + 0.040 * i,
                       "current_a": i, "temperature_c": 25.0, "soc": 0.5})
    row = ingest_history(df, nominal_ah=100.0).iloc[0]
    assert row.r0_mohm == pytest.approx(40.0)
    assert row.n_steps == 5  # every step has |dI| >= 0.2 * p99(|I|) = 10 A


def test_single_sample_battery_next_to_a_full_one():
    h = synthesize_history(4, 100.0, 45.0, seed=6, battery_id="FULL")
    one = h.iloc[:1].assign(battery_id="ONE")
    out = ingest_history(pd.concat([one, h], ignore_index=True), nominal_ah=100.0).set_index("battery_id")
    assert out.loc["ONE", "n_samples"] == 1 and "too_few_samples" in out.loc["ONE", "quality_flags"]
    assert math.isnan(out.loc["ONE", "soh"]) and out.loc["ONE", "efc"] == 0.0
    assert _rel(out.loc["FULL", "capacity_ah"], 100.0) < 0.02


def test_current_sign_inverted_is_flagged():
    h = synthesize_history(10, 100.0, 45.0, seed=3)
    h["current_a"] = -h["current_a"]
    row = ingest_history(h, nominal_ah=100.0).iloc[0]
    assert "current_sign_inverted" in row.quality_flags
    assert _rel(row.capacity_ah, 100.0) < 0.02


def test_dropouts_sensor_faults_gaps_and_jumps():
    h = synthesize_history(10, 100.0, 45.0, seed=4)
    h.loc[100:104, "voltage_v"] = np.nan
    h.loc[200, "temperature_c"] = np.nan
    h.loc[300:301, "temperature_c"] = 250.0
    h.loc[400, "voltage_v"] = -3.0
    h = h.drop(index=range(3000, 3300)).reset_index(drop=True)  # a 5-h logging gap
    row = ingest_history(h, nominal_ah=100.0).iloc[0]
    assert row.voltage_missing == 5 and row.temperature_missing == 1
    assert row.temperature_out_of_range == 2 and row.voltage_out_of_range == 1
    assert row.n_gaps == 1 and row.gap_h == pytest.approx(301 / 60)
    for f in ("voltage_dropouts", "temperature_dropouts", "temperature_sensor_fault", "voltage_sensor_fault", "gaps"):
        assert f in row.quality_flags
    assert row.t_max_c < 100  # the faulty readings are masked
    assert _rel(row.capacity_ah, 100.0) < 0.02
    assert row.n_swings < 20  # the swing that crosses the gap is not used


def test_nominal_from_columns_or_fleet_table():
    h = synthesize_history(6, 90.0, 30.0, seed=8, battery_id="F7")
    fleet = pd.DataFrame({"battery_id": ["F7"], "nominal_kwh": [6.144], "nominal_v": [51.2], "chemistry": ["NMC"]})
    row = ingest_history(h, fleet=fleet).iloc[0]
    assert row.nominal_ah == pytest.approx(120.0)
    assert row.chemistry == "NMC" and row.woehler_k == Woehler.NMC.k
    assert row.soh == pytest.approx(0.75, rel=0.02)
    assert "nominal_v_estimated" not in row.quality_flags
    h2 = h.assign(nominal_ah=120.0, nominal_v=51.2)
    row2 = ingest_history(h2).iloc[0]
    assert row2.soh == pytest.approx(row.soh)
    row3 = ingest_history(h).iloc[0]
    assert math.isnan(row3.soh) and "nominal_unknown" in row3.quality_flags


def test_seconds_time_and_mapping_nominal():
    a = synthesize_history(4, 100.0, 45.0, seed=1, battery_id="A")
    b = synthesize_history(4, 50.0, 90.0, seed=2, battery_id="B")
    df = pd.concat([a, b], ignore_index=True)
    df["time"] = (df["time"] - pd.Timestamp("2024-01-01", tz="UTC")).dt.total_seconds()
    out = ingest_history(df, nominal_ah={"A": 100.0, "B": 62.5})
    assert list(out.battery_id) == ["A", "B"]
    assert out.soh.to_numpy() == pytest.approx([1.0, 0.8], rel=0.02)
    assert str(out.start.iloc[0]).startswith("1970-01-01")


# --------------------------------------------------------------------------- CSV files


def test_fixture_csv_two_interleaved_batteries():
    out = ingest_history(DATA / "two_batteries.csv", nominal_ah=pd.Series({"M-001": 125.0, "M-002": 75.0}))
    assert list(out.battery_id) == ["M-001", "M-002"]
    m1, m2 = out.iloc[0], out.iloc[1]
    assert _rel(m1.capacity_ah, 100.0) < 0.02 and _rel(m2.capacity_ah, 60.0) < 0.02
    assert _rel(m1.r0_mohm, 45.0) < 0.10 and _rel(m2.r0_mohm, 70.0) < 0.10
    assert m2.t_mean_c > m1.t_mean_c + 5  # M-002 ran 7 degC warmer
    assert m1.n_samples == m2.n_samples == 432 and m1.sample_s == 600


def test_csv_roundtrip_matches_dataframe(tmp_path):
    h = synthesize_history(5, 100.0, 45.0, seed=9)
    p = tmp_path / "hist.csv"
    h.to_csv(p, index=False)
    a = ingest_history(h, nominal_ah=100.0).iloc[0]
    b = ingest_history(p, nominal_ah=100.0).iloc[0]
    for k in ("capacity_ah", "r0_mohm", "efc", "t_max_c", "hours_above_35c"):
        assert a[k] == pytest.approx(b[k])


def test_read_history_sorts_and_keeps_row_numbers():
    df = pd.DataFrame({"Battery_ID": ["b", "a", "b", "a"], "time": [0, 0, 60, 60], "voltage_v": [50, 51, 50, ""],
                       "current_a": [0, 1, 0, 1], "temperature_c": [20, 20, None, 20], "soc": [0.5] * 4})
    before = df.copy()
    h = read_history(df)
    pd.testing.assert_frame_equal(df, before)  # input not mutated
    assert list(h.battery_id) == ["b", "b", "a", "a"] and list(h.row) == [1, 3, 2, 4]
    assert np.isnan(h.voltage_v.iloc[3]) and np.isnan(h.temperature_c.iloc[1])
    assert str(h.time.dtype) == "datetime64[ns, UTC]"


# --------------------------------------------------------------------------- validation messages

GOOD = ("battery_id,time,voltage_v,current_a,temperature_c,soc\n"
        + "".join(f"B1,2024-01-01T00:{m:02d}:00,52.{m},{-10 if m % 3 else 0},25,{0.9 - 0.01 * m:.2f}\n"
                  for m in range(20)))


def _edit(row: int, col: str, value: str) -> str:
    lines = GOOD.splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(col)] = value
    lines[row] = ",".join(cells)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, expect", [
    (_edit(12, "current_a", "x"), "row 12, current_a = 'x': not a number (line 13)"),
    (_edit(5, "current_a", ""), "row 5, current_a = '': missing value (line 6)"),
    (_edit(3, "voltage_v", "4..2"), "row 3, voltage_v = '4..2': not a number (line 4)"),
    (_edit(7, "soc", "1.3"), "row 7, soc = 1.3: outside [0, 1] (line 8)"),
    (_edit(7, "soc", "85"), "row 7, soc = 85.0: outside [0, 1] (line 8)"),
    (_edit(4, "temperature_c", "inf"), "row 4, temperature_c = inf: not a finite number (line 5)"),
    (_edit(9, "time", "2024-01-01T00:02:00"),
     "row 9, time = '2024-01-01T00:02:00': same time as row 3 of battery 'B1' with different values (line 10)"),
    (_edit(9, "time", "yesterday"), "row 9, time = 'yesterday': not an ISO 8601 datetime or a number of seconds (line 10)"),
    (_edit(2, "time", "60"), "row 2, time = '60': not an ISO 8601 datetime (row 1 gives a datetime) (line 3)"),
    (_edit(6, "battery_id", ""), "row 6, battery_id = '': missing value (line 7)"),
    (GOOD.replace(",soc\n", ",state\n", 1), "header = 'battery_id,time,voltage_v,current_a,temperature_c,state': "
                                            "missing column 'soc'"),
    (GOOD.replace(",soc\n", ",soc,SOC\n", 1), "duplicate column 'soc'"),
    (GOOD.splitlines()[0] + "\n", "rows = 0: history has no data rows"),
    ("", "file is empty"),
])
def test_validation_errors_are_one_line_with_row_and_column(tmp_path, text, expect):
    p = tmp_path / "hist.csv"
    p.write_text(text)
    with pytest.raises(InstanceError) as e:
        ingest_history(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{p}: ")
    assert expect in msg


def test_blank_lines_keep_line_numbers(tmp_path):
    lines = GOOD.splitlines()
    lines.insert(3, "")
    lines[12] = lines[12].replace(",25,", ",hot,")
    p = tmp_path / "hist.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InstanceError, match=r"row 11, temperature_c = 'hot': not a number \(line 13\)"):
        read_history(p)


def test_percent_soc_gets_a_hint(tmp_path):
    lines = GOOD.splitlines()
    lines[1:] = [",".join(c.split(",")[:-1] + [str(100 * float(c.split(",")[-1]))]) for c in lines[1:]]
    p = tmp_path / "hist.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InstanceError, match=r"row 1, soc = 90.0: outside \[0, 1\]; soc is a fraction, not percent"):
        read_history(p)


def test_good_csv_reads(tmp_path):
    p = tmp_path / "hist.csv"
    p.write_text(GOOD)
    h = read_history(p)
    assert len(h) == 20 and tuple(h.columns[:2]) == ("battery_id", "time")
    assert set(HISTORY_COLUMNS) <= set(h.columns)


def test_dataframe_errors_have_no_file_prefix():
    df = pd.DataFrame({"battery_id": ["A"] * 3, "time": [0.0, 1.0, 2.0], "voltage_v": [1.0] * 3,
                       "current_a": [0.0, "bad", 1.0], "temperature_c": [20.0] * 3, "soc": [0.1] * 3})
    with pytest.raises(InstanceError, match=r"^row 2, current_a = 'bad': not a number$"):
        read_history(df)
    with pytest.raises(InstanceError, match=r"^row 3, soc = -0.2: outside \[0, 1\]$"):
        read_history(df.assign(current_a=0.0, soc=[0.1, 0.1, -0.2]))
    with pytest.raises(InstanceError, match="missing column 'temperature_c'"):
        read_history(df.drop(columns="temperature_c"))


def test_missing_file():
    with pytest.raises(InstanceError, match="no such file"):
        ingest_history("/nonexistent/hist.csv")


# --------------------------------------------------------------------------- passport records


@pytest.fixture(scope="module")
def summary():
    a = synthesize_history(30, 100.0, 45.0, seed=1, battery_id="P1", profile=SynthProfile(fade_pu=0.03))
    b = synthesize_history(30, 60.0, 70.0, seed=2, battery_id="P2")
    return ingest_history(pd.concat([a, b], ignore_index=True).assign(chemistry="LFP"),
                          nominal_ah={"P1": 125.0, "P2": 80.0}, nominal_v=51.2)


def test_passport_record_keys_and_json(summary):
    rec = passport_record(summary, "P1")
    assert tuple(rec) == PASSPORT_KEYS
    assert rec["battery_id"] == "P1" and rec["chemistry"] == "LFP"
    assert rec["rated"] == {"capacity_ah": 125.0, "voltage_v": 51.2, "energy_kwh": pytest.approx(6.4)}
    assert rec["state_of_health"]["soh"] == pytest.approx(summary.soh.iloc[0])
    assert len(rec["soh_history"]) >= 3
    assert all({"date", "soh"} <= set(p) for p in rec["soh_history"])
    assert rec["internal_resistance"]["r0_mohm"] == pytest.approx(summary.r0_mohm.iloc[0])
    assert rec["cycles"]["equivalent_full_cycles"] == pytest.approx(summary.efc.iloc[0])
    assert {"t_max_c", "hours_above_35c", "hours_above_45c", "arrhenius_equiv_h"} <= set(rec["thermal"])
    assert rec["data_quality"]["flags"] == [] and rec["data_quality"]["n_gaps"] == 0
    json.dumps(rec, allow_nan=False)  # plain JSON types only


def test_passport_write_read_roundtrip(tmp_path, summary):
    rec = passport_record(summary.iloc[1])
    p = write_passport(rec, tmp_path / "out" / "P2.json")
    assert p.exists() and not list(p.parent.glob(".*.tmp"))
    back = read_passport(p)
    assert back == rec


def test_passport_nan_becomes_null(tmp_path):
    df = pd.DataFrame({"battery_id": "Z", "time": [0.0, 60.0], "voltage_v": 50.0, "current_a": 0.0,
                       "temperature_c": 20.0, "soc": 0.5})
    rec = passport_record(ingest_history(df))
    assert rec["state_of_health"]["soh"] is None and rec["internal_resistance"]["r0_mohm"] is None
    back = read_passport(write_passport(rec, tmp_path / "z.json"))
    assert back == rec and "nominal_unknown" in back["data_quality"]["flags"]


def test_read_passport_rejects_incomplete(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"schema": "slopt.passport/1", "battery_id": "X"}))
    with pytest.raises(InstanceError, match="missing key 'chemistry'"):
        read_passport(p)
    p.write_text("{not json")
    with pytest.raises(InstanceError, match="not JSON"):
        read_passport(p)


def test_passport_record_needs_one_battery(summary):
    with pytest.raises(ValueError, match="expected one battery, found 2"):
        passport_record(summary)
    with pytest.raises(ValueError, match="found 0 rows"):
        passport_record(summary, "nope")


def test_synthesize_is_deterministic_and_checks_arguments():
    a = synthesize_history(3, 50.0, 40.0, seed=123)
    b = synthesize_history(3, 50.0, 40.0, seed=123)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(synthesize_history(3, 50.0, 40.0, seed=124))
    assert len(a) == 3 * 1440 and a["soc"].between(0, 1).all()
    with pytest.raises(ValueError, match="resolution_s"):
        synthesize_history(1, 50.0, 40.0, seed=0, resolution_s=7)
    with pytest.raises(ValueError, match="does not fit"):
        synthesize_history(1, 50.0, 40.0, seed=0, profile=SynthProfile(cycles_per_day=8, charge_c=0.2))


def test_passport_summary_feeds_grading_and_clustering(summary):
    from slopt.fleet.grading import cluster, health_score

    fleet = to_fleet_table(summary, r_new_mohm={"P1": 30.0})
    assert list(fleet.columns) == ["battery_id", "chemistry", "nominal_kwh", "soh", "r0_mohm", "r_growth",
                                   "t_min_c", "t_max_c", "cycle_count", "degradation_trend", "accelerated",
                                   "passport_ok", "passport_flags"]
    assert fleet["passport_ok"].all()
    p1, p2 = fleet.iloc[0], fleet.iloc[1]
    assert p1.r_growth == pytest.approx(summary.r0_mohm.iloc[0] / 30.0 - 1.0)
    assert p2.r_growth == pytest.approx(summary.r0_mohm.iloc[1] / 30.0 - 1.0)  # LFP new-module R0 of the twin
    assert p1.cycle_count == pytest.approx(summary.efc.iloc[0]) and p1.degradation_trend > 0
    assert bool(p1.accelerated) and not bool(p2.accelerated)  # P1 fades 3 % in 30 days
    fleet["degradation_trend"] = fleet["degradation_trend"].fillna(0.0).clip(lower=0.0)
    scores = health_score(fleet)
    assert scores["score"].between(0, 100).all()
    assert len(cluster(fleet, 1, seed=0).labels) == 2
