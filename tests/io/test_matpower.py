"""MATPOWER reader: the five bundled distribution cases, their unit post-processing, refusals.

Reference numbers come from the papers the cases cite (Baran & Wu 1989 for case33bw) or are
computed by hand from the raw rows of the ``.m`` files, never from our own output.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from slopt.errors import InstanceError
from slopt.grid.feeder import BUNDLED_FEEDERS, Feeder, load_feeder
from slopt.io.matpower import parse_matpower, read_matpower

ROOT = Path(__file__).resolve().parents[2]
MATPOWER_DIR = ROOT / "instances" / "feeders" / "matpower"
# bus count = rows of mpc.bus in each file (and the number in the case name)
CASES = {"case33bw": 33, "case69": 69, "case85": 85, "case118zh": 118, "case141": 141}


def _m(case: str) -> Path:
    return MATPOWER_DIR / f"{case}.m"


@pytest.mark.parametrize("case,n_bus", CASES.items())
def test_all_bundled_cases_parse(case, n_bus):
    f = read_matpower(_m(case))
    assert f.n_bus == n_bus
    assert f.name == case
    assert f.bus_ids[0] == 1  # the reference bus of every case
    assert sorted(f.bus_ids.tolist()) == list(range(1, n_bus + 1))
    assert np.all(f.r_pu[1:] >= 0) and np.all(f.x_pu[1:] >= 0)
    assert np.all(np.hypot(f.r_pu[1:], f.x_pu[1:]) > 0)


@pytest.mark.parametrize("case", CASES)
def test_post_processing_gives_kw_not_w(case):
    """Without the trailing MATLAB conversions the loads would be 1000x too large."""
    f = read_matpower(_m(case))
    total = f.p_load_kw.sum()
    # the five feeders carry 2.5 MW to 23 MW; unconverted values would be 2.5e6 .. 2.3e7
    assert 1e3 < total < 3e4
    assert f.p_load_kw.max() < 5e3
    applied = parse_matpower(_m(case).read_text(), _m(case))["applied"]
    assert "branch r,x: ohm -> p.u." in applied
    assert "bus loads: kW -> MW" in applied


def test_without_trailer_loads_are_1000x():
    """Cutting the conversions off the file changes the loads by exactly 1000."""
    text = _m("case33bw").read_text()
    head = text.split("%% convert branch impedances")[0]
    raw = parse_matpower(head)
    conv = parse_matpower(text)
    assert raw["applied"] == []
    np.testing.assert_allclose(raw["bus"][:, 2], conv["bus"][:, 2] * 1e3)


def test_case33bw_total_load_baran_wu():
    # Baran & Wu (1989): 3715 kW and 2300 kvar in total
    f = read_matpower(_m("case33bw"))
    assert f.p_load_kw.sum() == pytest.approx(3715.0, abs=1e-9)
    assert f.q_load_kvar.sum() == pytest.approx(2300.0, abs=1e-9)


def test_case141_loads_are_kva_at_pf_085():
    # raw row of case141.m: "53  1  100  0 ..." -> 100 kVA at power factor 0.85
    raw_row = "\t53\t1\t100\t0\t0\t0\t1\t1\t0\t12.47\t1\t1.1\t0.9;"
    assert raw_row in _m("case141").read_text()
    f = read_matpower(_m("case141"))
    k = f.index_of(53)
    assert f.p_load_kw[k] == pytest.approx(85.0, rel=1e-12)
    assert f.q_load_kvar[k] == pytest.approx(100 * math.sqrt(1 - 0.85**2), rel=1e-12)  # 52.678 kvar
    # every bus: Q/P = tan(acos(0.85))
    loaded = f.p_load_kw > 0
    np.testing.assert_allclose(f.q_load_kvar[loaded] / f.p_load_kw[loaded], math.tan(math.acos(0.85)), rtol=1e-12)


def test_branch_ohm_to_pu_by_hand():
    # raw row of case33bw.m: branch 1-2, r = 0.0922 ohm, x = 0.0470 ohm; 12.66 kV, 10 MVA
    assert "\t1\t2\t0.0922\t0.0470\t" in _m("case33bw").read_text()
    f = read_matpower(_m("case33bw"))
    k = f.index_of(2)
    assert f.parent[k] == f.index_of(1)
    z_base = 12.66**2 / 10  # 16.02756 ohm
    assert f.r_pu[k] == pytest.approx(0.0922 / z_base, rel=1e-12)
    assert f.x_pu[k] == pytest.approx(0.0470 / z_base, rel=1e-12)
    assert f.r_pu[k] == pytest.approx(0.0057526, rel=1e-5)


def test_case33bw_tie_branches_dropped():
    # the .m file has 37 branches, 5 of them open ties (status 0): the feeder keeps 32
    f = read_matpower(_m("case33bw"))
    edges = {frozenset(e) for e in f.graph().edges}
    assert len(edges) == 32
    assert frozenset((21, 8)) not in edges and frozenset((25, 29)) not in edges


@pytest.mark.parametrize(
    "statement",
    [
        "mpc.bus(:, PD) = mpc.bus(:, PD) * 2;",
        "mpc.branch(:, BR_R) = 0;",
        "x = 3;",
    ],
)
def test_unsupported_trailing_statement_refused(statement):
    text = _m("case33bw").read_text() + "\n" + statement + "\n"
    with pytest.raises(InstanceError) as ei:
        parse_matpower(text, "bad.m")
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith("bad.m: ")
    assert statement.rstrip(";") in msg


def test_statement_between_matrices_refused():
    """A conversion placed between the matrices must not be skipped silently."""
    text = _m("case33bw").read_text().replace("%% generator data", "mpc.bus(:, PD) = mpc.bus(:, PD) * 2;")
    with pytest.raises(InstanceError, match="mpc.bus"):
        parse_matpower(text, "bad.m")


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "",
        "function mpc = x\nmpc.baseMVA = 10;\nmpc.bus = [1 3 0 0];\nmpc.branch = [1 2 0.1 0.1];\n",
    ],
)
def test_garbage_text_refused(text):
    with pytest.raises(InstanceError) as ei:
        parse_matpower(text, "junk.m")
    assert "\n" not in str(ei.value) and "junk.m" in str(ei.value)


def test_non_numeric_matrix_row_refused():
    text = _m("case33bw").read_text().replace("\t5\t1\t60\t30\t", "\t5\t1\tsixty\t30\t")
    with pytest.raises(InstanceError, match=r"mpc\.bus\[row 5\]"):
        parse_matpower(text, "bad.m")


def test_garbage_and_missing_files_refused(tmp_path):
    binary = tmp_path / "binary.m"
    binary.write_bytes(bytes(range(256)) * 4)
    text = tmp_path / "text.m"
    text.write_text("this is not a MATPOWER case\n")
    for p in (binary, text, tmp_path / "missing.m"):
        with pytest.raises(InstanceError) as ei:
            read_matpower(p)
        assert str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_meshed_case_refused(tmp_path):
    """Closing a tie switch of case33bw makes it meshed."""
    text = _m("case33bw").read_text().replace(
        "\t21\t8\t2.0000\t2.0000\t0\t0\t0\t0\t0\t0\t0\t", "\t21\t8\t2.0000\t2.0000\t0\t0\t0\t0\t0\t0\t1\t"
    )
    p = tmp_path / "meshed.m"
    p.write_text(text)
    with pytest.raises(InstanceError, match="meshed"):
        read_matpower(p)


@pytest.mark.parametrize("key,case", BUNDLED_FEEDERS.items())
def test_bundled_toml_equals_matpower(key, case):
    a = load_feeder(key)
    b = Feeder.from_matpower(_m(case))
    assert a.source.endswith(f"{case}.toml")
    assert a.name == b.name == case
    np.testing.assert_array_equal(a.bus_ids, b.bus_ids)
    np.testing.assert_array_equal(a.parent, b.parent)
    for fld in ("r_pu", "x_pu", "p_load_kw", "q_load_kvar"):
        np.testing.assert_allclose(getattr(a, fld), getattr(b, fld), rtol=1e-12, atol=1e-12, err_msg=fld)
    assert (a.base_kv, a.base_mva, a.v_root_pu) == (b.base_kv, b.base_mva, b.v_root_pu)


# ----------------------------------------------------------------------------- statements and bounds
def _case33() -> str:
    return _m("case33bw").read_text()


@pytest.mark.parametrize("text,needle", [
    (lambda t: t + "\nsystem('touch /tmp/x');\n", "system('touch /tmp/x')"),
    (lambda t: t + "\nsystem('touch /tmp/x')", "system('touch /tmp/x')"),            # no semicolon, last line
    (lambda t: t.replace("mpc.version = '2';", "mpc.version = '2'; system('ls');"), "system('ls')"),
    (lambda t: t + "\ndisp(mpc)\n", "disp(mpc)"),
    (lambda t: t + "\nmpc = loadcase('x');\n", "loadcase"),
    (lambda t: t + "\n!rm -rf x\n", "!rm -rf x"),
])
def test_any_other_statement_or_call_is_refused(text, needle):
    with pytest.raises(InstanceError, match="unsupported MATLAB statement") as e:
        parse_matpower(text(_case33()), "bad.m")
    assert needle in str(e.value)


def test_a_file_that_does_not_start_with_the_function_line_is_not_echoed():
    with pytest.raises(InstanceError) as e:
        parse_matpower("system('touch /tmp/x')\nfunction mpc = x\n", "bad.m")
    assert str(e.value) == "bad.m: not a MATPOWER case file (the first statement must be 'function mpc = NAME')"


def test_cell_arrays_hold_only_strings_and_numbers():
    good = _case33() + "\nmpc.bus_name = {\n\t'Bus 1';\n\t'Bus 2 % not a comment';\n};\n"
    assert parse_matpower(good, "ok.m")["bus"].shape == (33, 13)
    with pytest.raises(InstanceError, match=r"mpc.bus_name .*cell array may hold only"):
        parse_matpower(_case33() + "\nmpc.bus_name = { 'a'; system('ls') };\n", "bad.m")


def test_continuations_and_comments():
    """``...`` continues a statement; ``%`` inside a string is not a comment."""
    text = _case33().replace("mpc.baseMVA = 10;", "mpc.baseMVA = ... the rest is a comment\n  10;  % MVA")
    assert parse_matpower(text, "ok.m")["baseMVA"] == 10.0


def test_a_long_line_is_refused_before_any_pattern_is_matched():
    text = _case33() + "%" + "1 " * 3_000_000 + "\n"
    with pytest.raises(InstanceError, match=r"line 126 = '6,000,001 characters': longer than 10,000 characters"):
        parse_matpower(text, "bad.m")


def test_too_many_lines_are_refused():
    from slopt.io.matpower import MAX_LINES

    with pytest.raises(InstanceError, match=rf"lines = {MAX_LINES + 1}: more than"):
        parse_matpower("function mpc = x\n" + "\n" * (MAX_LINES - 1), "bad.m")


@pytest.mark.parametrize("old,new,needle", [
    ("\t3\t1\t90\t40\t", "\t3.5\t1\t90\t40\t", r"mpc.bus\[row 3\].bus_i = '3.5': must be a positive integer"),
    ("\t3\t1\t90\t40\t", "\t1e30\t1\t90\t40\t", r"mpc.bus\[row 3\].bus_i = '1e\+30'"),
    ("\t3\t1\t90\t40\t", "\t0\t1\t90\t40\t", r"mpc.bus\[row 3\].bus_i = '0'"),
    ("\t3\t1\t90\t40\t", "\t3\t7\t90\t40\t", r"mpc.bus\[row 3\].type = 7.0: must be 1, 2, 3 or 4"),
    ("\t2\t3\t0.4930\t", "\t2\t3.25\t0.4930\t", r"mpc.branch\[row 2\].tbus = '3.25'"),
    ("mpc.baseMVA = 10;", "mpc.baseMVA = Inf;", r"mpc.baseMVA = inf: must be a number in \[0.001, 100000\] MVA"),
    ("mpc.baseMVA = 10;", "mpc.baseMVA = 1e-300;", r"mpc.baseMVA = 1e-300"),
    ("mpc.baseMVA = 10;", "mpc.baseMVA = 0;", r"mpc.baseMVA = 0.0"),
    ("mpc.baseMVA = 10;", "mpc.baseMVA = NaN;", r"mpc.baseMVA = nan"),
    ("\t3\t1\t90\t40\t", "\t3\t1\t1e30\t40\t", r"mpc.bus\[row 3\].Pd = '1e\+27': must be at most 10000 MW"),
    ("\t3\t1\t90\t40\t", "\t3\t1\tNaN\t40\t", r"mpc.bus\[row 3\].Pd = 'nan': must be finite"),
    ("\t1\t2\t0.0922\t0.0470\t", "\t1\t2\tInf\t0.0470\t", r"mpc.branch\[row 1\].r = 'inf': must be finite"),
    ("\t3\t1\t90\t40\t", "\t3\t1\t9_0\t40\t", r"mpc.bus\[row 3\] = '9_0': not a number"),
    ("\t3\t1\t90\t40\t", "\t3\t1\t\u0669\u0660\t40\t", r"mpc.bus\[row 3\] = '\u0669\u0660': not a number"),
    ("12.66\t1\t1\t1;", "NaN\t1\t1\t1;", r"mpc.bus\[1\].baseKV = 'nan': must be a number in \[0.01, 1000\] kV"),
])
def test_ids_bases_and_values_are_validated(old, new, needle):
    text = _case33()
    assert old in text
    with pytest.raises(InstanceError, match=needle) as e:
        parse_matpower(text.replace(old, new, 1), "bad.m")
    assert str(e.value).startswith("bad.m: ")


@pytest.mark.parametrize("vg", ["NaN", "0", "Inf", "2.0"])
def test_root_voltage_must_be_a_physical_set_point(tmp_path, vg):
    """Vg = NaN used to end in 'no storage needed' with empty voltages; 0 in a traceback."""
    p = tmp_path / "vg.m"
    p.write_text(_case33().replace("\t1\t0\t0\t10\t-10\t1\t100\t1\t", f"\t1\t0\t0\t10\t-10\t{vg}\t100\t1\t"))
    with pytest.raises(InstanceError, match=r"mpc.gen\[bus 1\].Vg = .*root voltage must be a number in \[0.5, 1.5\]"):
        read_matpower(p)
    p.write_text(_case33().replace("\t1\t0\t0\t10\t-10\t1\t100\t1\t", "\t1\t0\t0\t10\t-10\t1.02\t100\t1\t"))
    assert read_matpower(p).v_root_pu == 1.02


def test_power_factor_statement_is_checked():
    text = _m("case141").read_text()
    for bad in ("1.2.3", "1.5", "-0.85"):
        with pytest.raises(InstanceError, match=rf"pf = '{re.escape(bad)}': power factor must be a number in \(0, 1\]"):
            parse_matpower(text.replace("pf = 0.85;", f"pf = {bad};"), "bad.m")


def test_bus_count_limit(monkeypatch):
    monkeypatch.setenv("SLOPT_LIMITS", "buses=20")
    with pytest.raises(InstanceError, match=r"mpc.bus rows = 33: exceeds the limit buses = 20"):
        parse_matpower(_case33(), "big.m")


def test_binary_and_wrong_types(tmp_path):
    from slopt.errors import ArgumentError

    p = tmp_path / "bin.m"
    p.write_bytes(b"function mpc = x\n\x00\x01")
    with pytest.raises(InstanceError, match=r"bin.m: not a MATPOWER case file \(binary data\)$"):
        read_matpower(p)
    with pytest.raises(ArgumentError):
        parse_matpower(b"function mpc = x")
    with pytest.raises(ArgumentError):
        read_matpower(None)
