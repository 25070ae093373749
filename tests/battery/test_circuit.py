"""The one circuit and thermal module (slopt.battery.circuit) against closed forms and a plain loop."""

import math

import numpy as np
import pytest

from slopt.battery.circuit import (first_order, periodic_first_order, rc_polarisation_v, rc_voltage,
                                   temperature_rise_k, thermal_response)


def loop(x, a, y0=0.0):
    y, out = y0, []
    for v in x:
        y = a * y + (1 - a) * v
        out.append(y)
    return np.array(out)


def test_first_order_equals_the_recursion_across_blocks():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 300))                       # 300 steps: three 128-step blocks
    y = first_order(x, 0.93, y0=np.array([0.5, -1.0, 2.0]))
    for i, y0 in enumerate([0.5, -1.0, 2.0]):
        np.testing.assert_allclose(y[i], loop(x[i], 0.93, y0), rtol=1e-12, atol=1e-12)


def test_periodic_state_is_the_limit_of_repeating_the_period():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 3, 96)
    long = loop(np.tile(x, 200), 0.97)
    np.testing.assert_allclose(periodic_first_order(x, 0.97), long[-96:], rtol=1e-10)


def test_rc_branch_step_response_closed_form():
    # constant discharge of 20 A from rest: v1(t) = -I R1 (1 - exp(-t/tau)) at the step ends
    r1, tau, dt = 0.012, 40.0, 5.0
    v1 = rc_polarisation_v(np.full(50, -20.0), dt, r1, tau)
    t = dt * np.arange(1, 51)
    np.testing.assert_allclose(v1, -20.0 * r1 * (1 - np.exp(-t / tau)), rtol=1e-12)
    # the terminal voltage of the same circuit with C1 = tau / R1
    v = rc_voltage(np.full(50, -20.0), dt, 0.03, r1, tau / r1, 51.2)
    np.testing.assert_allclose(v, 51.2 - 20.0 * 0.03 + v1, rtol=1e-12)
    # a resistance that varies per step at a fixed time constant: the recursion on R1[k] I[k]
    r1k = np.linspace(0.01, 0.02, 50)
    np.testing.assert_allclose(rc_polarisation_v(np.full(50, 5.0), dt, r1k, tau),
                               loop(5.0 * r1k, math.exp(-dt / tau)), rtol=1e-12)


def test_thermal_step_response_and_steady_state():
    # Q = 50 W into m cp = 1e5 J/K, hA = 2.5 W/K: T = T_amb + Q/hA (1 - exp(-t hA / (m cp)))
    t = 60.0 * np.arange(1, 6001)                      # 9 time constants of 40,000 s
    temp = thermal_response(np.full(6000, 50.0), 60.0, 1e5, 2.5, 25.0)
    np.testing.assert_allclose(temp, 25.0 + 20.0 * (1 - np.exp(-t * 2.5 / 1e5)), rtol=1e-12)
    assert temp[-1] == pytest.approx(45.0, abs=0.01)
    rise = temperature_rise_k(np.full(10, 8.0), 60.0, 1800.0, rise0_k=2.0)
    np.testing.assert_allclose(rise, 8.0 + (2.0 - 8.0) * np.exp(-60.0 * np.arange(1, 11) / 1800.0), rtol=1e-12)
