"""A third chemistry end to end: generate -> twin -> assign with NCA (fitted to BLAST-Lite's
Panasonic NCA cell), and a fourth one added as one table entry at run time."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from slopt.battery import chemistry as chem_mod
from slopt.battery.chemistry import CHEMISTRIES
from slopt.battery.twin import TwinOptions, simulate_twin
from slopt.errors import InstanceError
from slopt.fleet import APPLICATIONS, GeneratorSpec, generate_fleet, load_fleet
from slopt.fleet.assign import AssignmentOptions, assign, check_plan
from slopt.fleet.passport import to_fleet_table

MIX = GeneratorSpec(chemistries=(("LFP", 0.3), ("NMC", 0.5), ("NCA", 0.2)))


def test_generated_mix_follows_the_shares_and_each_chemistrys_record():
    f = generate_fleet(3000, seed=4, spec=MIX).table
    counts = f["chemistry"].value_counts()
    for name, share in MIX.chemistries:
        sd = np.sqrt(3000 * share * (1 - share))
        assert abs(counts[name] - 3000 * share) < 4 * sd, name
    nca = f[f["chemistry"] == "NCA"]
    # modules of 40, 50 or 60 Ah at the NCA record's 50.4 V
    assert set(np.round(nca["nominal_kwh"] / 50.4 * 1000.0, 6)) <= {40.0, 50.0, 60.0}
    # r_growth = R0/R_new - 1 with R_new = 30 mOhm x lognormal(sigma 0.05): median R_new within 2 %
    r_new = nca["r0_mohm"] / (1.0 + nca["r_growth"])
    assert np.median(r_new) == pytest.approx(CHEMISTRIES["NCA"].r_new_mohm, rel=0.02)
    # the default spec still draws LFP/NMC only, as before
    assert set(generate_fleet(500, seed=1).table["chemistry"]) == {"LFP", "NMC"}
    with pytest.raises(InstanceError, match="unknown chemistry 'LCO'"):
        GeneratorSpec(chemistries=(("LCO", 1.0),))


def test_generate_twin_assign_with_nca():
    fleet = generate_fleet(150, seed=3, spec=MIX)
    table = fleet.table
    assert (table["chemistry"] == "NCA").sum() >= 15
    twin = simulate_twin(fleet, APPLICATIONS, years=10)
    nca = (table["chemistry"] == "NCA").to_numpy()
    assert np.all(np.isfinite(twin.second_life_years[nca])) and np.all(twin.rte[nca] > 0.8)
    # each chemistry's own limit (NCA 45 degC): a thermal breach is certain where the peak passes it;
    # otherwise only a battery past its knee at the start is certain to breach
    hot = twin.peak_temp_c > np.where(nca, 45.0, np.where(table["chemistry"] == "LFP", 55.0, 45.0))[:, None]
    assert np.all(twin.breach_prob[hot] == 1.0)
    assert np.all((twin.breach_prob[~hot] < 1.0) | (twin.knee_years[~hot] == 0.0))
    res = assign(fleet, twin=twin, options=AssignmentOptions(pack=None, recycle_usd_per_kwh=None))
    bat = res.batteries
    assert len(bat) == 150 and bat["route"].notna().all()
    # the plan is feasible and its objective is its value, battery by battery
    names = res.extra["route_names"]
    route = bat["route"].map({n: i for i, n in enumerate(names)}).to_numpy()
    energy, demand = bat["usable_kwh"].to_numpy(), res.routes["demand_kwh"].to_numpy()
    feas = np.ones((150, len(names)), bool)
    feas[np.arange(150), route] = bat["feasible"].to_numpy()
    check_plan(route, feas, energy, demand)                       # every battery on an open route, demands hold
    assert res.objective_usd == pytest.approx(bat["value_usd"].sum())
    assert res.bound_usd >= res.objective_usd - 1e-6
    # recycling is valued at each chemistry's rate (LFP -2, NMC and NCA 8 $ per nominal kWh)
    rec = bat["route"] == "recycle"
    expect = table["nominal_kwh"] * table["chemistry"].map({"LFP": -2.0, "NMC": 8.0, "NCA": 8.0})
    np.testing.assert_allclose(bat.loc[rec, "value_usd"], expect[rec])


def test_a_fourth_chemistry_is_one_table_entry(monkeypatch, tmp_path):
    # a made-up chemistry: NCA's record with its own name, a lower voltage and a faster calendar fade
    lmo = replace(CHEMISTRIES["NCA"], name="LMO", description="test chemistry", blast_model="", v_nom=48.0,
                  k_cal=2 * CHEMISTRIES["NCA"].k_cal, recycle_usd_per_kwh=1.0, woehler=None)
    monkeypatch.setitem(chem_mod.CHEMISTRIES, "LMO", lmo)
    spec = GeneratorSpec(chemistries=(("NCA", 0.5), ("LMO", 0.5)))
    fleet = generate_fleet(60, seed=2, spec=spec)
    t = fleet.table
    assert set(t["chemistry"]) == {"NCA", "LMO"}
    # a fleet CSV naming it loads (validation reads the live table)
    path = fleet.to_csv(tmp_path / "fleet.csv")
    assert set(load_fleet(path).table["chemistry"]) == {"NCA", "LMO"}
    twin = simulate_twin(fleet, APPLICATIONS, years=10)
    # same cells, twice the calendar rate: an LMO module never outlives its NCA twin in storage-like duty
    backup = list(twin.application).index("residential_backup")
    same = t.assign(chemistry="NCA")
    twin_nca = simulate_twin(same, APPLICATIONS, years=10, options=TwinOptions())
    lmo_rows = (t["chemistry"] == "LMO").to_numpy()
    assert np.all(twin.soh_end[lmo_rows, backup] <= twin_nca.soh_end[lmo_rows, backup] + 1e-12)
    res = assign(fleet, twin=twin, options=AssignmentOptions(pack=None, recycle_usd_per_kwh=None))
    names = res.extra["route_names"]
    route = res.batteries["route"].map({n: i for i, n in enumerate(names)}).to_numpy()
    energy = res.batteries["usable_kwh"].to_numpy()
    demand = res.routes["demand_kwh"].to_numpy()
    assert res.objective_usd == pytest.approx(res.batteries["value_usd"].sum())
    assert res.batteries["feasible"].all()
    use = np.bincount(route, weights=energy, minlength=len(names))
    fin = np.isfinite(demand)
    assert np.all(use[fin] <= demand[fin] + 1e-6)
    rec = (res.batteries["route"] == "recycle") & (t["chemistry"] == "LMO")
    np.testing.assert_allclose(res.batteries.loc[rec, "value_usd"], t.loc[rec, "nominal_kwh"] * 1.0)
    # the passport mapping knows it too (its new-module resistance)
    summary = pd.DataFrame({"battery_id": ["P1"], "chemistry": ["lmo"], "nominal_kwh": [2.4], "soh": [0.8],
                            "r0_mohm": [45.0], "t_min_c": [20.0], "t_max_c": [35.0], "efc": [900.0],
                            "degradation_trend": [2.0], "quality_flags": [[]]})
    row = to_fleet_table(summary).iloc[0]
    assert row["chemistry"] == "LMO" and row["r_growth"] == pytest.approx(45.0 / lmo.r_new_mohm - 1.0)
