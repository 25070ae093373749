"""The chemistry table (slopt.battery.chemistry): one record per chemistry, read by every layer.

Checks against numbers a person can verify (OCV interpolation, the fade laws written out by hand)
and against BLAST-Lite's own storage results in the committed reference (independent of the twin).
"""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slopt.battery.aging import equivalent_full_cycles
from slopt.battery.chemistry import (CHEMISTRIES, R_J_PER_MOL_K, Chemistry, Woehler, anode_potential_v,
                                     chemistry_names, get_chemistry, soc_stress)

BLAST_DIR = Path(__file__).resolve().parents[1] / "data" / "blast"


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(BLAST_DIR / "reference.csv", comment="#", dtype={"application": str, "reason": str})


def test_table_names_models_and_data_agree(reference):
    assert chemistry_names() == ("LFP", "NMC", "NCA")
    fit = json.loads((BLAST_DIR / "fit.json").read_text())
    for name, chem in CHEMISTRIES.items():
        assert chem.name == name and chem.description and chem.price_usd_per_kwh > 0
        rows = reference[reference["chemistry"] == name]
        assert len(rows) == 206 and set(rows["blast_model"]) == {chem.blast_model}   # its data is committed
        assert name in fit["params"]                                                  # and fitted
    assert get_chemistry(" nca ") is CHEMISTRIES["NCA"]
    with pytest.raises(ValueError, match="unknown chemistry 'LCO'; expected one of LFP, NMC, NCA"):
        get_chemistry("LCO")


def test_ocv_is_the_module_table_interpolated():
    lfp = CHEMISTRIES["LFP"]
    # SOC 0.45 lies halfway between the knots 0.3 (3.26 V/cell) and 0.6 (3.29 V/cell), 16 cells
    assert lfp.ocv(0.45) == pytest.approx(16 * 3.275)
    assert lfp.ocv(0.45, v_nom=25.6) == pytest.approx(8 * 3.275)                  # half the cells
    nca = CHEMISTRIES["NCA"]
    assert nca.ocv([0.0, 1.0]).tolist() == pytest.approx([14 * 3.00, 14 * 4.20])


def test_woehler_laws_come_from_the_table():
    assert Woehler.LFP is CHEMISTRIES["LFP"].cycle_life
    assert (Woehler.LFP.n100_cycles, Woehler.LFP.k) == (5000.0, 1.2)
    assert (Woehler.NMC.n100_cycles, Woehler.NMC.k) == (2000.0, 1.8)
    assert Woehler.for_chemistry("nmc") is Woehler.NMC
    # NCA states no Woehler law: it uses the one its twin parameters imply (one source)
    nca = Woehler.for_chemistry("NCA")
    assert nca == CHEMISTRIES["NCA"].twin_cycle_life()
    # rainflow EFC of a 0.5-deep cycle weighs 0.5^k
    soc = np.array([0.9, 0.4, 0.9])
    assert equivalent_full_cycles(soc, nca) == pytest.approx(0.5 ** nca.k)


def test_twin_cycle_life_by_hand():
    c = CHEMISTRIES["LFP"]
    # N(D) = 0.2^(1/p) / (k_cyc * phi(D, 2D/24) * f_C) / D, f_C = 1 at 0.5 C (crate_ref 0.65)
    phi = lambda d: 1 - c.dod_share + c.dod_share * math.exp(c.dod_beta * (d ** c.dod_exp - 1)) + c.rate_coef * 2 * d / 24
    n = lambda d: 0.2 ** (1 / c.p_cyc) / (c.k_cyc * phi(d)) / d
    w = c.twin_cycle_life()
    assert w.n100_cycles == pytest.approx(n(1.0), rel=1e-12)
    # k: least-squares slope of log N on -log D through log N100 (D = 0.2 .. 1.0)
    d = np.linspace(0.2, 1.0, 9)
    y = np.log([n(x) for x in d]) - math.log(n(1.0))
    assert w.k == pytest.approx(-np.dot(np.log(d), y) / np.dot(np.log(d), np.log(d)))
    # the twin's laws are not the nominal ones: the two sets are named, not the same
    assert w.n100_cycles > 1.5 * c.woehler.n100_cycles and w.k > c.woehler.k


def test_cycling_fade_law_by_hand():
    c = CHEMISTRIES["NMC"]
    efc, d, t, cm, cp = 1500.0, 0.8, 35.0, 0.05, 1.5
    phi = 1 - c.dod_share + c.dod_share * math.exp(c.dod_beta * (d ** c.dod_exp - 1)) + c.rate_coef * cm
    x = 1 / (t + 273.15) - 1 / 298.15
    g = ((1 - c.plating_share) * math.exp(-c.ea_cyc_j_per_mol / R_J_PER_MOL_K * x)
         + c.plating_share * math.exp(c.ea_plating_j_per_mol / R_J_PER_MOL_K * x))
    f_c = 1 + c.crate_beta * (cp - c.crate_ref)
    assert c.cycling_fade(efc, d, t, cm, cp) == pytest.approx((c.k_cyc * phi * g * f_c * efc) ** c.p_cyc)
    assert c.g_temp(25.0) == pytest.approx(1.0) and c.phi(1.0, 0.0) == pytest.approx(1.0)


def test_nca_soc_stress_is_blast_lites_linear_law():
    # BLAST-Lite Nca_Gr_Panasonic3Ah: k_cal ~ exp(qcal_C * soc / T), qcal_C = 353; at 25 degC relative to SOC 0.5
    soc = np.array([0.1, 0.5, 0.95])
    np.testing.assert_allclose(CHEMISTRIES["NCA"].soc_stress(soc), np.exp(353 * (soc - 0.5) / 298.15), rtol=1e-3)
    # LFP and NMC: the graphite potential (Safari & Delacourt); 1 at SOC 0.5, above 1 at high SOC
    assert soc_stress(0.5, 43.78) == pytest.approx(1.0)
    assert soc_stress(0.95, 43.78) > 2.0 and anode_potential_v(0.95) < anode_potential_v(0.5)


@pytest.mark.parametrize("chem", ["LFP", "NMC", "NCA"])
def test_calendar_fade_matches_blast_lite_storage_rows(reference, chem):
    # BLAST-Lite's own storage results (independent of the twin): every tested storage duty, years 1-10
    c = CHEMISTRIES[chem]
    rows = reference[(reference["chemistry"] == chem) & (reference["kind"] == "storage") & reference["valid"]]
    assert len(rows) >= 4
    for _, r in rows.iterrows():
        years = np.arange(1, 11)
        twin = 1.0 - c.calendar_fade(365.0 * years, r["temp_c"], r["rest_soc"])
        blast = r[[f"q_{y}y" for y in years]].to_numpy(float)
        assert np.abs(twin - blast).max() < 0.005, (chem, r["label"])


def test_bad_records_are_refused():
    nca = CHEMISTRIES["NCA"]
    with pytest.raises(ValueError, match=r"Chemistry\(NCA\)\.k_cal must be finite and > 0"):
        replace(nca, k_cal=-1.0)
    with pytest.raises(ValueError, match="OCV table needs increasing SOC knots"):
        replace(nca, ocv_soc=(0.0, 0.5, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0))
    with pytest.raises(ValueError, match="dod_share must be in"):
        replace(nca, dod_share=1.5)
    assert isinstance(replace(nca, name="NCA2"), Chemistry)
