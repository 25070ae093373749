"""Applications of Tang et al. §4 / Kumar et al. §3D: requirements, routes, duty cycles."""

import numpy as np
import pytest

from slopt.battery.aging import rainflow_cycles
from slopt.errors import InstanceError
from slopt.fleet.applications import (
    APPLICATIONS, DAYS_PER_YEAR, ECHELON_MIN_SOH, REMANUFACTURE_MIN_SOH, ROUTES, Application, duty_cycle,
    representative_day, route_feasible, scale_demands, soc_trajectory,
)

EIGHT = ("grid_time_shift", "solar_pv", "residential_backup", "frequency_regulation", "peak_shaving", "microgrid",
         "commercial_industrial", "ev_charging_buffer")


def test_the_eight_applications_and_their_requirements():
    assert tuple(APPLICATIONS) == EIGHT
    for name, a in APPLICATIONS.items():
        assert a.name == name and a.source and a.description
        assert 0 < a.dod <= a.soc_max - a.soc_min
        assert 0 < a.min_soh < 1 and a.max_r_growth > 0 and a.value_usd_per_kwh_year > 0 and a.demand_kwh > 0
    fr, backup, ps = APPLICATIONS["frequency_regulation"], APPLICATIONS["residential_backup"], APPLICATIONS["peak_shaving"]
    # Tang et al.: frequency regulation needs the highest C-rate and cycles most, and is the strictest;
    # backup cycles least and tolerates the most ageing
    assert fr.c_rate == max(a.c_rate for a in APPLICATIONS.values())
    assert fr.cycles_per_year == max(a.cycles_per_year for a in APPLICATIONS.values())
    assert backup.cycles_per_year == min(a.cycles_per_year for a in APPLICATIONS.values())
    assert fr.min_soh == max(a.min_soh for a in APPLICATIONS.values())
    assert backup.min_soh == min(a.min_soh for a in APPLICATIONS.values())
    assert backup.max_r_growth == max(a.max_r_growth for a in APPLICATIONS.values())
    # C-rates from Tang et al. Table 3 power-to-energy ratios
    assert ps.c_rate == 0.25 and APPLICATIONS["commercial_industrial"].c_rate == 0.25
    assert APPLICATIONS["microgrid"].ambient_c < 10                  # Tang et al. §4.3.1: cold sites
    assert APPLICATIONS["residential_backup"].rest_soc == APPLICATIONS["residential_backup"].soc_max


def test_routes():
    assert ROUTES == ("remanufacture", "recycle")
    assert REMANUFACTURE_MIN_SOH == 0.8 and ECHELON_MIN_SOH == 0.55
    np.testing.assert_array_equal(route_feasible("remanufacture", [0.79, 0.8, 0.95]), [False, True, True])
    assert route_feasible("recycle", [0.1, 0.9]).all()
    with pytest.raises(ValueError):
        route_feasible("landfill", 0.5)


@pytest.mark.parametrize("change, field", [
    (dict(dod=1.2), "dod"), (dict(dod=0.0), "dod"), (dict(c_rate=0.0), "c_rate"),
    (dict(soc_min=0.9, soc_max=0.5), "soc_min"), (dict(dod=0.9, soc_min=0.1, soc_max=0.9), "dod"),
    (dict(min_soh=1.5), "min_soh"), (dict(max_r_growth=-1.0), "max_r_growth"), (dict(cycles_per_year=-1), "cycles_per_year"),
    (dict(first_half="sideways"), "first_half"), (dict(start_hours=(25.0,)), "start_hours"),
    (dict(gap_h=30.0), "gap_h"), (dict(ambient_c=float("nan")), "ambient_c"), (dict(demand_kwh=-5.0), "demand_kwh"),
])
def test_invalid_applications_raise_one_line_instance_errors(change, field):
    with pytest.raises(InstanceError) as e:
        APPLICATIONS["solar_pv"].with_(**change)
    msg = str(e.value)
    assert msg.startswith(f"application 'solar_pv': {field} = ") and "\n" not in msg


def test_scale_demands():
    half = scale_demands(APPLICATIONS, 0.5)
    assert all(half[k].demand_kwh == APPLICATIONS[k].demand_kwh / 2 for k in APPLICATIONS)
    assert APPLICATIONS["solar_pv"].demand_kwh == 20.0                 # originals untouched
    with pytest.raises(ValueError):
        scale_demands(APPLICATIONS, -1)


@pytest.mark.parametrize("name", EIGHT)
def test_duty_cycle_realises_cycles_depth_and_c_rate(name):
    a = APPLICATIONS[name]
    c = duty_cycle(a, resolution_min=15, days=365, seed=1)
    assert c.shape == (365 * 96,)
    assert abs(c.sum()) < 1e-9                                        # charge balance
    assert np.max(np.abs(c)) == pytest.approx(a.c_rate)               # the peak rate is reached, never exceeded
    soc = soc_trajectory(a, c, 15)
    assert soc.min() >= a.soc_min - 1e-12 and soc.max() <= a.soc_max + 1e-12
    # rainflow: the year holds round(cycles_per_year) cycles of depth dod (half cycles at the ends
    # of a centred series, 2 x 0.5 of depth dod/2, carry no extra depth)
    cyc = rainflow_cycles(soc)
    deep = cyc[np.isclose(cyc["range"], a.dod)]
    assert deep["count"].sum() == pytest.approx(round(a.cycles_per_year), abs=1.0)
    assert cyc["range"].max() == pytest.approx(a.dod)
    # equivalent full cycles per year: cycles * dod
    assert np.abs(c).sum() * 0.25 / 2 == pytest.approx(round(a.cycles_per_year) * a.dod)


def test_duty_cycle_by_hand_for_peak_shaving():
    # 0.8 DoD at 0.25 C is 3.2 h = 12.8 steps of 15 min: 12 steps at -0.25 C and one at -0.2 C,
    # from 17:00 (step 68) on day 0 (cycle i sits on day floor((i + 0.5) * 365 / 250) = 0);
    # a 4.8 h rest = 19 steps (81..99, past midnight); the recharge mirrors the discharge
    a = APPLICATIONS["peak_shaving"].with_(jitter_h=0.0)
    c = duty_cycle(a, 15, days=365)
    assert c[:68].tolist() == [0.0] * 68
    np.testing.assert_allclose(c[68:80], -0.25)
    assert c[80] == pytest.approx(-0.2)
    assert c[81:100].tolist() == [0.0] * 19
    np.testing.assert_allclose(c[100:112], 0.25)
    assert c[112] == pytest.approx(0.2)
    assert c[113] == 0.0


def test_duty_cycle_is_seeded():
    a = APPLICATIONS["solar_pv"]
    np.testing.assert_array_equal(duty_cycle(a, 15, 30, seed=4), duty_cycle(a, 15, 30, seed=4))
    assert not np.array_equal(duty_cycle(a, 15, 30, seed=4), duty_cycle(a, 15, 30, seed=5))
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(duty_cycle(a, 15, 30, seed=rng), duty_cycle(a, 15, 30, seed=4))


def test_duty_cycle_errors_and_resolutions():
    a = APPLICATIONS["grid_time_shift"]
    with pytest.raises(ValueError):
        duty_cycle(a, resolution_min=7)
    with pytest.raises(ValueError):
        duty_cycle(a, days=0)
    # 1-minute and hourly steps keep the charge balance and the depth
    for res in (1, 5, 60):
        c = duty_cycle(a, res, days=3)
        soc = soc_trajectory(a, c, res)
        assert abs(c.sum()) < 1e-9 and soc.max() - soc.min() == pytest.approx(a.dod)
    # too many cycles for a day
    busy = a.with_(cycles_per_year=3 * DAYS_PER_YEAR)
    with pytest.raises(ValueError, match="do not fit"):
        duty_cycle(busy, 15, days=1)


def test_representative_day():
    c, act = representative_day(APPLICATIONS["residential_backup"])
    assert act == pytest.approx(24 / 365)
    assert (c < 0).any() and abs(c.sum()) < 1e-12
    c, act = representative_day(APPLICATIONS["frequency_regulation"])
    assert act == pytest.approx(1.0)
    soc = soc_trajectory(APPLICATIONS["frequency_regulation"], c)
    assert rainflow_cycles(soc)["range"].max() == pytest.approx(0.25)
    c, act = representative_day(APPLICATIONS["microgrid"])
    assert act == pytest.approx(438 / 365)                            # one cycle on the day, 1.2 a day on average
    # the twin's protocol
    a = APPLICATIONS["solar_pv"]
    c1, act1 = a.representative_day(15)
    np.testing.assert_array_equal(c1, representative_day(a, 15)[0])
    np.testing.assert_array_equal(a.soc_trajectory(c1, 15), soc_trajectory(a, c1, 15))


def test_application_is_frozen_and_custom_ones_work():
    a = Application(name="telecom", c_rate=0.2, cycles_per_year=52, dod=0.5, soc_min=0.2, soc_max=1.0, ambient_c=35,
                    min_soh=0.5, max_r_growth=2.0, value_usd_per_kwh_year=10.0, demand_kwh=float("inf"))
    assert a.efc_per_year == 26 and a.half_cycle_h == 2.5 and a.start_hours == (0.0,)
    with pytest.raises(Exception):
        a.dod = 0.9
