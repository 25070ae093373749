"""The optional ``[dispatch]`` section of instance files (battery groups, request, scenarios)."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from slopt import InstanceError, load_instance
from slopt.io.instance import DispatchData

ROOT = Path(__file__).resolve().parents[2]
NODE30 = ROOT / "instances" / "node30-groups.toml"
TOML = NODE30.name


@pytest.fixture
def node30_copy(tmp_path) -> Path:
    d = tmp_path / "inst"
    d.mkdir()
    shutil.copy(NODE30, d / TOML)
    shutil.copytree(NODE30.parent / "profiles", d / "profiles")
    shutil.copytree(NODE30.parent / "node30", d / "node30")
    return d / TOML


def test_node30_instance_loads():
    inst = load_instance(NODE30)
    d = inst.dispatch
    assert isinstance(d, DispatchData)
    assert d.bus == 30 and d.resolution_min == 15 and d.n_steps == 96 and d.dt_h == 0.25
    assert d.names == tuple(f"G{i}" for i in range(1, 10))
    assert d.technology == ("new",) * 4 + ("retired",) * 5
    np.testing.assert_array_equal(d.e_kwh, [14, 14, 14, 14, 28, 28, 28, 28, 18])
    np.testing.assert_array_equal(d.soh, [1, 1, 1, 1, 0.75, 0.78, 0.82, 0.85, 0.70])
    assert d.e_kwh.sum() == 186.0                                               # Yuan et al. §5.2
    # p_kw defaults: 1 C of usable energy for new (c_rate_max 1.0), 0.5 C for retired
    np.testing.assert_allclose(d.p_kw, [14, 14, 14, 14, 10.5, 10.92, 11.48, 11.9, 6.3])
    np.testing.assert_array_equal(d.eta_charge, [0.95] * 4 + [0.93] * 5)
    np.testing.assert_array_equal(d.soc_initial, [0.5] * 9)
    assert list(d.requests()) == ["base", "low", "medium", "high", "variable"]
    for name, peak in (("low", 38.945), ("medium", 68.155), ("high", 97.364)):
        assert np.abs(d.scenarios[name]).max() == pytest.approx(peak)
        np.testing.assert_allclose(d.scenarios[name] / peak, d.request_kw / np.abs(d.request_kw).max())
    assert np.abs(d.scenarios["variable"]).max() <= 97.364 + 1e-6
    assert d.priority_b == 1.0
    # the same feeder context as ieee33-hybrid
    base = load_instance(ROOT / "instances" / "ieee33-hybrid.toml")
    np.testing.assert_array_equal(inst.load_mult, base.load_mult)
    assert base.dispatch is None


def test_request_is_the_scaled_bus30_plan():
    """The request has the shape of the ieee33-hybrid plan at bus 30 and the 186/1000 kWh scaling."""
    d = load_instance(NODE30).dispatch
    assert np.abs(d.request_kw).max() == pytest.approx(283.779107 * 0.186, rel=1e-5)
    assert np.all(d.request_kw[:60] == 0)


def test_group_overrides_and_scale_scenario(node30_copy):
    text = node30_copy.read_text()
    text = text.replace('name = "G9"\ntechnology = "retired"\ne_kwh = 18.0\nsoh = 0.70',
                        'name = "G9"\ntechnology = "retired"\ne_kwh = 18.0\nsoh = 0.70\np_kw = 3\n'
                        'soc_min = 0.2\nsoc_max = 0.8\nsoc_initial = 0.3\neta_charge = 0.9')
    text = text.replace('peak_kw = 38.945', 'scale = 2')
    node30_copy.write_text(text)
    d = load_instance(node30_copy).dispatch
    assert (d.p_kw[8], d.soc_min[8], d.soc_max[8], d.soc_initial[8], d.eta_charge[8]) == (3, 0.2, 0.8, 0.3, 0.9)
    assert d.eta_discharge[8] == 0.93
    np.testing.assert_allclose(d.scenarios["low"], 2 * d.request_kw)


def test_resolution_defaults_to_profiles(node30_copy):
    node30_copy.write_text(node30_copy.read_text().replace("resolution_min = 15\npriority_b", "priority_b"))
    assert load_instance(node30_copy).dispatch.resolution_min == 15


# ----------------------------------------------------------------------------- bad inputs
def _sub(old, new):
    def edit(toml: Path):
        text = toml.read_text()
        assert old in text, old
        toml.write_text(text.replace(old, new, 1))
    return edit


def _request_csv(fn, name="request_15min.csv"):
    def edit(toml: Path):
        csv = toml.parent / "node30" / name
        csv.write_text("\n".join(fn(csv.read_text().splitlines())) + "\n")
    return edit


def _cell(row, value):
    def fn(lines):
        t, _ = lines[row].split(",")
        lines[row] = f"{t},{value}"
        return lines
    return fn


G9 = 'name = "G9"\ntechnology = "retired"\ne_kwh = 18.0\nsoh = 0.70'

BAD = {
    "group-soh": (_sub("soh = 0.75", "soh = 1.5"), TOML, ["dispatch.groups[4].soh = 1.5", "(0, 1]"]),
    "group-soh-zero": (_sub("soh = 0.78", "soh = 0"), TOML, ["dispatch.groups[5].soh = 0"]),
    "group-e-negative": (_sub("e_kwh = 28.0", "e_kwh = -28.0"), TOML, ["dispatch.groups[4].e_kwh = -28.0", "> 0"]),
    "group-e-missing": (_sub(G9, 'name = "G9"\ntechnology = "retired"\nsoh = 0.70'), TOML,
                        ["dispatch.groups[8].e_kwh", "(missing)"]),
    "group-p-zero": (_sub(G9, G9 + "\np_kw = 0"), TOML, ["dispatch.groups[8].p_kw = 0"]),
    "group-technology": (_sub('technology = "retired"', 'technology = "used"'), TOML,
                         ["dispatch.groups[4].technology = 'used'", "'new' or 'retired'"]),
    "group-duplicate-name": (_sub('name = "G9"', 'name = "G1"'), TOML,
                             ["dispatch.groups[8].name = 'G1'", "duplicate", "index 0"]),
    "group-blank-name": (_sub('name = "G9"', 'name = "  "'), TOML, ["dispatch.groups[8].name"]),
    "group-unknown-field": (_sub(G9, G9 + "\nsoh_pct = 70"), TOML, ["dispatch.groups[8].soh_pct", "unknown", "soh"]),
    "group-soc-window": (_sub(G9, G9 + "\nsoc_min = 0.95"), TOML,
                         ["dispatch.groups[8].soc_min = 0.95", "soc_max", "retired default"]),
    "group-soc-initial": (_sub(G9, G9 + "\nsoc_initial = 0.05"), TOML,
                          ["dispatch.groups[8].soc_initial = 0.05", "[0.1, 0.9]"]),
    "group-eta": (_sub(G9, G9 + "\neta_charge = 1.2"), TOML, ["dispatch.groups[8].eta_charge = 1.2"]),
    "group-string-number": (_sub("e_kwh = 18.0", 'e_kwh = "18"'), TOML, ["dispatch.groups[8].e_kwh = '18'"]),
    "no-groups": (lambda t: t.write_text(t.read_text()[: t.read_text().index("[[dispatch.groups]]")]), TOML,
                  ["dispatch.groups", "(missing)"]),
    "bus-float": (_sub("bus = 30", "bus = 30.0"), TOML, ["dispatch.bus = 30.0", "integer"]),
    "bus-unknown": (_sub("bus = 30", "bus = 34"), TOML, ["dispatch.bus = 34", "no such bus"]),
    "resolution": (_sub("resolution_min = 15\npriority_b", "resolution_min = 10\npriority_b"), TOML,
                   ["dispatch.resolution_min = 10", "60, 15 or 5"]),
    "resolution-mismatch-csv": (_sub("resolution_min = 15\npriority_b", "resolution_min = 60\npriority_b"),
                                "request_15min.csv", ["rows = 96", "24 rows"]),
    "priority-b": (_sub("priority_b = 1.0", "priority_b = -1.0"), TOML, ["dispatch.priority_b = -1.0"]),
    "request-missing": (_sub('request_file = "node30/request_15min.csv"', 'request_file = "node30/nope.csv"'), TOML,
                        ["dispatch.request_file = 'node30/nope.csv'", "not found"]),
    "request-blank": (_sub('request_file = "node30/request_15min.csv"', 'request_file = " "'), TOML,
                      ["dispatch.request_file"]),
    "request-nan": (_request_csv(_cell(70, "nan")), "request_15min.csv", ["row 70, p_request_kw = 'nan'", "finite"]),
    "request-text": (_request_csv(_cell(3, "abc")), "request_15min.csv", ["row 3, p_request_kw = 'abc'"]),
    "request-short": (_request_csv(lambda ls: ls[:-2]), "request_15min.csv", ["rows = 94", "short"]),
    "request-column": (_request_csv(lambda ls: ["time,p_kw"] + ls[1:]), "request_15min.csv",
                       ["not a CSV table with columns time,p_request_kw", "'p_request_kw'"]),
    "request-time": (_request_csv(lambda ls: ls[:5] + ["01:05,0.0"] + ls[6:]), "request_15min.csv",
                     ["row 5, time = '01:05'", "01:00"]),
    "scenario-two-ways": (_sub("peak_kw = 38.945", "peak_kw = 38.945\nscale = 0.7"), TOML,
                          ["dispatch.scenarios[0].", "exactly one", "scale", "peak_kw"]),
    "scenario-none": (_sub("peak_kw = 38.945", ""), TOML, ["dispatch.scenarios[0].scale = (missing)", "exactly one"]),
    "scenario-negative-peak": (_sub("peak_kw = 38.945", "peak_kw = -3"), TOML, ["dispatch.scenarios[0].peak_kw = -3"]),
    "scenario-zero-scale": (_sub("peak_kw = 38.945", "scale = 0"), TOML, ["dispatch.scenarios[0].scale = 0"]),
    "scenario-duplicate": (_sub('name = "medium"', 'name = "low"'), TOML,
                           ["dispatch.scenarios[1].name = 'low'", "duplicate"]),
    "scenario-base": (_sub('name = "low"', 'name = "base"'), TOML, ["dispatch.scenarios[0].name = 'base'", "reserved"]),
    "scenario-file-missing": (_sub('request_file = "node30/request_variable_15min.csv"', 'request_file = "x.csv"'), TOML,
                              ["dispatch.scenarios[3].request_file = 'x.csv'", "not found"]),
    "scenario-file-bad": (_request_csv(_cell(80, "inf"), "request_variable_15min.csv"), "request_variable_15min.csv",
                          ["row 80, p_request_kw = 'inf'"]),
    "scenario-unknown-field": (_sub("peak_kw = 68.155", "peak_kwh = 68.155"), TOML,
                               ["dispatch.scenarios[1].peak_kwh", "unknown", "peak_kw"]),
    "dispatch-unknown-field": (_sub("bus = 30", "bus = 30\nnode = 30"), TOML, ["dispatch.node", "unknown"]),
    "dispatch-not-table": (lambda t: t.write_text(t.read_text()[: t.read_text().index("[dispatch]")].replace(
        "[band]", "dispatch = 3\n\n[band]")), TOML, ["dispatch = 3", "table"]),
}


def _zero_request(toml: Path):
    csv = toml.parent / "node30" / "request_15min.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0]] + [f"{ln.split(',')[0]},0" for ln in lines[1:]]) + "\n")


BAD["scenario-peak-of-zero-request"] = (_zero_request, TOML, ["dispatch.scenarios[0].peak_kw = 38.945", "all-zero"])


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_dispatch_section_gives_one_line_instance_error(case, node30_copy):
    edit, fname, needles = BAD[case]
    edit(node30_copy)
    with pytest.raises(InstanceError) as info:
        load_instance(node30_copy)
    msg = str(info.value)
    assert "\n" not in msg
    assert fname in msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    assert info.value.exit_code == 2


def test_canonical_message(node30_copy):
    _sub("soh = 0.75", "soh = 1.5")(node30_copy)
    with pytest.raises(InstanceError) as info:
        load_instance(node30_copy)
    assert str(info.value) == f"{node30_copy}: dispatch.groups[4].soh = 1.5: must be in (0, 1]"


# ----------------------------------------------------------------------------- fuzz: only InstanceError escapes
import math  # noqa: E402
import tomllib  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

BASE = tomllib.loads(NODE30.read_text())


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or c in '"\\' else c for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_value(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


_values = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 30, 34, 0.0, -1.0, 0.5, 1.5, "new", "retired", "base", "low", "",
                                     "node30/request_15min.csv", "../x.csv"]),
                    st.text(max_size=6), st.booleans(), st.lists(st.integers(0, 40), max_size=3),
                    st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), max_size=2))


@st.composite
def _mutated_dispatch(draw):
    import copy

    data = copy.deepcopy(BASE)
    d = data["dispatch"]
    where = draw(st.sampled_from(["dispatch", "groups", "scenarios"]))
    table = d if where == "dispatch" else draw(st.sampled_from(d[where]))
    keys = [k for k in table if not isinstance(table[k], list)] + ["extra_key"]
    key = draw(st.sampled_from(keys))
    if draw(st.booleans()) and key in table:
        del table[key]
    else:
        table[key] = draw(_values)
    if draw(st.integers(0, 5)) == 0 and len(d["groups"]) > 1:
        d["groups"] = d["groups"][: draw(st.integers(0, len(d["groups"])))]
    return "".join(f"{_toml_value(k)} = {_toml_value(v)}\n" for k, v in data.items())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(text=_mutated_dispatch())
def test_fuzz_dispatch_section_only_instance_error(node30_copy, text):
    node30_copy.write_text(text)
    try:
        inst = load_instance(node30_copy)
    except InstanceError as e:
        assert str(e) and "\n" not in str(e)
        return
    d = inst.dispatch
    assert d is not None and d.n_groups >= 1
    assert np.all(np.isfinite(d.p_kw)) and np.all(d.soc_min < d.soc_max)
    assert all(np.all(np.isfinite(r)) for r in d.requests().values())
