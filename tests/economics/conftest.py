"""Fixtures of the economics tests: a hand-made plan (numbers a person can follow) and, once per
session, the solved ieee33-hybrid plan."""

from pathlib import Path

import numpy as np
import pytest

from slopt.battery.cost import RETIRED_DEFAULT
from slopt.economics.plan import Plan, TechPlan
from slopt.economics.prices import PriceSet

ROOT = Path(__file__).resolve().parents[2]


def hand_plan(e_kwh=100.0, p_kw=50.0, efc_per_day=0.0, lifetime_years=100.0, soh=0.8) -> Plan:
    """100 kWh / 50 kW of retired packs; every day 110 kWh charged at 02 h, 100 kWh discharged at 18 h."""
    ch = np.zeros(24)
    dis = np.zeros(24)
    ch[2], dis[18] = 110.0, 100.0
    tech = RETIRED_DEFAULT.with_(soh=soh, lifetime_years=lifetime_years)
    tp = TechPlan(tech=tech, e_kwh=e_kwh, p_kw=p_kw, eq2_cost_usd=0.0, charge_kwh_by_hour=ch,
                  discharge_kwh_by_hour=dis, efc_per_day=efc_per_day, idle_hours_per_day=22.0)
    return Plan(name="hand", techs=(tp,), dt_h=1.0, sizing=None, dispatch=None)


def hand_prices(**over) -> PriceSet:
    """Prices that make the hand plan's cash flows round: capex 1,000 $, O&M 100 $/yr, energy value 7,300 $/yr,
    charging 4,015 $/yr, voltage payment 500 $/yr, deferral 1,000 $/yr, all rates 10 %, 2 years."""
    tariff = [0.1] * 24
    tariff[18] = 0.2
    data = {
        "supply": {"grades": [{"soh_min": 0.0, "usd_per_kwh": 0.0}], "repurposing_eur_per_kwh": 0.0,
                   "bos_usd_per_kwh": 0.0, "pcs_usd_per_kw": 20.0, "om_usd_per_kwh_yr": 1.0,
                   "recycling_cost_usd_per_kwh": 0.0},
        "value": {"tariff_usd_per_kwh": tariff, "voltage_support_usd_per_kw_yr": 10.0, "deferral_usd_per_kw_yr": 20.0},
        "finance": {"discount_manufacturer": 0.1, "discount_user": 0.1, "discount_grid": 0.1, "horizon_years": 2},
        "aging": {"calendar_fade_pu_per_yr": 0.0},
        "contract": {"markup": 0.0},
    }
    for key, val in over.items():
        section, field = key.split("__")
        data.setdefault(section, {})[field] = val
    return PriceSet.model_validate(data)


@pytest.fixture(scope="session")
def ieee33_result():
    """The ieee33-hybrid plan, solved once per session (about 3 s)."""
    import slopt

    return slopt.solve_sizing(slopt.load_instance(ROOT / "instances" / "ieee33-hybrid.toml"))
