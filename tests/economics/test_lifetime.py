"""Service life against Eq. 7b and hand-computed calendar/knee cases; replacement years."""

import numpy as np
import pytest

from slopt.battery.aging import remaining_cycles
from slopt.economics.lifetime import replacements_by_year, service_life_years


def test_cycle_life_equals_eq7b_remaining_cycles():
    # no knee, no calendar fade: the years are Eq. 7b's cycles from SOH 0.8 minus those left at 0.6,
    # over the yearly cycles
    for efc in (50.0, 200.0, 700.0):
        expect = (remaining_cycles(0.8) - remaining_cycles(0.6)) / efc
        got = service_life_years(0.8, efc, eol_soh=0.6, cap_years=100.0, step_years=1 / 365)
        assert float(got) == pytest.approx(expect, rel=2e-3)


def test_calendar_and_knee_by_hand():
    # 0.8 -> 0.7 at 0.02/yr: 5 years; past the knee twice as fast, 0.7 -> 0.6: 2.5 years
    got = service_life_years([0.8, 0.75], 0.0, eol_soh=0.6, cap_years=50.0, knee_soh=0.7, knee_factor=2.0,
                             calendar_pu_per_year=0.02)
    assert got == pytest.approx([7.5, 5.0], abs=1e-6)
    # faster fade (rate 1.5) shortens it by the same factor
    fast = service_life_years(0.8, 0.0, eol_soh=0.6, cap_years=50.0, knee_soh=0.7, knee_factor=2.0,
                              calendar_pu_per_year=0.02, rate_mult=1.5)
    assert float(fast) == pytest.approx(5.0, abs=1e-6)


def test_cap_and_errors():
    assert float(service_life_years(0.8, 0.0, eol_soh=0.6, cap_years=6.0)) == 6.0
    with pytest.raises(ValueError):
        service_life_years(0.6, 10.0, eol_soh=0.6, cap_years=6.0)


def test_replacements_by_year_by_hand():
    k = replacements_by_year([2.5, 6.0, 0.5, 11.0], 10)
    # 2.5: years 3 (2.5), 5, 8 (7.5); the one at 10 is the horizon (recycled instead)
    assert list(np.flatnonzero(k[0])) == [3, 5, 8]
    assert list(np.flatnonzero(k[1])) == [6]
    assert k[2, 1:10].tolist() == [2.0] * 9 and k[2, 0] == 0 and k[2, 10] == 0
    assert k[3].sum() == 0
