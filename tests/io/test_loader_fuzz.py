"""Property test: whatever the file contents, load_instance raises only InstanceError.

The valid default instance is copied to a temporary directory and mutated: a key deleted,
a key set to a random value (NaN, negative, strings, lists, nested tables, dates), the CSV
truncated or corrupted, random bytes written into the TOML. Each result must be either a
loaded Instance or an InstanceError with a one-line message.
"""

import copy
import datetime as dt
import functools
import math
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slopt import Instance, InstanceError, load_instance

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "instances" / "ieee33-hybrid.toml"
BASE = tomllib.loads(DEFAULT.read_text())
CSV_NAME = "day_15min.csv"
BASE_CSV = (DEFAULT.parent / "profiles" / CSV_NAME).read_bytes()


# ----------------------------------------------------------------------------- tiny TOML writer
def _str(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _str(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_str(k)} = {_val(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dumps(data: dict) -> str:
    """Every top-level key on one line, nested tables inline."""
    return "".join(f"{_str(k)} = {_val(v)}\n" for k, v in data.items())


def test_writer_round_trips():
    assert tomllib.loads(dumps(BASE)) == BASE


# ----------------------------------------------------------------------------- strategies
def _paths(d: dict, prefix=()):
    for k, v in d.items():
        yield prefix + (k,)
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


PATHS = list(_paths(BASE))
TABLES = [()] + [p for p in PATHS if isinstance(functools.reduce(lambda d, k: d[k], p, BASE), dict)]

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 5, 15, 60, 8, 18, 30, 33, 34]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 1.7, -1.0, math.nan, math.inf, 1e308, 5e-324]),
    st.text(max_size=12),
    st.sampled_from(["ieee33", "ieee69", "x.m", "../x.toml", "profiles/day_15min.csv", "free", "fixed", ""]),
    st.booleans(),
    st.dates(),
    st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _delete(data, path):
    d = data
    for k in path[:-1]:
        d = d[k]
    del d[path[-1]]


def _set(data, path, value):
    d = data
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


@st.composite
def mutated(draw):
    """(toml_bytes, csv_bytes) for one mutation of the default instance."""
    data = copy.deepcopy(BASE)
    csv = BASE_CSV
    kind = draw(st.sampled_from(["delete", "set", "set-new", "csv", "bytes", "mixed"]))
    if kind in ("delete", "mixed"):
        _delete(data, draw(st.sampled_from(PATHS)))
    if kind in ("set", "mixed"):
        paths = list(_paths(data))
        if paths:
            _set(data, draw(st.sampled_from(paths)), draw(values))
    if kind == "set-new":
        table = draw(st.sampled_from(TABLES))
        d = data
        for k in table:
            d = d[k]
        d[draw(st.text(min_size=1, max_size=10))] = draw(values)
    text = dumps(data).encode("utf-8")
    if kind == "csv":
        how = draw(st.sampled_from(["truncate", "flip", "insert", "drop-line"]))
        if how == "truncate":
            csv = csv[: draw(st.integers(0, len(csv)))]
        elif how == "flip":
            pos = draw(st.integers(0, len(csv) - 1))
            csv = csv[:pos] + draw(st.binary(min_size=1, max_size=4)) + csv[pos + 1:]
        elif how == "insert":
            pos = draw(st.integers(0, len(csv)))
            csv = csv[:pos] + draw(st.sampled_from([b",", b"\n", b"nan", b"-1", b"\"", b"\x00", b"\r", b"1e999"])) + csv[pos:]
        else:
            lines = csv.split(b"\n")
            del lines[draw(st.integers(0, len(lines) - 1))]
            csv = b"\n".join(lines)
    if kind == "bytes":
        how = draw(st.sampled_from(["replace", "insert", "random"]))
        if how == "random":
            text = draw(st.binary(max_size=200))
        else:
            pos = draw(st.integers(0, len(text)))
            junk = draw(st.binary(min_size=1, max_size=8))
            text = text[:pos] + junk + text[pos + (len(junk) if how == "replace" else 0):]
    return text, csv


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(case=mutated())
def test_only_instance_error_escapes(tmp_path, case):
    toml_bytes, csv_bytes = case
    d = tmp_path / "fuzz"
    if d.exists():
        shutil.rmtree(d)
    (d / "profiles").mkdir(parents=True)
    (d / "profiles" / CSV_NAME).write_bytes(csv_bytes)
    toml = d / "inst.toml"
    toml.write_bytes(toml_bytes)
    try:
        inst = load_instance(toml)
    except InstanceError as e:
        msg = str(e)
        assert msg and "\n" not in msg and "\r" not in msg
        return
    assert isinstance(inst, Instance)
    assert inst.n_steps in (24, 96, 288)
    assert inst.load_mult.shape == inst.pv_mult.shape == (inst.n_steps,)


@pytest.mark.parametrize("data", [b"", b"\x00\x01", b"\xef\xbb\xbf", "name = 'é'".encode("latin-1")])
def test_degenerate_files(tmp_path, data):
    toml = tmp_path / "x.toml"
    toml.write_bytes(data)
    with pytest.raises(InstanceError) as info:
        load_instance(toml)
    assert "x.toml" in str(info.value)
