"""The seven battery-group fields are declared once (slopt.battery.groups) and held, not repeated."""

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import slopt
from slopt.battery.groups import GROUP_FIELDS, BatteryGroups, GroupState
from slopt.dispatch import base
from slopt.io.instance import DispatchData
from slopt.models.dispatch import DispatchModelData, dispatch_model_data

NODE30 = Path(__file__).resolve().parents[2] / "instances" / "node30-groups.toml"


def test_fields_are_declared_once():
    assert GROUP_FIELDS == ("e_kwh", "p_kw", "soh", "eta_charge", "eta_discharge", "soc_min", "soc_max")
    for cls in (DispatchData, DispatchModelData):
        names = {f.name for f in fields(cls)}
        assert not names & set(GROUP_FIELDS), cls
        assert "groups" in names
    assert DispatchData.__name__ != DispatchModelData.__name__
    assert base.BatteryGroups is BatteryGroups and base.GroupState is GroupState


def test_instance_and_model_data_hold_the_groups():
    d = slopt.load_instance(NODE30).dispatch
    assert isinstance(d.groups, BatteryGroups)
    np.testing.assert_array_equal(d.e_kwh, [14, 14, 14, 14, 28, 28, 28, 28, 18])     # read through groups
    assert d.e_kwh is d.groups.e_kwh
    np.testing.assert_allclose(d.groups.usable_kwh, d.groups.soh * d.groups.e_kwh)
    m = dispatch_model_data(d.groups, 0.5 * d.groups.usable_kwh, np.zeros(4), 0.25)
    np.testing.assert_array_equal(m.groups.soh, d.soh)
    assert m.p_kw is m.groups.p_kw
    with pytest.raises(AttributeError):
        d.not_a_field
