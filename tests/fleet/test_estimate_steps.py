"""Each estimation step of slopt.fleet.estimate on its own, on hand-made samples with known answers."""

import numpy as np
import pandas as pd
import pytest

from slopt.battery.chemistry import Woehler
from slopt.fleet.estimate import (IngestOptions, count_cycles, estimate_capacity, estimate_resistance, legs_capacity,
                                  plausible, prepare_samples, soc_noise, thermal_stress, turning_points)


def rows(current_a, soc, volt, temp=25.0, dt_s=60.0):
    n = len(current_a)
    return pd.DataFrame({"t_s": dt_s * np.arange(n), "voltage_v": np.asarray(volt, float),
                         "current_a": np.asarray(current_a, float), "temperature_c": np.broadcast_to(temp, n).astype(float),
                         "soc": np.asarray(soc, float)})


def cycles(n_cycles=3, cap_ah=50.0, r_ohm=0.04, depth=0.8, c=0.5, dt_s=60.0):
    """Constant-current cycles from SOC 0.9: rest, discharge by depth, rest, charge back; V = 3.2*16 + I R."""
    steps = int(round(depth / c * 3600 / dt_s))
    one = np.r_[np.zeros(10), np.full(steps, -c * cap_ah), np.zeros(10), np.full(steps, c * cap_ah)]
    i = np.r_[np.tile(one, n_cycles), np.zeros(10)]                   # a final rest closes the last charge
    soc = 0.9 + np.concatenate(([0.0], np.cumsum(i[:-1]) * dt_s / 3600 / cap_ah))
    return rows(i, soc, 51.2 + i * r_ohm, dt_s=dt_s)


def test_turning_points_with_hysteresis_by_hand():
    x = np.array([0.5, 0.6, 0.59, 0.9, 0.2, 0.25, 0.21, 0.7])
    # the 0.01 dip and the 0.05 rise are below the hysteresis 0.1: not turning points
    assert turning_points(x, 0.1).tolist() == [0, 3, 4, 7]
    assert turning_points(x, 0.001).tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_legs_capacity_is_the_inverse_slope():
    q = np.linspace(0.0, -40.0, 41)                      # Ah moved
    soc = 0.9 + q / 50.0                                 # a 50 Ah cell
    assert legs_capacity(soc, q, np.array([0]), np.array([40]))[0] == pytest.approx(50.0)


def test_capacity_resistance_and_cycles_step_by_step():
    g = cycles()
    opts = IngestOptions()
    s = prepare_samples(g, opts)
    assert s.sample_s == 60.0 and not s.gap.any() and s.counts["voltage_missing"] == 0
    flags = []
    sw = estimate_capacity(s, opts, flags)
    assert sw.capacity_ah == pytest.approx(50.0, rel=1e-9) and sw.sign == 1.0 and sw.cap.size == 6
    res = estimate_resistance(s, sw, opts, flags)
    assert res.median_mohm == pytest.approx(40.0, rel=1e-9)    # dV/dI at the current steps
    cyc = count_cycles(s, sw, Woehler(1.0, 2.0), flags)
    assert cyc.efc == pytest.approx(3 * 0.8)                    # three cycles of depth 0.8
    assert cyc.efc_woehler == pytest.approx(3 * 0.8 ** 2)       # weighted D^k, k = 2
    assert flags == []


def test_inverted_current_sign_is_detected():
    g = cycles()
    g["current_a"] = -g["current_a"]
    flags = []
    sw = estimate_capacity(prepare_samples(g, IngestOptions()), IngestOptions(), flags)
    assert sw.sign == -1.0 and "current_sign_inverted" in flags and sw.capacity_ah == pytest.approx(50.0)


def test_soc_noise_and_thermal_stress_by_hand():
    rng = np.random.default_rng(0)
    soc = 0.5 + np.round(rng.normal(0, 0.002, 20000), 4)
    sigma, quantum = soc_noise(soc)
    assert sigma == pytest.approx(0.002, rel=0.05) and quantum == 1e-4
    # 10 h at 40 degC then 10 h at 20 degC (the last sample's temperature is not held)
    g = rows(np.zeros(1201), np.full(1201, 0.5), np.full(1201, 51.2), temp=np.r_[np.full(600, 40.0), np.full(601, 20.0)])
    th = thermal_stress(prepare_samples(g, IngestOptions()), IngestOptions(hot_thresholds_c=(35.0,)))
    assert th["hours_above_35c"] == pytest.approx(10.0) and th["t_mean_c"] == pytest.approx(30.0)
    assert th["t_min_c"] == 20.0 and th["t_max_c"] == 40.0


def test_plausibility_refusals():
    flags = []
    soh, r = plausible(53.0, 50.0, 30.0, IngestOptions(), flags)
    assert np.isnan(soh) and "soh_implausible" in flags                # 1.06 > 1 + 0.05
    flags = []
    soh, r = plausible(51.0, 50.0, -2.0, IngestOptions(), flags)
    assert soh == pytest.approx(1.02) and np.isnan(r) and flags == ["soh_above_rated", "resistance_implausible"]
