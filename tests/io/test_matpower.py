"""MATPOWER reader: the five bundled distribution cases, their unit post-processing, refusals.

Reference numbers come from the papers the cases cite (Baran & Wu 1989 for case33bw) or are
computed by hand from the raw rows of the ``.m`` files, never from our own output.
"""

from __future__ import annotations

import math
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
