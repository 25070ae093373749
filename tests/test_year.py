"""Year-scale planning: representative days, year replay, critical days, against the full horizon."""

from pathlib import Path

import numpy as np
import pytest

import slopt
from slopt.sizing import solve_sizing
from slopt.solve import Status
from slopt.year import YearOptions, days_of, plan_year, representative_days

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def month():
    """ieee33-year restricted to 24 days around the winter peak (days 0-23: the hardest evenings)."""
    return days_of(slopt.load_instance(ROOT / "instances" / "ieee33-year.toml"), np.arange(24))


def test_representative_days_are_real_days_whose_weights_cover_the_year(month):
    days = representative_days(month, 4)
    assert days["weight"].sum() == pytest.approx(month.n_days)
    assert set(days["kind"]) <= {"typical", "extreme"} and (days["kind"] == "extreme").any()
    # the extreme day is the day with the lowest voltage of the period, found without the planner
    vm = slopt.powerflow(month.feeder, *month.net_load_kw()).vm_pu[:, 1:].min(axis=1)
    assert int(np.argmin(vm) // 24) in set(days["day"])


def test_plan_holds_every_day_and_equals_the_full_horizon_optimum(month):
    res = plan_year(month, YearOptions(typical_days=3))
    assert res.status in (Status.OPTIMAL, Status.FEASIBLE) and res.objective_usd is not None
    # every step of the period in AC with the replayed dispatch, by an independent sweep
    p, q = month.net_load_kw()
    bus = res.sizing.groupby("bus")["e_kwh"].sum()
    built = np.asarray(bus[bus > 1e-6].index)
    p2 = p.copy()
    p2[:, month.feeder.index_of(built)] += res.replay.p_site_kw
    vm = slopt.powerflow(month.feeder, p2, q).vm_pu[:, 1:]
    assert vm.min() >= month.vmin_pu - 1e-6 and vm.max() <= month.vmax_pu + 1e-6
    assert res.hours_outside(False)["below"] > 0 and res.hours_outside(True)["total"] == 0
    # the reference: the same sizing on all 24 days at once (one model, every day cyclic)
    full = solve_sizing(month)
    assert full.status == Status.OPTIMAL
    assert abs(res.objective_usd - full.objective_usd) / full.objective_usd <= 1e-3
    # the modelled days are a subset of the period: their bound is a bound of the full horizon,
    # up to the AC tolerance both plans are held to (1e-6 p.u. of band is worth ~2e-4 of cost here)
    s = res.summary()
    assert s["bound_usd"] is not None and s["bound_usd"] <= full.objective_usd * (1 + 2e-4)
    assert s["gap"] == pytest.approx((res.objective_usd - s["bound_usd"]) / res.objective_usd, abs=1e-6)


def test_critical_days_are_added_until_the_year_holds(month):
    # one typical day and no extremes the planner may rely on: rounds must add the violated days
    res = plan_year(month, YearOptions(typical_days=1, critical_per_round=2, max_rounds=8))
    assert res.replay.day_violation_pu.max() <= 1e-6 or res.status == Status.FEASIBLE
    kinds = res.days["kind"].tolist()
    if res.rounds["violating_days"].iloc[0] > 0:
        assert "critical" in kinds and len(res.rounds) >= 2
    assert res.rounds["objective_usd"].is_monotonic_increasing      # every round only adds constraints


def test_cli_year_writes_the_year_and_refuses_heuristics(tmp_path):
    from tests.conftest import run_cli
    bad = run_cli("solve", ROOT / "instances" / "ieee33-year.toml", "--method", "dbo", cwd=tmp_path)
    assert bad.returncode == 2 and "one day" in bad.stderr and bad.stderr.count("\n") == 1
    out = tmp_path / "y"
    r = run_cli("solve", ROOT / "instances" / "ieee33-year.toml", "--out", out, "--no-plots", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import json
    import pandas as pd
    res = json.loads((out / "result.json").read_text())
    assert res["hours_outside_with_storage"]["total"] == 0 and res["hours_outside_without_storage"]["total"] == 44
    volt = pd.read_csv(out / "year_voltage.csv")
    assert len(volt) == 8784 and volt["vm_min_pu"].min() >= 0.93 - 1e-6
    assert pd.read_csv(out / "sizing.csv")["cost_usd"].sum() == pytest.approx(res["objective_usd"])


def test_fixed_directions_never_cycle_and_report_the_relaxed_bound():
    """exclusivity='fix' (the year planner's default) is a restriction: the plan never charges
    and discharges one unit in the same step, and the reported bound is not the restricted
    MILP's but that of the same model with the directions free (units may cycle), so it lies
    below the plan and the status is feasible, not optimal, while they differ. The small cases
    in tests/test_sizing.py check the bound and the plan against exhaustive enumeration."""
    from slopt.sizing import SizingOptions, solve_sizing
    from slopt.solve import SolveOptions

    inst = slopt.load_instance(ROOT / "instances" / "simbench-lv-rural1-year.toml")
    day = days_of(inst, [137])          # the year's highest voltage without storage (PV noon)
    res = solve_sizing(day, options=SizingOptions(exclusivity="fix", solver=SolveOptions(mip_rel_gap=1e-4,
                                                                                         time_limit_s=60)))
    fixed = [r for r in res.history if "direction fixed" in str(r.get("note", ""))]
    assert fixed, "the relaxed plan on this day cycles through a unit (PV burnt in losses)"
    assert res.status == Status.FEASIBLE and res.objective_usd is not None
    assert res.bound_usd is not None and res.bound_usd < res.objective_usd
    assert res.gap == pytest.approx((res.objective_usd - res.bound_usd) / res.objective_usd) and res.gap > 1e-4
    d = res.dispatch
    assert (np.minimum(d["p_charge_kw"], d["p_discharge_kw"]) <= 1e-6).all()
    assert res.ac_max_violation_pu <= 1e-6 * 1.0001
