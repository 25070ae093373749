"""``slopt assign`` and ``slopt passport`` on the command line."""

import json
from pathlib import Path

from tests.conftest import run_cli

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
HIST = ROOT / "tests" / "data" / "bms" / "two_batteries.csv"



def run(*args, cwd):
    return run_cli(*args, cwd=cwd, columns=200)


def test_assign_generated_fleet_writes_results(tmp_path):
    inst = tmp_path / "fleet.toml"
    inst.write_text('name = "f120"\ngenerate = 120\nseed = 0\nunlimited = true\n')
    out = tmp_path / "res"
    r = run("assign", inst, "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "correct_pct" in r.stdout and "optimal" in r.stdout
    a = pd.read_csv(out / "assignment.csv")
    assert len(a) == 120 and a["route"].notna().all() and a["feasible"].all()
    res = json.loads((out / "result.json").read_text())
    assert res["adaptive"]["value_usd"] > res["static"]["value_usd"]
    assert 0.0 <= res["adaptive"]["misallocated_pct"] <= 100.0 and 0.0 <= res["static"]["misallocated_pct"] <= 100.0
    assert res["objective_usd"] == pytest.approx(a["value_usd"].sum()) and res["bound_usd"] >= res["objective_usd"]
    assert (out / "allocation.png").stat().st_size > 0


def test_assign_static_gets_the_same_demands_and_installations_are_written(tmp_path):
    inst = tmp_path / "fleet.toml"
    inst.write_text('name = "f240"\ngenerate = 240\nseed = 1\nmax_installations = 2\nsoh_spread = 0.06\n')
    out = tmp_path / "res"
    r = run("assign", inst, "--out", out, "--no-plots", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    routes = pd.read_csv(out / "routes.csv").set_index("route")
    for name in ("static.csv", "assignment.csv"):
        used = pd.read_csv(out / name).groupby("route")["usable_kwh"].sum()
        for app, row in routes.iterrows():
            if pd.notna(row["demand_kwh"]) and row["demand_kwh"] != float("inf"):
                assert used.get(app, 0.0) <= row["demand_kwh"] + 1e-6
    ins = pd.read_csv(out / "installations.csv")
    assert (ins.groupby("application").size() <= 2).all() and (ins["soh_spread"] <= 0.06 + 1e-9).all()


def test_assign_toml_bad_pack_value_exit_2(tmp_path):
    inst = tmp_path / "fleet.toml"
    inst.write_text('generate = 10\nmax_installations = -1\n')
    r = run("assign", inst, cwd=tmp_path)
    assert r.returncode == 2 and "max_installations" in r.stderr and "Traceback" not in r.stderr


def test_assign_bad_fleet_row_is_one_line_exit_2(tmp_path):
    from slopt.fleet import generate_fleet
    t = generate_fleet(5, seed=0).table.copy()
    t.loc[2, "soh"] = 1.3
    csv = tmp_path / "fleet.csv"
    t.to_csv(csv, index=False)
    out = tmp_path / "res"
    r = run("assign", csv, "--out", out, cwd=tmp_path)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "fleet.csv" in err[0] and "row 3" in err[0] and "soh" in err[0] and "1.3" in err[0]
    assert "Traceback" not in r.stderr and not out.exists()


def test_assign_toml_unknown_field_exit_2(tmp_path):
    inst = tmp_path / "fleet.toml"
    inst.write_text('generate = 10\ncolour = "red"\n')
    r = run("assign", inst, cwd=tmp_path)
    assert r.returncode == 2 and "colour" in r.stderr and "unknown field" in r.stderr


def test_passport_writes_one_record_per_battery(tmp_path):
    out = tmp_path / "pp"
    r = run("passport", HIST, "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in out.glob("passport_*.json"))
    assert files == ["passport_M-001.json", "passport_M-002.json"]
    rec = json.loads((out / "passport_M-001.json").read_text())
    assert rec["battery_id"] == "M-001"
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["capacity_ah"] > 0).all()


def test_passport_bad_row_exit_2(tmp_path):
    lines = HIST.read_text().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[3], "x", 1)
    bad = tmp_path / "hist.csv"
    bad.write_text("\n".join(lines) + "\n")
    r = run("passport", bad, "--out", tmp_path / "pp", cwd=tmp_path)
    assert r.returncode == 2
    assert "hist.csv" in r.stderr and "row 5" in r.stderr and "current_a" in r.stderr
    assert not (tmp_path / "pp").exists()
