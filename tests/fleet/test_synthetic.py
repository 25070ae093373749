"""Synthetic BMS histories use the chemistry table's OCV and the shared RC and thermal models."""

import numpy as np
import pytest

from slopt.battery.chemistry import CHEMISTRIES
from slopt.fleet.synthetic import SynthProfile, synthesize_history


def test_rest_voltage_is_the_chemistrys_ocv_and_relaxes_with_the_rc_time_constant():
    prof = SynthProfile(chemistry="NMC", nominal_v=51.8, noise=False)
    h = synthesize_history(2, 50.0, 30.0, seed=1, resolution_s=60, profile=prof)
    v, i, soc = h["voltage_v"].to_numpy(), h["current_a"].to_numpy(), h["soc"].to_numpy()
    # the first sample: at rest, fully charged (soc 0.95), no polarisation: 14 cells x 4.11 V
    assert i[0] == 0.0 and soc[0] == pytest.approx(0.95)
    assert v[0] == pytest.approx(14 * 4.11, abs=1e-4)
    # a rest that follows the discharge: V - OCV(soc) decays by exp(-60/600) per minute (R1 tau 600 s)
    start = int(np.flatnonzero((i[:-1] < 0) & (i[1:] == 0))[0]) + 1
    over = v[start + 1:start + 13] - CHEMISTRIES["NMC"].ocv(soc[start + 1:start + 13])
    assert np.all(over < 0.0)                          # below the OCV, recovering after a discharge
    slope = np.polyfit(np.arange(over.size), np.log(-over), 1)[0]             # log-linear decay per minute
    assert slope == pytest.approx(-60.0 / 600.0, rel=0.01)                     # (voltage logged to 0.1 mV)


def test_lfp_default_and_ocv_scaled_to_the_nominal_voltage():
    h = synthesize_history(1, 40.0, 20.0, seed=0, profile=SynthProfile(nominal_v=25.6, noise=False))
    assert h["voltage_v"].iloc[0] == pytest.approx(CHEMISTRIES["LFP"].ocv(0.95) / 2, abs=1e-4)
    assert h.attrs["truth"]["chemistry"] == "LFP"
    with pytest.raises(ValueError, match="unknown chemistry"):
        SynthProfile(chemistry="LCO")
