"""`slopt economics`: the command a user runs, and its one-line errors with nothing written."""

import json

import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli

INST = ROOT / "instances" / "ieee33-hybrid.toml"


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    r = run_cli("solve", INST, "--out", out, "--no-plots", cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return out


def test_economics_on_a_result_dir(solved, tmp_path):
    out = tmp_path / "econ"
    r = run_cli("economics", solved, "--instance", INST, "--draws", 2000, "--out", out, "--seed", 3, cwd=ROOT, columns=80)
    assert r.returncode == 0, r.stderr
    assert "fee band" in r.stdout and "Table 4" in r.stdout and "EaaS" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    for f in ("metrics.csv", "cashflows.csv", "fee_bands.csv", "risk_summary.csv", "table4.csv", "eaas_summary.csv",
              "result.json", "cashflows.png", "npv_distributions.png", "fee_bands.png", "prices.csv"):
        assert (out / f).is_file(), f
    m = pd.read_csv(out / "metrics.csv")
    assert set(m["model"]) == {"BaaP", "BaaS", "PaaS", "EaaS"} and {"manufacturer", "user", "grid"} <= set(m["party"])
    res = json.loads((out / "result.json").read_text())
    assert res["risk"]["draws"] == 2000
    # the same seed gives the same draws
    # without --instance: instances/<name>.toml is found below the working directory
    r2 = run_cli("economics", solved, "--draws", 2000, "--out", tmp_path / "e2", "--seed", 3,
                 "--model", "paas", "--no-eaas", "--no-plots", cwd=ROOT)
    assert r2.returncode == 0, r2.stderr
    a = pd.read_csv(out / "risk_draws.csv")["PaaS.user"]
    b = pd.read_csv(tmp_path / "e2" / "risk_draws.csv")["PaaS.user"]
    pd.testing.assert_series_equal(a, b)


def test_economics_on_an_instance_solves_first(tmp_path):
    out = tmp_path / "econ"
    r = run_cli("economics", INST, "--draws", 500, "--model", "BaaP,EaaS", "--no-eaas", "--no-plots", "--out", out,
                cwd=ROOT)
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(out / "metrics.csv")
    assert set(m["model"]) == {"BaaP", "EaaS"}
    assert not (out / "cashflows.png").exists()


def test_result_dir_without_instance_is_one_line(tmp_path):
    (tmp_path / "d").mkdir()
    r = run_cli("economics", tmp_path / "d", cwd=tmp_path)
    assert r.returncode == 2 and "not a slopt solve output directory" in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("toml, text", [
    ("[supply]\nrepurposing_eur_per_kwh = -27.2\n", "supply.repurposing_eur_per_kwh = -27.2: must be >= 0"),
    ("[value]\nvoltage_support_usd_per_kw_yr = nan\n", "value.voltage_support_usd_per_kw_yr = nan: must be a finite"),
    ("[finance]\ndiscount_user = -1.0\n", "finance.discount_user = -1.0: must be > -1"),
])
def test_bad_prices_exit_2_one_line_nothing_written(tmp_path, toml, text):
    p = tmp_path / "p.toml"
    p.write_text(toml)
    out = tmp_path / "out"
    r = run_cli("economics", INST, "--prices", p, "--out", out, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {p}: {text}" or (r.stderr.startswith(f"error: {p}: {text}")
                                                         and r.stderr.count("\n") == 1)
    assert r.stdout == "" and not out.exists()


@pytest.mark.parametrize("args, text", [
    (("--model", "XaaS"), "--model = 'XaaS': unknown model"),
    (("--draws", "-5"), "--draws = -5: must be >= 0"),
])
def test_bad_options(tmp_path, args, text):
    r = run_cli("economics", INST, *args, "--out", tmp_path / "o", cwd=ROOT)
    assert r.returncode == 2 and text in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()
