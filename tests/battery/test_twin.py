"""Digital twin (slopt.battery.twin): circuit and heat by hand, ageing trends, vectorisation,
and the cross-check of the calibrated defaults against NREL's BLAST-Lite."""

import math

import numpy as np
import pandas as pd
import pytest

from slopt.battery.twin import (
    CALIBRATION_CASES, DEFAULT_CHEMISTRY, END_REASONS, TwinOptions, TwinResult, anode_potential_v,
    blast_reference, calibration_table, rc_voltage, simulate_twin, soc_stress, thermal_response,
)
from slopt.fleet.applications import APPLICATIONS, Application
from slopt.fleet.data import generate_fleet


def one(chem="NMC", soh=0.8, r0=50.0, g=0.5, cycles=0.0, trend=None, accelerated=False, kwh=None, bid="X",
        t_min=25.0, t_max=37.0):
    """A one-row fleet table."""
    p = DEFAULT_CHEMISTRY[chem]
    return pd.DataFrame({
        "battery_id": [bid], "chemistry": [chem], "nominal_kwh": [kwh if kwh else p.v_nom * 0.05],
        "soh": [soh], "r0_mohm": [r0], "r_growth": [g], "t_min_c": [t_min], "t_max_c": [t_max],
        "cycle_count": [cycles], "degradation_trend": [trend if trend else p.trend_ref_pp_per_kefc],
        "accelerated": [accelerated]})


def rows(*frames):
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- circuit and heat by hand


def test_rc_step_response_matches_closed_form():
    # discharge step of 10 A from rest: V(t) = OCV - I R0 - I R1 (1 - exp(-t/(R1 C1)))
    ocv, r0, r1, c1, i_d = 50.0, 0.05, 0.02, 2000.0, 10.0      # tau = 40 s
    t = np.arange(1, 301) * 1.0
    v = rc_voltage(np.full(t.size, -i_d), 1.0, r0, r1, c1, ocv)
    expected = ocv - i_d * r0 - i_d * r1 * (1.0 - np.exp(-t / 40.0))
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-12)
    # one value by hand: at t = tau, 50 - 0.5 - 0.2*(1 - e^-1) = 49.373576...
    assert v[39] == pytest.approx(49.5 - 0.2 * (1 - math.exp(-1)), abs=1e-12)
    # relaxation after the current stops at t1 = 100 s: V = OCV - I R1 (1 - e^-100/40) e^-(t-100)/40
    cur = np.r_[np.full(100, -i_d), np.zeros(100)]
    v = rc_voltage(cur, 1.0, r0, r1, c1, ocv)
    t2 = np.arange(101, 201) - 100.0
    np.testing.assert_allclose(v[100:], ocv - i_d * r1 * (1 - math.exp(-2.5)) * np.exp(-t2 / 40.0), atol=1e-12)


def test_rc_voltage_is_exact_for_long_steps_and_batches():
    # a step much longer than tau reaches the DC drop I*(R0 + R1); batches broadcast
    v = rc_voltage(np.array([[5.0, 5.0], [-5.0, -5.0]]), 3600.0, 0.05, 0.02, 2000.0, 50.0)
    np.testing.assert_allclose(v, [[50.35, 50.35], [49.65, 49.65]], atol=1e-12)


def test_thermal_steady_state_and_transient_by_hand():
    # m cp = 5000 J/K, hA = 2 W/K (tau 2500 s), Q = 20 W: steady state 25 + 20/2 = 35 degC
    q = np.full(400, 20.0)
    t = thermal_response(q, 250.0, 5000.0, 2.0, 25.0)
    assert t[-1] == pytest.approx(35.0, abs=1e-9)
    # transient: 25 + 10 (1 - exp(-t/2500)), exact at the step ends
    tt = np.arange(1, 401) * 250.0
    np.testing.assert_allclose(t, 25.0 + 10.0 * (1.0 - np.exp(-tt / 2500.0)), atol=1e-12)
    # cooling from 40 degC without heat
    t = thermal_response(np.zeros(3), 2500.0, 5000.0, 2.0, 25.0, t0_c=40.0)
    np.testing.assert_allclose(t, 25.0 + 15.0 * np.exp(-np.arange(1, 4)), atol=1e-12)


def _rte_app(dod=0.5, c=0.5):
    return Application(name="cc", c_rate=c, cycles_per_year=365, dod=dod, soc_min=0.25, soc_max=0.75,
                       ambient_c=25.0, min_soh=0.1, max_r_growth=50.0, value_usd_per_kwh_year=0.0, demand_kwh=0.0,
                       first_half="discharge", start_hours=(6.0,), gap_h=10.0, jitter_h=0.0)


def test_round_trip_efficiency_of_a_constant_current_cycle_by_hand():
    # fresh module (SOH 1, growth 0), 50 Ah, 0.5 C = 25 A for T = 1 h each way, long rests
    p = DEFAULT_CHEMISTRY["LFP"]
    fleet = one("LFP", soh=1.0, r0=50.0, g=0.0, kwh=p.v_nom * 0.05)
    res = simulate_twin(fleet, [_rte_app()], years=0.01, options=TwinOptions(self_heating=False))
    i, T, tau = 25.0, 3600.0, p.tau1_s
    r0, r1 = 0.050, p.r1_mohm * 1e-3
    loss = i * i * r0 * T + i * i * r1 * (T - tau * (1 - math.exp(-T / tau)))   # J per half cycle
    e = p.v_nom * i * T
    # the twin reports the mean of the start and the end of service; 0.01 years of ageing move it
    # by ~1e-6, while dropping the RC transient term would move the hand value by ~1e-4
    assert res.rte[0, 0] == pytest.approx((e - loss) / (e + loss), abs=1e-5)


def test_soc_stress_is_one_at_half_and_grows_with_soc():
    assert soc_stress(0.5, 43.78) == pytest.approx(1.0)
    s = soc_stress(np.array([0.1, 0.5, 0.9]), 43.78)
    assert s[0] < s[1] < s[2]
    assert anode_potential_v(0.0) > anode_potential_v(1.0)


# --------------------------------------------------------------------------- ageing trends


def test_soh_is_monotone_non_increasing_in_time():
    fleet = generate_fleet(40, seed=5)
    for retire in (True, False):
        res = simulate_twin(fleet, APPLICATIONS, years=10, options=TwinOptions(record_path=True, retire_at_knee=retire))
        assert res.soh_path.shape == (40, 8, 121)
        assert np.all(np.diff(res.soh_path, axis=2) <= 0.0)
        assert np.all(res.soh_path[:, :, 0] == fleet.table["soh"].to_numpy()[:, None])


def _life(fleet, app, years=40.0, **opt):
    return simulate_twin(fleet, [app], years=years, options=TwinOptions(**opt)).second_life_years[:, 0]


def test_hotter_ambient_gives_shorter_life():
    fleet = rows(one("NMC", bid="n"), one("LFP", bid="l"))
    base = APPLICATIONS["solar_pv"].with_(min_soh=0.7)
    lives = np.array([_life(fleet, base.with_(ambient_c=t)) for t in (15.0, 25.0, 35.0, 45.0)])
    assert np.all(lives < 40.0)
    assert np.all(np.diff(lives, axis=0) < 0)                       # strictly shorter when hotter


def test_deeper_cycles_give_shorter_life():
    fleet = rows(one("NMC", bid="n"), one("LFP", bid="l"))
    base = APPLICATIONS["solar_pv"].with_(min_soh=0.7)
    lives = np.array([_life(fleet, base.with_(dod=d)) for d in (0.3, 0.5, 0.8)])
    assert np.all(np.diff(lives, axis=0) < 0)


def test_accelerated_agers_have_shorter_life():
    # identical modules but for the flag: the knee comes at 0.6 x the cycles (2400 vs 4000 for NMC)
    fleet = rows(one("NMC", cycles=2000.0, bid="normal"), one("NMC", cycles=2000.0, accelerated=True, bid="acc"))
    app = APPLICATIONS["grid_time_shift"]
    res = simulate_twin(fleet, [app], years=15)
    assert res.second_life_years[1, 0] < res.second_life_years[0, 0]
    assert END_REASONS[res.end_reason[1, 0]] == "knee"
    # by hand: weighted cycles/year 365 * 0.8^1.66; knee at (2400 - 2000) / that
    rate = 365 * 0.8 ** DEFAULT_CHEMISTRY["NMC"].woehler_k
    assert res.knee_years[1, 0] == pytest.approx(400.0 / rate)
    assert res.knee_years[0, 0] == pytest.approx(2000.0 / rate)
    # without retirement at the knee, the accelerated post-knee fade is stronger
    res = simulate_twin(fleet, [app.with_(min_soh=0.65)], years=15, options=TwinOptions(retire_at_knee=False))
    assert res.second_life_years[1, 0] < res.second_life_years[0, 0]
    # over a generated fleet, accelerated agers live shorter in every cycling application
    fleet = generate_fleet(3000, seed=11)
    res = simulate_twin(fleet, APPLICATIONS, years=10)
    acc = fleet.table["accelerated"].to_numpy()
    for j, name in enumerate(res.application):
        if name != "residential_backup":
            assert res.second_life_years[acc, j].mean() < res.second_life_years[~acc, j].mean(), name


def test_higher_resistance_lowers_efficiency_and_heats_more():
    fleet = rows(one(r0=40.0, bid="a"), one(r0=80.0, bid="b"))
    res = simulate_twin(fleet, APPLICATIONS, years=5)
    assert np.all(res.rte[1] < res.rte[0])
    assert np.all(res.peak_temp_c[1] >= res.peak_temp_c[0])
    assert np.all((res.rte > 0.5) & (res.rte < 1.0))


def test_higher_c_rate_heats_more_and_thermal_limit_is_a_breach():
    fleet = one("NMC", r0=70.0, g=1.0)
    slow, fast = APPLICATIONS["solar_pv"].with_(c_rate=0.25), APPLICATIONS["solar_pv"].with_(c_rate=1.0)
    res = simulate_twin(fleet, [slow, fast.with_(name="fast")], years=5)
    assert res.peak_temp_c[0, 1] > res.peak_temp_c[0, 0] > slow.ambient_c
    # NMC limit 45 degC: at a 44 degC ambient the fast cycle breaches it
    hot = fast.with_(name="hot", ambient_c=44.0)
    res = simulate_twin(fleet, [hot, slow.with_(ambient_c=20.0)], years=5)
    assert res.safety_breach[0, 0] and res.breach_prob[0, 0] == 1.0
    assert res.peak_temp_c[0, 0] > DEFAULT_CHEMISTRY["NMC"].t_limit_c
    assert not res.safety_breach[0, 1]


def test_cold_site_brings_the_knee_forward():
    fleet = one("NMC", cycles=1000.0)
    mg = APPLICATIONS["microgrid"]
    res = simulate_twin(fleet, [mg.with_(ambient_c=25.0), mg.with_(name="cold", ambient_c=-10.0)], years=10)
    assert res.knee_years[0, 1] < res.knee_years[0, 0]


def test_battery_already_below_a_limit_gets_zero_years():
    fleet = rows(one(soh=0.55, bid="low"), one(soh=0.8, g=1.8, bid="highR"), one(soh=0.8, g=0.3, bid="ok"))
    res = simulate_twin(fleet, [APPLICATIONS["grid_time_shift"]], years=10)   # min 0.60, max growth 1.5
    assert res.second_life_years[:2, 0].tolist() == [0.0, 0.0]
    assert [END_REASONS[c] for c in res.end_reason[:, 0]] [:2] == ["unfit", "unfit"]
    assert res.second_life_years[2, 0] > 0
    assert res.soh_end[0, 0] == 0.55


def test_limit_crossing_is_interpolated_within_a_step():
    # coarse (yearly) and fine (monthly) steps agree on the end of life to a few days
    fleet = generate_fleet(60, seed=2)
    app = APPLICATIONS["solar_pv"]
    a = simulate_twin(fleet, [app], options=TwinOptions(steps_per_year=1))
    b = simulate_twin(fleet, [app], options=TwinOptions(steps_per_year=48))
    np.testing.assert_allclose(a.second_life_years, b.second_life_years, atol=0.05)
    ended = b.end_reason[:, 0] == END_REASONS.index("soh")
    np.testing.assert_allclose(b.soh_end[ended, 0], app.min_soh, atol=1e-9)


# --------------------------------------------------------------------------- vectorisation and API


def test_vectorised_result_equals_per_battery_loop():
    fleet = generate_fleet(12, seed=3)
    full = simulate_twin(fleet, APPLICATIONS, years=10)
    fields = ("second_life_years", "rte", "peak_temp_c", "safety_breach", "breach_prob", "soh_end",
              "r_growth_end", "knee_years", "end_reason")
    for i in range(len(fleet)):
        single = simulate_twin(fleet.subset([i]), APPLICATIONS, years=10)
        for f in fields:
            np.testing.assert_allclose(getattr(single, f)[0], getattr(full, f)[i], rtol=1e-12, atol=0, err_msg=f)


def test_blocks_and_threads_do_not_change_results():
    fleet = generate_fleet(300, seed=4)
    a = simulate_twin(fleet, APPLICATIONS, options=TwinOptions(n_threads=1, chunk_size=10_000))
    b = simulate_twin(fleet, APPLICATIONS, options=TwinOptions(n_threads=2, chunk_size=7))
    for f in ("second_life_years", "rte", "soh_end", "breach_prob"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_result_shapes_ranges_and_long_table():
    fleet = generate_fleet(50, seed=1)
    res = simulate_twin(fleet, APPLICATIONS, years=10)
    assert isinstance(res, TwinResult) and res.shape == (50, 8)
    assert res.application == tuple(APPLICATIONS)
    assert np.all((res.second_life_years >= 0) & (res.second_life_years <= 10))
    assert np.all((res.breach_prob >= 0) & (res.breach_prob <= 1))
    amb = np.array([a.ambient_c for a in APPLICATIONS.values()])
    assert np.all(res.peak_temp_c >= amb[None, :])
    assert np.all(res.soh_end <= fleet.table["soh"].to_numpy()[:, None])
    df = res.as_frame()
    assert len(df) == 400 and list(df.columns) == [
        "battery_id", "application", "second_life_years", "rte", "peak_temp_c", "safety_breach", "breach_prob",
        "soh_end", "r_growth_end", "knee_years", "end_reason"]
    assert df.iloc[8]["battery_id"] == fleet.ids[1] and df.iloc[8]["application"] == "grid_time_shift"
    assert res.frame("rte").shape == (50, 8)
    # a DataFrame works as well as a Fleet, and one Application as well as a dict
    res2 = simulate_twin(fleet.table, APPLICATIONS["microgrid"], years=10)
    np.testing.assert_array_equal(res2.second_life_years[:, 0], res.second_life_years[:, 5])


def test_input_errors():
    fleet = generate_fleet(5)
    with pytest.raises(ValueError, match="years"):
        simulate_twin(fleet, APPLICATIONS, years=0)
    with pytest.raises(ValueError, match="lacks columns"):
        simulate_twin(fleet.table.drop(columns="soh"), APPLICATIONS)
    with pytest.raises(ValueError, match="ChemistryParams"):
        simulate_twin(fleet, APPLICATIONS, options=TwinOptions(chemistry={"LFP": DEFAULT_CHEMISTRY["LFP"]}))
    with pytest.raises(ValueError, match="duplicate"):
        simulate_twin(fleet, [APPLICATIONS["solar_pv"]] * 2)
    with pytest.raises(ValueError):
        TwinOptions(steps_per_year=0)
    with pytest.raises(ValueError):
        TwinOptions(resolution_min=7)


# --------------------------------------------------------------------------- BLAST-Lite cross-check


def test_calibrated_defaults_match_blast_lite_within_0_03():
    pytest.importorskip("blast", reason="blast-lite (NREL BLAST-Lite, test extra) is not installed")
    table = calibration_table()
    assert len(table) == len(CALIBRATION_CASES) == 4
    # every case: remaining capacity after 10 years within 0.03 of BLAST-Lite's
    assert (table["diff"].abs() <= 0.03).all(), table.to_string()
    # the references are real ageing, not a trivial 1.0
    assert table["blast_q"].between(0.8, 0.97).all()


def test_blast_reference_depends_on_stress():
    pytest.importorskip("blast", reason="blast-lite (NREL BLAST-Lite, test extra) is not installed")
    deep = blast_reference("Nmc111_Gr_Kokam75Ah_Battery", 0.8, 25.0, years=3)
    shallow = blast_reference("Nmc111_Gr_Kokam75Ah_Battery", 0.3, 25.0, years=3)
    assert deep < shallow < 1.0


def test_seed_003_table_3_module_b4_only_fits_backup():
    # B4: SOH 58 %, 70 mOhm, 35-50 degC, 1800 cycles, an accelerated ager (seed 003 Table 3);
    # seed 003 Table 4 sends it to backup. The twin finds backup its only open application.
    p = DEFAULT_CHEMISTRY["NMC"]
    b4 = one("NMC", soh=0.58, r0=70.0, g=70.0 / p.r_new_mohm - 1, cycles=1800.0, accelerated=True,
             trend=p.trend_ref_pp_per_kefc * 3.7, t_min=35.0, t_max=50.0, bid="B4")
    res = simulate_twin(b4, APPLICATIONS, years=10)
    open_apps = [a for a, y in zip(res.application, res.second_life_years[0]) if y > 0]
    assert open_apps == ["residential_backup"]
