"""The ``slopt`` command line: validate, info and error handling (slopt.cli)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "instances" / "ieee33-hybrid.toml"


def run(*args, cwd):
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "slopt.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


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
