"""Per-party cash flows of the four models on a plan whose numbers a person can follow (conftest)."""

import numpy as np
import pytest

from slopt.economics.cashflows import Fees, components, model_items, party_flows
from slopt.economics.evaluate import evaluate
from slopt.economics.prices import MODELS

from tests.economics.conftest import hand_plan, hand_prices


def test_components_by_hand():
    c = components(hand_plan(), hand_prices())
    assert c.capex_usd[0] == pytest.approx(50 * 20.0)             # packs and BoS free, PCS 20 $/kW
    assert c.om_usd_yr[0] == pytest.approx(100.0)                 # 1 $/kWh-yr
    assert c.discharge_value_usd_yr[0] == pytest.approx(100 * 0.2 * 365)   # 7,300
    assert c.charge_cost_usd_yr[0] == pytest.approx(110 * 0.1 * 365)       # 4,015
    assert c.voltage_payment_usd_yr[0] == pytest.approx(500.0)
    assert c.deferral_usd_yr[0] == pytest.approx(1000.0)
    assert c.energy_out_kwh_yr == pytest.approx(36_500.0)
    assert c.replacement_usd.sum() == 0.0


def test_paas_flows_by_hand():
    f = 10.0   # $/kWh-yr, paid in advance: 1,000 $ in years 0 and 1
    flows = party_flows(components(hand_plan(), hand_prices()), "PaaS", Fees(0, 0, f, 0), hand_prices())
    np.testing.assert_allclose(flows["manufacturer"][0], [-1000 + 1000, 1000 - 100, -100])
    np.testing.assert_allclose(flows["user"][0], [-1000, -1000 + 7300 - 4015 + 500, 7300 - 4015 + 500])
    np.testing.assert_allclose(flows["grid"][0], [0, 500, 500])


def test_transfers_cancel_in_every_model():
    # summed over parties, a fee paid is a fee received: the total is the same physical value in every
    # model, up to the BaaP markup on replacement sales (zero here)
    plan = hand_plan(efc_per_day=1.5, lifetime_years=6.0)
    prices = hand_prices(finance__horizon_years=10, supply__grades=[{"soh_min": 0.0, "usd_per_kwh": 50.0}])
    c = components(plan, prices)
    assert c.replacement_usd.sum() > 0
    fees = Fees(300.0, 12.0, 40.0, 0.05)
    totals = [sum(party_flows(c, m, fees, prices).values())[0] for m in MODELS]
    physical = (-c.capex_usd[0] * np.eye(11)[0] - c.replacement_usd[0]
                + np.r_[0, [c.discharge_value_usd_yr[0] - c.charge_cost_usd_yr[0] - c.om_usd_yr[0]
                            + c.deferral_usd_yr[0]] * 10])
    for t in totals:
        np.testing.assert_allclose(t, physical, atol=1e-9)


def test_who_bears_faster_degradation():
    # retired packs wear out within the horizon; faster fade means more replacements
    plan = hand_plan(efc_per_day=0.6, lifetime_years=20.0)
    prices = hand_prices(finance__horizon_years=10, supply__grades=[{"soh_min": 0.0, "usd_per_kwh": 50.0}],
                         contract__warranty_years=0.0)
    ev = evaluate(plan, prices)
    d = ev.degradation.set_index(["model", "party"])["delta_npv_usd"]
    assert d[("BaaP", "user")] < 0 and d[("BaaP", "manufacturer")] == pytest.approx(0.0, abs=1e-6)
    for m in ("BaaS", "PaaS", "EaaS"):
        assert d[(m, "user")] == pytest.approx(0.0, abs=1e-6) and d[(m, "manufacturer")] < 0
    # the loss is the same replacements whoever pays (BaaP user at its rate vs PaaS manufacturer at its rate)
    assert ev.system["faster_life_years_retired"] < ev.system["life_years_retired"]


def test_fees_in_advance_vs_arrears():
    c = components(hand_plan(), hand_prices())
    adv = model_items(c, "PaaS", Fees(0, 0, 1.0, 0), hand_prices())["user"]["subscription"][0]
    arr = model_items(c, "PaaS", Fees(0, 0, 1.0, 0), hand_prices(contract__fees_in_advance=False))["user"]["subscription"][0]
    np.testing.assert_allclose(adv, [-100, -100, 0])
    np.testing.assert_allclose(arr, [0, -100, -100])


def test_eaas_user_pays_per_kwh_and_manufacturer_buys_charging():
    c = components(hand_plan(), hand_prices())
    it = model_items(c, "EaaS", Fees(0, 0, 0, 0.1), hand_prices())
    np.testing.assert_allclose(it["user"]["energy-service fee"][0], [0, -3650, -3650])
    np.testing.assert_allclose(it["manufacturer"]["charging energy"][0], [0, -4015, -4015])
    np.testing.assert_allclose(it["manufacturer"]["voltage-support payment"][0], [0, 500, 500])


def test_metrics_table_by_hand():
    ev = evaluate(hand_plan(), hand_prices(contract__paas_fee_usd_per_kwh_yr=10.0))
    m = ev.metrics.set_index(["model", "party"])
    # PaaS manufacturer: 0 + 900/1.1 - 100/1.21
    assert m.loc[("PaaS", "manufacturer"), "npv_usd"] == pytest.approx(900 / 1.1 - 100 / 1.21)
    assert m.loc[("PaaS", "user"), "initial_outlay_usd"] == pytest.approx(1000.0)
    # user LCOS in PaaS: fees and charging over discharged energy, both discounted at 10 %
    cost = 1000 + (1000 + 4015) / 1.1 + 4015 / 1.21
    energy = 36_500 / 1.1 + 36_500 / 1.21
    assert m.loc[("PaaS", "user"), "lcos_usd_per_kwh"] == pytest.approx(cost / energy)
    assert not ev.table4.empty and set(ev.table4["model"]) == set(MODELS)
