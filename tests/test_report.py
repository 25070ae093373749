"""slopt.report: the result sets a sizing run writes, and the plots for large fleets."""

import json

import numpy as np
import pandas as pd

from slopt.io.instance import Candidates
from slopt.report import plot_allocation, write_sizing_result
from slopt.sizing import SizingOptions, solve_sizing
from tests.conftest import three_bus_instance


def test_optimal_result_set_adds_up(tmp_path):
    res = solve_sizing(three_bus_instance(), options=SizingOptions(ac_tol_pu=1e-9))
    files = {p.name for p in write_sizing_result(res, tmp_path, plots=True)}
    assert files == {"sizing.csv", "dispatch.csv", "voltages.csv", "result.json", "power.png", "voltages.png"}
    payload = json.loads((tmp_path / "result.json").read_text())
    sizing = pd.read_csv(tmp_path / "sizing.csv")
    assert payload["objective_usd"] == sizing["cost_usd"].sum()
    disp = pd.read_csv(tmp_path / "dispatch.csv")
    assert np.allclose(disp["p_net_kw"], disp["p_charge_kw"] - disp["p_discharge_kw"])


def test_infeasible_result_set_has_no_plan(tmp_path):
    inst = three_bus_instance()
    c = inst.candidates
    inst = inst.with_(candidates=Candidates(c.bus_ids, c.e_max_kwh, np.array([10.0]), c.e_min_kwh, 1, True))
    res = solve_sizing(inst)
    files = {p.name for p in write_sizing_result(res, tmp_path, plots=True)}
    assert files == {"diagnosis.csv", "least_violation.csv", "result.json"}
    payload = json.loads((tmp_path / "result.json").read_text())
    assert payload["status"] == "infeasible" and payload["objective_usd"] is None
    assert len(pd.read_csv(tmp_path / "diagnosis.csv")) == len(payload["diagnosis"]) == 1


def test_allocation_plot_switches_to_a_summary_for_large_fleets(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    table = pd.DataFrame({"battery_id": [f"B{i}" for i in range(n)], "soh": rng.uniform(0.55, 0.8, n),
                          "r0_mohm": rng.uniform(40, 90, n), "nominal_kwh": rng.uniform(1.2, 2.6, n)})
    routes = pd.DataFrame({"battery_id": table["battery_id"], "route": rng.choice(["grid", "backup", "recycle"], n)})
    big = plot_allocation(table, routes, "big", tmp_path / "big")
    small = plot_allocation(table.head(50), routes.head(50), "small", tmp_path / "small")
    from matplotlib.image import imread
    assert imread(big).shape[1] > imread(small).shape[1]          # the two-panel summary is wider
