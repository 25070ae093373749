"""The price set: documented defaults, sources, and one-line errors for bad prices."""

import pytest

from slopt.economics.prices import PriceSet, load_prices, price_set, price_table
from slopt.errors import InstanceError
from tests.economics.conftest import ROOT


def test_default_toml_is_the_builtin_default():
    a = load_prices(ROOT / "instances" / "economics" / "default.toml").model_dump(exclude={"description"})
    assert a == PriceSet().model_dump(exclude={"description"})


def test_every_item_has_a_source():
    t = price_table(PriceSet())
    assert (t["source"].str.len() > 0).all()
    src = dict(zip(t["section"] + "." + t["field"], t["source"]))
    assert "Lieskoski" in src["supply.repurposing_eur_per_kwh"] and "27.2-38.3" in src["supply.repurposing_eur_per_kwh"]
    assert "Lieskoski" in src["risk.repurposing_eur_per_kwh"]
    assert "Neubauer" in src["risk.used_pack_usd_per_kwh"] and "$20-100/kWh" in src["supply.grades"]
    assert PriceSet().supply.repurposing_usd_per_kwh == pytest.approx(32.75 * 1.08)


@pytest.mark.parametrize("data, field, text", [
    ({"supply": {"repurposing_eur_per_kwh": -3.0}}, "supply.repurposing_eur_per_kwh = -3.0", "cannot be negative"),
    ({"supply": {"grades": [{"soh_min": 0.8, "usd_per_kwh": -1}]}}, "supply.grades[0].usd_per_kwh = -1", "negative"),
    ({"value": {"deferral_usd_per_kw_yr": float("nan")}}, "value.deferral_usd_per_kw_yr = nan", "finite"),
    ({"finance": {"discount_user": -1.0}}, "finance.discount_user = -1.0", "-100 %"),
    ({"finance": {"discount_grid": -2.5}}, "finance.discount_grid = -2.5", "-100 %"),
    ({"risk": {"knee_soh": [0.8, 0.6]}}, "risk.knee_soh", "lo > hi"),
    ({"value": {"tariff_usd_per_kwh": [0.1] * 23}}, "value.tariff_usd_per_kwh", "24"),
    ({"aging": {"knee_soh": 0.5}}, "aging.knee_soh = 0.5", "eol_soh_retired"),
    ({"supply": {"repurpose": 1.0}}, "supply.repurpose = 1.0", "unknown field"),
])
def test_bad_prices_are_one_line_errors(data, field, text):
    with pytest.raises(InstanceError) as e:
        price_set(data, "p.toml")
    msg = str(e.value)
    assert msg.startswith(f"p.toml: {field}") and text in msg and "\n" not in msg


def test_bad_toml_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[finance]\ndiscount_manufacturer = nan\n")
    with pytest.raises(InstanceError, match=r"bad.toml: finance.discount_manufacturer = nan: .*finite"):
        load_prices(p)
