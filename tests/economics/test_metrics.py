"""NPV, IRR, discounted payback and LCOS against numbers computed by hand."""

import numpy as np
import numpy_financial as npf
import pytest

from slopt.economics.metrics import discounted_payback, irr, lcos, npv
from slopt.errors import InstanceError


def test_npv_by_hand():
    # -100 + 60/1.1 + 60/1.21 = -100 + 54.5454 + 49.5868
    assert npv(0.1, [-100, 60, 60]) == pytest.approx(4.132231, abs=1e-6)
    assert npv(0.0, [-100, 60, 60]) == pytest.approx(20.0)


def test_irr_by_hand():
    # 100 = 60 x + 60 x^2, x = 1/(1+r): x = (-60 + sqrt(3600 + 24000)) / 120 = 0.884433
    x = (-60 + np.sqrt(3600 + 24000)) / 120
    assert irr([-100, 60, 60]) == pytest.approx(1 / x - 1, abs=1e-9)
    assert irr([-100, 110]) == pytest.approx(0.10, abs=1e-12)
    assert np.isnan(irr([-100, -5, -1]))       # never pays back: no rate
    assert np.isnan(irr([10, 5]))


def test_discounted_payback_by_hand():
    # cumulative at 10 %: -100, -45.4545, +4.1322 -> 1 + 45.4545/49.5868
    assert discounted_payback(0.1, [-100, 60, 60]) == pytest.approx(1 + 45.454545 / 49.586777, abs=1e-6)
    assert discounted_payback(0.0, [-100, 50, 50, 50]) == pytest.approx(2.0)
    assert discounted_payback(0.1, [-100, 10]) == float("inf")
    assert discounted_payback(0.1, [10, 5]) == 0.0
    assert discounted_payback(0.1, [10, -5, -10]) == float("inf")   # received first, ends behind


def test_lcos_by_hand():
    # (1000 + 10/1.1 + 10/1.21) / (100/1.1 + 100/1.21) = 1017.3554 / 173.5537
    assert lcos(0.1, [1000, 10, 10], [0, 100, 100]) == pytest.approx(1017.355372 / 173.553719, rel=1e-9)
    assert lcos(0.0, [1000, 10, 10], [0, 100, 100]) == pytest.approx(5.1)


def test_batch_npv_matches_numpy_financial_draw_by_draw():
    rng = np.random.default_rng(3)
    flows = rng.normal(size=(7, 11))
    got = npv(0.07, flows)
    assert got.shape == (7,)
    for i in range(7):
        assert got[i] == pytest.approx(npf.npv(0.07, flows[i]), rel=1e-12)


@pytest.mark.parametrize("rate", [-1.0, -1.5, float("nan"), float("inf"), "x"])
def test_bad_rate_is_one_line(rate):
    with pytest.raises(InstanceError) as e:
        npv(rate, [-1, 2])
    assert "\n" not in str(e.value) and "rate" in str(e.value)


def test_nan_flows_are_refused():
    with pytest.raises(InstanceError, match="finite"):
        npv(0.05, [-1, float("nan")])
    with pytest.raises(InstanceError, match="finite"):
        lcos(0.05, [1, 2], [0, float("nan")])
