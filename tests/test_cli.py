"""The ``slopt`` command line: validate, info and error handling (slopt.cli)."""

import shutil
from pathlib import Path

from tests.conftest import run_cli

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "instances" / "ieee33-hybrid.toml"



def run(*args, cwd, columns=200):
    return run_cli(*args, cwd=cwd, columns=columns)


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "inst"
    d.mkdir()
    shutil.copy(DEFAULT, d / DEFAULT.name)
    shutil.copytree(DEFAULT.parent / "profiles", d / "profiles")
    return d / DEFAULT.name


def _tree(p: Path):
    return sorted(str(x.relative_to(p)) for x in p.rglob("*"))


def test_validate_default_instance(tmp_path):
    r = run("validate", DEFAULT, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "case33bw" in r.stdout and "ieee33" in r.stdout
    assert "96 x 15 min" in r.stdout
    assert "0.93 - 1.05" in r.stdout
    assert "1510 $/kWh" in r.stdout and "1015 $/kWh" in r.stdout       # Table 1: new and retired
    assert "8, 18, 30" in r.stdout
    assert r.stderr == ""
    assert _tree(tmp_path) == []                                         # writes nothing


def test_validate_report_runs_base_case(tmp_path):
    r = run("validate", DEFAULT, "--report", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "min voltage" in r.stdout and "bus 18" in r.stdout          # weakest bus of case33bw
    assert "hours outside band" in r.stdout
    assert "kWh/day" in r.stdout
    assert "all steps" in r.stdout


@pytest.mark.parametrize("edit, needle", [
    (("soh = 0.8", "soh = 1.7"), "storage.retired.soh = 1.7: must be in (0, 1]"),
    (("vmin_pu = 0.93", "vmin_pu = = 0.93"), "invalid TOML"),
    (('feeder = "ieee33"', 'feeder = "ieee34"'), "feeder = 'ieee34'"),
    (("pv_buses = [7, 10,", "pv_buses = [7, 77,"), "profiles.pv_buses[1] = 77"),
])
def test_bad_instance_exits_2_with_one_line(tmp_path, edit, needle):
    toml = _copy(tmp_path)
    toml.write_text(toml.read_text().replace(*edit))
    out = tmp_path / "out"
    out.mkdir()
    before = _tree(tmp_path)
    r = run("validate", toml, "--report", cwd=out)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    assert needle in lines[0] and toml.name in lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert _tree(tmp_path) == before and _tree(out) == []


def test_missing_instance_file(tmp_path):
    r = run("validate", tmp_path / "missing.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "missing.toml" in r.stderr
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    assert _tree(tmp_path) == []


def test_info_lists_versions_and_feeders(tmp_path):
    r = run("info", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name, n in [("ieee33", "33"), ("ieee69", "69"), ("ieee85", "85"), ("ieee118", "118"), ("ieee141", "141")]:
        line = next(ln for ln in r.stdout.splitlines() if f" {name} " in ln)
        assert f" {n} " in line
    assert "numpy" in r.stdout and "python" in r.stdout
    import slopt
    assert slopt.__version__ in r.stdout


def test_main_maps_slopt_errors_in_process(tmp_path, capsys):
    from slopt.cli import main

    with pytest.raises(SystemExit) as info:
        main(["validate", str(tmp_path / "nope.toml")])
    assert info.value.code == 2
    err = capsys.readouterr()
    assert err.out == ""
    assert err.err.count("\n") == 1 and err.err.startswith("error: ")


# ----------------------------------------------------------------------------- solve
def test_solve_default_instance_writes_results(tmp_path):
    out = tmp_path / "res"
    r = run("solve", DEFAULT, "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "optimal" in r.stdout and "Capacity (kWh)" in r.stdout and "Cost ($)" in r.stdout
    for name in ("sizing.csv", "dispatch.csv", "voltages.csv", "result.json", "power.png", "voltages.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob("*.tmp"))                       # atomic writes leave no temporaries
    import json
    import pandas as pd
    res = json.loads((out / "result.json").read_text())
    sizing = pd.read_csv(out / "sizing.csv")
    assert res["status"] == "optimal"
    assert res["objective_usd"] == pytest.approx(sizing["cost_usd"].sum(), rel=1e-6)
    volts = pd.read_csv(out / "voltages.csv")
    assert volts["vm_ac_pu"].min() >= 0.93 - 1e-4           # the AC check holds the band
    assert volts["vm_base_ac_pu"].min() < 0.93               # and storage was needed


def test_solve_infeasible_exits_3_and_explains(tmp_path):
    inst = _copy(tmp_path)
    text = inst.read_text().replace("p_max_kw = 200.0", "p_max_kw = 5.0")
    inst.write_text(text)
    out = tmp_path / "res"
    r = run("solve", inst, "--out", out, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    # stderr: progress log lines (not a terminal), then the one-line error last
    err = [line for line in r.stderr.strip().splitlines() if not line.startswith("[")]
    assert len(err) == 1 and err[0].startswith("error:") and "infeasible" in err[0]
    assert r.stderr.strip().splitlines()[-1] == err[0]
    assert "bus" in err[0] and "p.u." in err[0]
    assert "cannot be held" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert not (out / "sizing.csv").exists()              # no plan under exit 3 ...
    import json
    import pandas as pd
    diag = pd.read_csv(out / "diagnosis.csv")               # ... but always the AC diagnosis
    assert len(diag) > 0 and set(diag.columns) >= {"bus", "time_h", "side", "vm_ac_pu", "shortfall_pu"}
    res = json.loads((out / "result.json").read_text())
    assert res["status"] == "infeasible" and len(res["diagnosis"]) == len(diag)
    assert "not a plan" in res["least_violation_plan"]["note"]


def test_solve_bad_option_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "res"
    r = run("solve", DEFAULT, "--method", "simplex", "--out", out, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "--method = 'simplex'" in r.stderr
    assert not out.exists()


def test_solve_with_dbo_reports_convergence_and_gap(tmp_path):
    out = tmp_path / "res"
    r = run("solve", ROOT / "instances" / "ieee33-open.toml", "--method", "dbo", "--pop", "20", "--gens", "12",
            "--out", out, cwd=tmp_path)
    assert r.returncode in (0, 4), r.stderr                 # 4: no band-feasible plan in 12 generations
    assert "MILP optimum" in r.stdout and "% above it" in r.stdout
    import json
    import pandas as pd
    conv = pd.read_csv(out / "convergence.csv")
    assert len(conv) == 12 and conv["best_f"].is_monotonic_decreasing
    res = json.loads((out / "result.json").read_text())
    assert res["method"] == "dbo" and res["status"] in ("feasible", "error") and res["gap_to_milp"] is not None
    assert (out / "convergence.png").stat().st_size > 0


# ----------------------------------------------------------------------------- output a person can read
def test_version_and_python_dash_m_slopt(tmp_path):
    import subprocess
    import sys
    from slopt import __version__
    r = run("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"slopt {__version__}"
    m = subprocess.run([sys.executable, "-m", "slopt", "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert m.returncode == 0 and m.stdout.strip() == f"slopt {__version__}"


def test_help_lists_the_choices(tmp_path):
    r = run("solve", "--help", cwd=tmp_path)
    for choice in ("[milp|dbo|pso|ga]", "[capex|annualised]", "[unbiased|paper]", "[table|csv|json]"):
        assert choice in r.stdout


@pytest.mark.parametrize("args,field", [(("--seed", "-1"), "--seed"), (("--seed", "4294967296"), "--seed"),
                                        (("--threads", "-1"), "--threads"), (("--threads", "1000000"), "--threads"),
                                        (("--pop", "1000000", "--method", "dbo"), "--pop"),
                                        (("--gens", "1000000", "--method", "dbo"), "--gens"),
                                        (("--format", "xml"), "--format"), (("--time-limit", "inf"), "--time-limit")])
def test_bad_options_are_one_line_errors_before_any_work(tmp_path, args, field):
    out = tmp_path / "res"
    r = run("solve", DEFAULT, *args, "--out", out, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"error: {field}")
    assert not out.exists()


def test_limits_can_be_raised(tmp_path):
    r = run("--limit", "pop=2000000", "--limit", "gens=2e6", "solve", DEFAULT, "--pop", "1000000", "--gens", "1000000", "--method", "dbo",
            cwd=tmp_path)
    assert r.returncode == 2 and "evaluations" in r.stderr          # the next limit still guards the budget
    bad = run("--limit", "pop", "solve", DEFAULT, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --limit")


def test_csv_and_json_formats_are_machine_readable(tmp_path):
    import io
    import json
    import pandas as pd
    r = run("solve", DEFAULT, "--format", "csv", "--out", tmp_path / "a", "--no-plots", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(io.StringIO(r.stdout))
    assert list(table.columns[:4]) == ["bus", "technology", "e_kwh", "p_kw"]
    saved = pd.read_csv(tmp_path / "a" / "sizing.csv")
    assert table["cost_usd"].sum() == pytest.approx(saved["cost_usd"].sum())
    j = run("solve", DEFAULT, "--format", "json", "--out", tmp_path / "b", "--no-plots", cwd=tmp_path)
    summary = json.loads(j.stdout)
    assert summary["status"] == "optimal" and summary["status_covers"]["ac_max_violation_pu"] <= 1e-6
    # not a terminal: progress goes to stderr as periodic log lines, never into stdout
    assert "started" in j.stderr and "done" in j.stderr and "[" in j.stderr


@pytest.mark.parametrize("cmd", [("solve", DEFAULT), ("dispatch", ROOT / "instances" / "node30-groups.toml")])
def test_tables_fit_80_columns(tmp_path, cmd):
    r = run(*cmd, "--out", tmp_path / "o", "--no-plots", cwd=tmp_path, columns=80)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in r.stdout                                        # nothing truncated
