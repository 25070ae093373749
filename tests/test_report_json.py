"""Every result.json is strictly valid JSON: no NaN, Infinity or numpy objects leak through."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from slopt.report import to_json, write_sizing_result


def _strict_loads(text: str):
    """json.loads that fails on NaN/Infinity (which Python's json accepts by default)."""
    def bad(const):
        raise AssertionError(f"non-standard JSON constant {const}")

    return json.loads(text, parse_constant=bad)


def test_to_json_replaces_every_kind_of_non_finite_number():
    payload = {
        "nan": float("nan"), "inf": float("inf"), "ninf": -np.inf, "np64": np.float64("nan"),
        "np32": np.float32(np.inf), "int": np.int64(3), "bool": np.bool_(True),
        "array": np.array([1.0, np.nan, 2.0]), "nested": [{"x": (np.nan, 1)}], "nat": pd.NaT,
        "records": pd.DataFrame({"a": [1.0, np.nan], "b": [np.inf, 2.0]}).to_dict(orient="records"),
        "big": 1e308,
    }
    data = _strict_loads(to_json(payload))
    assert data["nan"] is None and data["inf"] is None and data["ninf"] is None
    assert data["np64"] is None and data["np32"] is None
    assert data["int"] == 3 and data["bool"] is True
    assert data["array"] == [1.0, None, 2.0]
    assert data["nested"] == [{"x": [None, 1]}]
    assert data["nat"] is None
    assert data["records"] == [{"a": 1.0, "b": None}, {"a": None, "b": 2.0}]
    assert data["big"] == 1e308


def test_sizing_result_json_is_valid_with_nan_and_inf(tmp_path):
    sizing = pd.DataFrame({"bus": [8], "technology": ["new"], "e_kwh": [np.inf], "p_kw": [np.nan], "cost_usd": [1.0]})
    result = SimpleNamespace(
        status="optimal", sizing=sizing, dispatch=pd.DataFrame(), voltages=pd.DataFrame(),
        summary=lambda: {"status": "optimal", "objective_usd": np.float64("inf"), "gap": float("nan")},
        instance=None, history=[{"round": 1, "ac_max_violation_pu": np.nan}], diagnosis=None,
        least_violation=None, convergence=None,
    )
    files = write_sizing_result(result, tmp_path, plots=False)
    assert tmp_path / "result.json" in files
    data = _strict_loads((tmp_path / "result.json").read_text())
    assert data["objective_usd"] is None and data["gap"] is None
    assert data["sizing"][0]["e_kwh"] is None and data["sizing"][0]["p_kw"] is None
    assert data["history"][0]["ac_max_violation_pu"] is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_plain_json_dumps_would_have_written_invalid_json(value):
    """The reason for to_json: the standard library writes NaN/Infinity by default."""
    assert json.dumps(value) in ("NaN", "Infinity", "-Infinity")
    assert to_json(value) == "null"
