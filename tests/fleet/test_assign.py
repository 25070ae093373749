"""slopt.fleet.assign: routes for every battery, against the twin and by hand."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from slopt.fleet import APPLICATIONS, generate_fleet, scale_demands
from slopt.fleet.applications import Application
from slopt.fleet.assign import AssignmentOptions, allocation_metrics, assign, route_values, static_baseline
from slopt.solve import Status


def tiny():
    """Three batteries, two applications; twin results written by hand."""
    table = pd.DataFrame({
        "battery_id": ["a", "b", "c"], "chemistry": ["LFP"] * 3, "nominal_kwh": [10.0, 10.0, 10.0],
        "soh": [0.85, 0.75, 0.62], "r_growth": [0.1, 0.3, 0.9],
    })
    base = APPLICATIONS["grid_time_shift"]
    apps = [
        Application(**{**base.__dict__, "name": "grid", "min_soh": 0.70, "max_r_growth": 0.5,
                       "value_usd_per_kwh_year": 20.0, "demand_kwh": np.inf}),
        Application(**{**base.__dict__, "name": "backup", "min_soh": 0.50, "max_r_growth": 2.0,
                       "value_usd_per_kwh_year": 5.0, "demand_kwh": np.inf}),
    ]
    twin = SimpleNamespace(second_life_years=np.array([[8.0, 10.0], [6.0, 10.0], [0.0, 9.0]]),
                           rte=np.array([[0.95, 0.95], [0.94, 0.95], [0.9, 0.92]]),
                           safety_breach=np.zeros((3, 2), bool))
    return table, apps, twin


def test_values_by_hand():
    table, apps, twin = tiny()
    o = AssignmentOptions(repurpose_usd_per_kwh=40.0, remanufacture_usd_per_kwh=60.0, recycle_usd_per_kwh=5.0)
    value, feas, _, _ = route_values(table, apps, twin, o)
    # battery a on grid: 8.5 kWh usable x (8 y x 0.95 x 20 $/kWh/y - 40 $/kWh) = 8.5 x 112 = 952
    assert value[0, 0] == pytest.approx(8.5 * (8 * 0.95 * 20 - 40))
    assert value[0, 2] == pytest.approx(8.5 * 60)            # remanufacture: SOH 0.85 >= 0.8
    assert value[2, 3] == pytest.approx(10 * 5)              # recycle: nominal kWh
    assert feas.tolist() == [[True, True, True, True], [True, True, False, True], [False, True, False, True]]


def test_tiny_assignment_is_the_best_feasible_route_per_battery():
    table, apps, twin = tiny()
    res = assign(table, apps, twin=twin)
    assert res.status == Status.OPTIMAL
    # a: grid 952 vs reman 510 -> grid; b: grid 7.5 x (6*0.94*20 - 40) = 546 -> grid;
    # c: only backup (6.2 x (9*0.92*5 - 40) = 8.68) or recycle (50) -> recycle
    assert res.batteries["route"].tolist() == ["grid", "grid", "recycle"]
    assert res.objective_usd == pytest.approx(952 + 7.5 * (6 * 0.94 * 20 - 40) + 50)
    m = res.metrics()
    assert m["correct_pct"] == 100.0 and m["misallocated_pct"] == 0.0


def test_demand_limits_and_every_battery_one_route():
    f = generate_fleet(300, seed=1)
    apps = scale_demands(APPLICATIONS, 300 / 120)
    res = assign(f, apps)
    assert res.status in (Status.OPTIMAL, Status.FEASIBLE) and res.gap <= 1e-3
    b = res.batteries
    assert b["route"].notna().all() and len(b) == 300
    assert b["feasible"].all()                                  # never a twin-infeasible route
    used = b.groupby("route")["usable_kwh"].sum()
    for a in apps.values():
        assert used.get(a.name, 0.0) <= a.demand_kwh + 1e-6
    reman = b[b["route"] == "remanufacture"]
    soh = f.table.set_index("battery_id").loc[reman["battery_id"], "soh"]
    assert (soh >= 0.8).all()


def test_adaptive_beats_static_on_the_seed_population():
    f = generate_fleet(120, seed=0)
    apps = {k: a.__class__(**{**a.__dict__, "demand_kwh": np.inf}) for k, a in APPLICATIONS.items()}
    ada = assign(f, apps)
    sta = static_baseline(f, apps)
    ma, ms = ada.metrics(), allocation_metrics(sta)
    assert ma["misallocated_pct"] == 0.0 and ms["misallocated_pct"] >= 5.0   # 6 of 120 with the BLAST-fitted twin
    assert ma["correct_pct"] > ms["correct_pct"] + 30
    assert ma["value_usd"] > ms["value_usd"]


def test_aggregation_matches_individual_bins_without_demands():
    f = generate_fleet(200, seed=3)
    apps = {k: a.__class__(**{**a.__dict__, "demand_kwh": np.inf}) for k, a in APPLICATIONS.items()}
    agg = assign(f, apps)
    ind = assign(f, apps, options=AssignmentOptions(individual=True))
    # without demands every battery takes its best feasible route in both
    assert agg.batteries["value_usd"].sum() == pytest.approx(ind.objective_usd, rel=1e-9)


def test_public_entry_points_of_design_section_11():
    import slopt
    fleet = slopt.generate_fleet(40, seed=2)
    plan = slopt.assign(fleet)
    assert len(plan.batteries) == 40 and plan.status in (Status.OPTIMAL, Status.FEASIBLE)
