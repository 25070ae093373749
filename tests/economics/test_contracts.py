"""Fee bands: closed form against hand numbers, bisection and a brute-force grid."""

import numpy as np
import pytest

from slopt.economics.cashflows import Fees, components, party_flows
from slopt.economics.contracts import break_even_fee, fee_band, resolve_fees
from slopt.economics.metrics import npv
from slopt.economics.prices import MODELS

from tests.economics.conftest import hand_plan, hand_prices


def _npvs(c, model, fees, prices, f):
    flows = party_flows(c, model, fees.with_fee(model, f), prices)
    return {p: npv(prices.finance.rate(p), v[0]) for p, v in flows.items()}


def test_paas_band_by_hand():
    # manufacturer: -1000 - 100/1.1 - 100/1.21 + 100 f (1 + 1/1.1) >= 0  ->  f >= 1173.5537 / 190.9091
    # user: -100 f (1 + 1/1.1) + 3785/1.1 + 3785/1.21 >= 0               ->  f <= 6569.0083 / 190.9091
    c, prices = components(hand_plan(), hand_prices()), hand_prices()
    band = fee_band(c, "PaaS", Fees(0, 0, 0, 0), prices)
    assert band.exists
    assert band.lo == pytest.approx((1000 + 100 / 1.1 + 100 / 1.21) / 190.909090909, rel=1e-9)
    assert band.hi == pytest.approx((3785 / 1.1 + 3785 / 1.21) / 190.909090909, rel=1e-9)
    assert (band.lower_party, band.upper_party) == ("manufacturer", "user")


def _bisect(fun, lo, hi, n=200):
    flo = fun(lo)
    for _ in range(n):
        mid = 0.5 * (lo + hi)
        if (fun(mid) >= 0) == (flo >= 0):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("pcs", [20.0, 60.0])
@pytest.mark.parametrize("model", MODELS)
def test_band_edges_match_bisection_and_grid(model, pcs):
    plan = hand_plan(efc_per_day=0.8, lifetime_years=8.0)
    prices = hand_prices(finance__horizon_years=8, supply__pcs_usd_per_kw=pcs,
                         supply__grades=[{"soh_min": 0.0, "usd_per_kwh": 30.0}], finance__discount_user=0.05)
    c = components(plan, prices)
    fees = resolve_fees(c, prices)
    band = fee_band(c, model, fees, prices)
    for party in band.coef:
        a, b = band.coef[party]
        if abs(b) < 1e-12:
            continue
        root = _bisect(lambda f: _npvs(c, model, fees, prices, f)[party], -1e5, 1e5)
        assert -a / b == pytest.approx(root, rel=1e-7, abs=1e-7)
    grid = np.linspace(0, 2 * max(1.0, band.hi if band.exists and np.isfinite(band.hi) else 100.0), 2001)
    ok = np.array([min(_npvs(c, model, fees, prices, f).values()) >= -1e-7 for f in grid])
    if band.exists:
        inside = (grid >= band.lo - 1e-9) & (grid <= band.hi + 1e-9)
        assert np.array_equal(ok, inside)
    else:
        assert not ok.any()


def test_no_band_when_grid_operator_pays_more_than_it_saves():
    prices = hand_prices(value__voltage_support_usd_per_kw_yr=30.0, value__deferral_usd_per_kw_yr=10.0)
    band = fee_band(components(hand_plan(), prices), "PaaS", Fees(0, 0, 0, 0), prices)
    assert not band.exists and "grid" in band.reason and np.isnan(band.lo)


def test_no_band_when_the_plan_earns_too_little():
    prices = hand_prices(supply__pcs_usd_per_kw=2000.0)      # capex 100,000 $ against ~3,800 $/yr
    band = fee_band(components(hand_plan(), prices), "PaaS", Fees(0, 0, 0, 0), prices)
    assert not band.exists and "manufacturer needs" in band.reason


def test_default_fees_are_cost_plus():
    prices = hand_prices(contract__markup=0.2)
    c = components(hand_plan(), prices)
    fees = resolve_fees(c, prices)
    be = break_even_fee(c, "PaaS", fees, prices)
    assert fees.paas_usd_per_kwh_yr == pytest.approx(1.2 * be)
    assert be == pytest.approx((1000 + 100 / 1.1 + 100 / 1.21) / 190.909090909)
    given = resolve_fees(c, hand_prices(contract__paas_fee_usd_per_kwh_yr=7.0))
    assert given.paas_usd_per_kwh_yr == 7.0


def test_paas_break_even_is_the_capital_recovery_annuity():
    # no O&M, no replacements, subscription paid in arrears: the manufacturer breaks even when the
    # subscription is the annuity of the capex, capex x CRF(r, N) (slopt.battery.cost)
    from slopt.battery.cost import capital_recovery_factor

    prices = hand_prices(supply__om_usd_per_kwh_yr=0.0, finance__horizon_years=7, finance__discount_manufacturer=0.08,
                         contract__fees_in_advance=False)
    c = components(hand_plan(), prices)
    be = break_even_fee(c, "PaaS", Fees(0, 0, 0, 0), prices)          # $/kWh-yr on 100 kWh
    assert be * 100 == pytest.approx(1000.0 * capital_recovery_factor(0.08, 7), rel=1e-12)
