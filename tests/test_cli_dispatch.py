"""``slopt dispatch``: metrics table, result files, exit codes (slopt.cli)."""

import json
import shutil
from pathlib import Path

from tests.conftest import run_cli

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE30 = ROOT / "instances" / "node30-groups.toml"



def run(*args, cwd):
    return run_cli(*args, cwd=cwd, columns=220)


def _tree(p: Path):
    return sorted(str(x.relative_to(p)) for x in p.rglob("*"))


def test_dispatch_all_scenarios_writes_results(tmp_path):
    out = tmp_path / "res"
    r = run("dispatch", NODE30, "--strategy", "priority,proportional", "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dispatch metrics" in r.stdout and "Table 3" in r.stdout and "CPD" in r.stdout
    for name in ("dispatch_power.csv", "dispatch_steps.csv", "dispatch_groups.csv", "metrics.csv", "voltages.csv",
                 "result.json", "soc_groups.png", "energy_groups.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))
    m = pd.read_csv(out / "metrics.csv")
    assert len(m) == 5 * 2
    assert set(m["scenario"]) == {"base", "low", "medium", "high", "variable"}
    assert set(m["strategy"]) == {"priority", "proportional"}
    assert m["consistency_index"].notna().all() and m["voltage_rmse_pu"].notna().all()
    power = pd.read_csv(out / "dispatch_power.csv")
    assert len(power) == 10 * 96 * 9
    groups = pd.read_csv(out / "dispatch_groups.csv")
    assert len(groups) == 10 * 9 and {"e_charged_kwh", "e_discharged_kwh", "efc", "soh_end"} <= set(groups.columns)
    res = json.loads((out / "result.json").read_text())
    assert res["instance"] == "node30-groups" and res["bus"] == 30
    assert set(res["consistency_index"]) == {"priority", "proportional"}
    assert len(res["table3"]["priority"]) == 5


def test_dispatch_one_scenario_one_strategy(tmp_path):
    out = tmp_path / "res"
    r = run("dispatch", NODE30, "--strategy", "soh", "--scenario", "low", "--no-plots", "--no-voltage",
            "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(out / "metrics.csv")
    assert m[["scenario", "strategy"]].values.tolist() == [["low", "soh"]]
    assert m["voltage_rmse_pu"].isna().all()
    assert not (out / "soc_groups.png").exists() and not (out / "voltages.csv").exists()


@pytest.mark.parametrize("args, needle", [
    (("--strategy", "greedy"), "--strategy = 'greedy'"),
    (("--strategy", "priority,nope"), "unknown strategy 'nope'"),
    (("--scenario", "extreme"), "--scenario = 'extreme'"),
    (("--b", "-1"), "--b = -1.0"),
])
def test_dispatch_bad_option_exits_2_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "res"
    r = run("dispatch", NODE30, *args, "--out", out, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert _tree(tmp_path) == []


def test_dispatch_bad_instance_exits_2(tmp_path):
    d = tmp_path / "inst"
    d.mkdir()
    shutil.copy(NODE30, d / NODE30.name)
    shutil.copytree(NODE30.parent / "profiles", d / "profiles")
    shutil.copytree(NODE30.parent / "node30", d / "node30")
    toml = d / NODE30.name
    toml.write_text(toml.read_text().replace("soh = 0.85", "soh = 8.5"))
    before = _tree(tmp_path)
    r = run("dispatch", toml, "--out", tmp_path / "res", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {toml}: dispatch.groups[7].soh = 8.5: must be in (0, 1]"
    assert "Traceback" not in r.stdout + r.stderr
    assert _tree(tmp_path) == before


def test_dispatch_without_section_exits_2(tmp_path):
    r = run("dispatch", ROOT / "instances" / "ieee33-hybrid.toml", "--out", tmp_path / "res", cwd=tmp_path)
    assert r.returncode == 2
    assert "dispatch = (missing)" in r.stderr and "[dispatch]" in r.stderr
    assert _tree(tmp_path) == []


def test_every_scenario_gets_its_plots(tmp_path):
    from tests.conftest import run_cli
    out = tmp_path / "res"
    r = run_cli("dispatch", ROOT / "instances" / "node30-groups.toml", "--scenario", "all", "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    import slopt
    scenarios = slopt.load_instance(ROOT / "instances" / "node30-groups.toml").dispatch.requests()
    for sc in scenarios:
        assert (out / f"soc_groups_{sc}.png").stat().st_size > 0 and (out / f"energy_groups_{sc}.png").exists()
