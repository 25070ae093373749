"""The pydantic schema of instance files and its one-line error format (slopt.io.schema)."""

import math

import pytest
from pydantic import ValidationError

from slopt.battery.cost import NEW_DEFAULT, RETIRED_DEFAULT
from slopt.io.schema import (CandidatesSpec, InstanceSpec, NewTechnologySpec, RetiredTechnologySpec,
                             error_location, format_validation_error)

MINIMAL = {
    "name": "t",
    "feeder": "ieee33",
    "profiles": {"resolution_min": 60},
    "storage": {"new": {}},
    "candidates": {"buses": [18], "e_max_kwh": 100, "p_max_kw": 50},
}


def _err(data):
    with pytest.raises(ValidationError) as info:
        InstanceSpec.model_validate(data)
    return format_validation_error(info.value, "x.toml")


def _with(path, value):
    import copy

    d = copy.deepcopy(MINIMAL)
    t = d
    for k in path[:-1]:
        t = t.setdefault(k, {})
    t[path[-1]] = value
    return d


def test_minimal_spec_and_defaults():
    spec = InstanceSpec.model_validate(MINIMAL)
    assert (spec.band.vmin_pu, spec.band.vmax_pu) == (0.93, 1.05)
    assert spec.load_scale == 1.0
    assert spec.storage.technologies() == {"new": NEW_DEFAULT}
    assert spec.candidates.mode == "fixed" and spec.candidates.per_bus("e_min_kwh") == [0.0]


def test_technology_defaults_are_table1():
    assert NewTechnologySpec().to_technology("new") == NEW_DEFAULT
    assert RetiredTechnologySpec().to_technology("retired") == RETIRED_DEFAULT


def test_ints_accepted_where_floats_expected():
    spec = InstanceSpec.model_validate(_with(("storage", "new", "ce_usd_per_wh"), 2))
    assert spec.storage.new.ce_usd_per_wh == 2.0


@pytest.mark.parametrize("path, value, field, reason", [
    (("storage", "retired", "soh"), 1.7, "storage.retired.soh", "must be in (0, 1]"),
    (("storage", "new", "eta_charge"), 0, "storage.new.eta_charge", "must be in (0, 1]"),
    (("storage", "new", "ce_usd_per_wh"), -1, "storage.new.ce_usd_per_wh", "must be >= 0"),
    (("storage", "new", "ce_usd_per_wh"), "1", "storage.new.ce_usd_per_wh", "must be a number"),
    (("storage", "new", "ce_usd_per_wh"), True, "storage.new.ce_usd_per_wh", "must be a number"),
    (("storage", "new", "ce_usd_per_wh"), math.nan, "storage.new.ce_usd_per_wh", "must be a finite number"),
    (("profiles", "resolution_min"), 15.0, "profiles.resolution_min", "must be an integer"),
    (("profiles", "resolution_min"), 10, "profiles.resolution_min", "must be 60, 15 or 5"),
    (("candidates", "buses"), [], "candidates.buses", "must not be empty"),
    (("candidates", "buses"), [3, "4"], "candidates.buses[1]", "must be an integer"),
    (("candidates", "e_max_kwh"), [1, 2], "candidates.e_max_kwh", "has 2 entries but buses has 1"),
    (("candidates", "e_max_kwh"), [-1.0], "candidates.e_max_kwh[0]", "must be >= 0"),
    (("candidates", "e_max_kwh"), "big", "candidates.e_max_kwh", "must be a number or a list of numbers"),
    (("band", "vmin_pu"), 1.05, "band.vmin_pu", "must be < vmax_pu (1.05)"),
    (("band", "vmax_pu"), 1.5, "band.vmax_pu", "must be in (0.5, 1.5)"),
    (("storage", "new", "sohh"), 1, "storage.new.sohh", "unknown field; did you mean 'soh'?"),
    (("storage",), {}, "storage", "give at least one of [storage.new] and [storage.retired]"),
])
def test_first_error_formatted(path, value, field, reason):
    f, v, r = _err(_with(path, value))
    assert f == field
    assert r.startswith(reason)


def test_missing_field_value_is_marked_missing():
    d = dict(MINIMAL)
    del d["candidates"]
    f, v, r = _err(d)
    assert (f, str(v), r) == ("candidates", "(missing)", "required field is missing")


def test_union_error_points_at_the_bad_list_element():
    data = _with(("profiles",), {"resolution_min": 60, "pv_buses": [5, 6], "pv_kw": [1.0, math.inf]})
    f, v, r = _err(data)
    assert (f, v, r) == ("profiles.pv_kw[1]", math.inf, "must be a finite number")


def test_error_location_format():
    assert error_location(("candidates", "buses", 2)) == "candidates.buses[2]"
    assert error_location(("storage", "retired", "soh")) == "storage.retired.soh"
    assert error_location(()) == "(top level)"


def test_fixed_mode_needs_enough_sites():
    with pytest.raises(ValidationError):
        CandidatesSpec.model_validate({"buses": [1, 2], "max_sites": 1, "e_max_kwh": 1, "p_max_kw": 1})
    free = CandidatesSpec.model_validate({"buses": [1, 2], "mode": "free", "max_sites": 1, "e_max_kwh": 1, "p_max_kw": 1})
    assert free.max_sites == 1


def test_json_schema_is_available():
    schema = InstanceSpec.model_json_schema()
    assert {"name", "feeder", "profiles", "storage", "candidates"} <= set(schema["required"])
