"""Yuan et al. Eq. 1-2 with the Table 1 coefficients, checked against Table 2."""

import numpy as np
import pytest

from slopt.battery.cost import (NEW_DEFAULT, RETIRED_DEFAULT, annualised_cost_usd, capital_recovery_factor,
                                cost_breakdown_usd, storage_cost_usd)


def test_table2_node8_exact():
    # 22.5 kWh * (1+0.1+0.3+0.01+0.1) $/Wh + 18 kW * 0.3 $/W = 33,975 + 5,400
    assert storage_cost_usd(NEW_DEFAULT, 22.5, 18.0) == pytest.approx(39_375.0, abs=1e-9)


@pytest.mark.parametrize(
    "tech, e_kwh, p_kw, table2_usd",
    [
        (RETIRED_DEFAULT, 84.5, 22.0, 90_376.0),   # node 18, retired
        (NEW_DEFAULT, 56.0, 45.0, 98_597.0),       # node 30, new
        (RETIRED_DEFAULT, 130.0, 39.0, 139_487.0),  # node 30, retired
    ],
)
def test_table2_rows_within_one_percent(tech, e_kwh, p_kw, table2_usd):
    assert storage_cost_usd(tech, e_kwh, p_kw) == pytest.approx(table2_usd, rel=0.01)


def test_table2_node30_total_within_one_percent():
    total = storage_cost_usd(NEW_DEFAULT, 56, 45) + storage_cost_usd(RETIRED_DEFAULT, 130, 39)
    assert total == pytest.approx(238_084.0, rel=0.01)


def test_breakdown_sums_to_eq2_and_uses_wh_units():
    parts = cost_breakdown_usd(RETIRED_DEFAULT, 10.0, 4.0)
    assert parts["C1_battery"] == pytest.approx(0.5 * 10_000)
    assert parts["C2_pcs"] == pytest.approx(0.2 * 4_000)
    assert sum(parts.values()) == pytest.approx(storage_cost_usd(RETIRED_DEFAULT, 10.0, 4.0))


def test_vectorised():
    out = storage_cost_usd(NEW_DEFAULT, np.array([22.5, 0.0]), np.array([18.0, 1.0]))
    np.testing.assert_allclose(out, [39_375.0, 300.0])


def test_crf_known_value_and_zero_rate():
    # textbook: 6 %, 20 years -> 0.08718
    assert capital_recovery_factor(0.06, 20) == pytest.approx(0.087185, abs=1e-6)
    assert capital_recovery_factor(0.0, 8) == pytest.approx(1 / 8)


def test_annualised_counts_replacements():
    # zero discount, 20-year horizon, 10-year life: two purchases spread over 20 years
    one = annualised_cost_usd(NEW_DEFAULT, 1.0, 0.0, rate=0.0, horizon_years=20, lifetime_years=20)
    two = annualised_cost_usd(NEW_DEFAULT, 1.0, 0.0, rate=0.0, horizon_years=20, lifetime_years=10)
    om = 1000 * NEW_DEFAULT.cw_usd_per_wh_yr
    assert (two - om) == pytest.approx(2 * (one - om))
    assert one == pytest.approx(1000 * (1 + 0.1 + 0.3 + 0.1) / 20 + om)
