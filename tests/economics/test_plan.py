"""The plan reader: the same plan from a SizingResult and from `slopt solve` files; cycles and throughput."""

import numpy as np
import pandas as pd
import pytest

from slopt.battery.aging import equivalent_full_cycles
from slopt.battery.cost import NEW_DEFAULT
from slopt.economics.plan import plan_from_dir, plan_from_result, plan_from_tables
from slopt.errors import InstanceError
from slopt.report import write_sizing_result
from tests.economics.conftest import ROOT


def test_result_and_directory_give_the_same_plan(ieee33_result, tmp_path):
    write_sizing_result(ieee33_result, tmp_path, plots=False)
    a = plan_from_result(ieee33_result)
    b = plan_from_dir(tmp_path, ROOT / "instances" / "ieee33-hybrid.toml")
    pd.testing.assert_frame_equal(a.summary(), b.summary(), rtol=1e-9)
    d = ieee33_result.dispatch
    out = float((d["p_discharge_kw"] * a.dt_h).sum())
    assert sum(t.discharge_kwh_day for t in a.techs) == pytest.approx(out)
    with pytest.raises(InstanceError, match="not a slopt solve output directory"):
        plan_from_dir(tmp_path / "nothing")


def _two_unit_tables():
    t = np.arange(8) * 1.0
    soc_a = np.array([0.5, 0.9, 0.9, 0.1, 0.1, 0.5, 0.5, 0.5])
    rows = []
    for bus, soc, e in ((1, soc_a, 100.0), (2, np.full(8, 0.5), 300.0)):
        rows += [{"time_h": ti, "bus": bus, "technology": "new", "p_charge_kw": 10.0 if (bus == 1 and ti == 1) else 0.0,
                  "p_discharge_kw": 0.0, "soc_pu": s} for ti, s in zip(t, soc)]
    sizing = pd.DataFrame([{"bus": 1, "technology": "new", "e_kwh": 100.0, "p_kw": 50.0, "cost_usd": 1.0},
                           {"bus": 2, "technology": "new", "e_kwh": 300.0, "p_kw": 50.0, "cost_usd": 2.0}])
    return sizing, pd.DataFrame(rows)


def test_cycles_idle_hours_energy_weighted():
    sizing, disp = _two_unit_tables()
    plan = plan_from_tables(sizing, disp, {"new": NEW_DEFAULT})
    tp = plan.tech("new")
    # unit 1 repeats 0.5, 0.9, 0.9, 0.1, 0.1, 0.5, ...: one full cycle of depth 0.8 a day, worth 0.8^1.2
    # (LFP Woehler k = 1.2); counted open, the same day would be three half cycles (0.4, 0.8, 0.4).
    # Unit 2 never moves. Weighted by energy 100 : 300
    open_count = equivalent_full_cycles([0.5, 0.9, 0.9, 0.1, 0.1, 0.5, 0.5, 0.5])
    assert open_count == pytest.approx(0.4 ** 1.2 + 0.5 * 0.8 ** 1.2)
    assert tp.efc_per_day == pytest.approx(0.8 ** 1.2 * 100 / 400)
    # idle: unit 1 active in one step (1 h) of 8, unit 2 never -> (7*100 + 8*300)/400
    assert tp.idle_hours_per_day == pytest.approx((7 * 100 + 8 * 300) / 400)
    assert tp.charge_kwh_by_hour[1] == pytest.approx(10.0) and tp.e_kwh == 400.0


def test_bad_tables_are_refused():
    sizing, disp = _two_unit_tables()
    with pytest.raises(InstanceError, match="sizing.columns = 'p_kw': missing column"):
        plan_from_tables(sizing.drop(columns="p_kw"), disp, {"new": NEW_DEFAULT})
    bad = disp.copy()
    bad.loc[3, "p_charge_kw"] = -5.0
    with pytest.raises(InstanceError, match=r"dispatch\[3\].p_charge_kw = -5.0: must be >= 0"):
        plan_from_tables(sizing, bad, {"new": NEW_DEFAULT})
    with pytest.raises(InstanceError, match="not a technology"):
        plan_from_tables(sizing.assign(technology="retired"), disp, {"new": NEW_DEFAULT})
    with pytest.raises(InstanceError, match="builds no storage"):
        plan_from_tables(sizing.assign(e_kwh=0.0), disp, {"new": NEW_DEFAULT})
