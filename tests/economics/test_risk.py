"""Monte Carlo: reproducible, chunk-independent, and right on cases with a known distribution."""

import numpy as np
import pytest

from slopt.economics.cashflows import components
from slopt.economics.contracts import resolve_fees
from slopt.economics.risk import monte_carlo, risk_transfer
from tests.economics.conftest import hand_plan, hand_prices

FIXED = {"risk__soh_retired": [0.8, 0.8], "risk__rate_mult": [1.0, 1.0], "risk__knee_soh": [0.7, 0.7],
         "risk__knee_factor": [3.0, 3.0], "risk__used_pack_usd_per_kwh": [0.0, 0.0],
         "risk__repurposing_eur_per_kwh": [0.0, 0.0], "risk__tariff_scale": [1.0, 1.0],
         "risk__voltage_support_usd_per_kw_yr": [10.0, 10.0], "risk__deferral_usd_per_kw_yr": [20.0, 20.0]}


def _setup(**over):
    prices = hand_prices(**{**FIXED, **over})
    plan = hand_plan()
    fees = resolve_fees(components(plan, prices), prices)
    return plan, prices, fees


def test_same_seed_same_result_and_chunking_does_not_matter():
    plan, prices, fees = _setup(risk__tariff_scale=[0.5, 1.5])
    a = monte_carlo(plan, prices, fees, 3000, seed=7, chunk=500)
    b = monte_carlo(plan, prices, fees, 3000, seed=7, chunk=3000)
    c = monte_carlo(plan, prices, fees, 3000, seed=8)
    np.testing.assert_array_equal(a.npv.to_numpy(), b.npv.to_numpy())
    assert not np.array_equal(a.npv["PaaS.user"], c.npv["PaaS.user"])


def test_degenerate_ranges_reproduce_the_base_case():
    from slopt.economics.evaluate import evaluate

    plan, prices, fees = _setup()
    ev = evaluate(plan, prices)
    r = monte_carlo(plan, prices, fees, 50, seed=1)
    base = ev.metrics.set_index(["model", "party"])["npv_usd"]
    for _, row in r.summary.iterrows():
        assert row["mean_usd"] == pytest.approx(base[(row["model"], row["party"])], rel=1e-9, abs=1e-6)
        assert row["std_usd"] == pytest.approx(0.0, abs=1e-6)


def test_probability_of_loss_matches_the_uniform_law():
    # only the voltage payment varies, v ~ U(0, 40) $/kW-yr; the PaaS user's NPV is linear in it:
    # NPV_u(v) = A + B v, so P(NPV < 0) = (v* - 0) / 40 with v* = -A/B
    plan, prices, fees = _setup(risk__voltage_support_usd_per_kw_yr=[0.0, 40.0],
                                contract__paas_fee_usd_per_kwh_yr=40.0)
    r = monte_carlo(plan, prices, fees, 40_000, seed=3)
    d = 1 / 1.1 + 1 / 1.21
    # user: -100*40*(1 + 1/1.1) + (7300 - 4015) d + 50 v d
    a, b = -4000 * (1 + 1 / 1.1) + 3285 * d, 50 * d
    v_star = -a / b
    assert 0 < v_star < 40
    p = r.summary.set_index(["model", "party"]).loc[("PaaS", "user"), "p_loss"]
    assert p == pytest.approx(v_star / 40, abs=0.01)       # 40,000 draws: binomial sd < 0.0025
    q05 = r.summary.set_index(["model", "party"]).loc[("PaaS", "user"), "q05_usd"]
    assert q05 == pytest.approx(a + b * 2.0, rel=0.02)        # 5 % quantile of v is 2


def test_service_models_carry_degradation_risk_for_the_user():
    # packs that wear out inside the horizon; SOH and fade drawn, prices fixed
    plan = hand_plan(efc_per_day=0.8, lifetime_years=20.0)
    prices = hand_prices(**{**FIXED, "risk__rate_mult": [0.5, 2.0], "risk__soh_retired": [0.7, 0.8],
                            "finance__horizon_years": 10, "contract__warranty_years": 0.0,
                            "supply__grades": [{"soh_min": 0.0, "usd_per_kwh": 50.0}]})
    fees = resolve_fees(components(plan, prices), prices)
    r = monte_carlo(plan, prices, fees, 2000, seed=0)
    rt = risk_transfer(r.summary).set_index("model")
    assert rt["moves_risk"].all()
    assert (rt["user_deg_std_usd"] < 1e-6).all() and (rt["user_deg_std_baap_usd"] > 0).all()


def test_risk_priced_fee_by_hand():
    # the used-pack price ~ U(0, 100) $/kWh sets the PaaS manufacturer's capex: a_i = -100 x_i - 1173.55
    # (hand numbers of test_contracts); its 5 % NPV quantile is zero at f = (100 * 95 + 1173.55) / 190.909
    from slopt.economics.risk import risk_priced_fees

    plan, prices, fees = _setup(risk__used_pack_usd_per_kwh=[0.0, 100.0])
    t = risk_priced_fees(plan, prices, fees, 40_000, seed=2, models=("PaaS",)).set_index("model")
    expect = (100 * 95 + 1000 + 100 / 1.1 + 100 / 1.21) / (1 + 1 / 1.1) / 100
    assert t.loc["PaaS", "fee_risk_priced"] == pytest.approx(expect, rel=0.01)
    assert t.loc["PaaS", "user_npv_risk_priced_usd"] < t.loc["PaaS", "user_npv_contract_usd"]
