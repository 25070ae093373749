"""Built-in load/PV profiles and energy-preserving resampling (slopt.grid.profiles)."""

import numpy as np
import pytest

from slopt.grid.profiles import HOURLY_LOAD, HOURLY_PV, load_profile, pv_profile, resample


@pytest.mark.parametrize("res, n", [(60, 24), (15, 96), (5, 288)])
def test_steps_per_resolution(res, n):
    assert load_profile(res).shape == (n,)
    assert pv_profile(res).shape == (n,)


@pytest.mark.parametrize("bad", [30, 1, 0, 120, 15.5, True, "15"])
def test_unsupported_resolution_raises(bad):
    with pytest.raises(ValueError):
        load_profile(bad)
    with pytest.raises(ValueError):
        resample(HOURLY_LOAD, 60, bad)


def test_hourly_shapes():
    assert HOURLY_LOAD.max() == 1.0
    assert np.argmax(HOURLY_LOAD) == 19                     # evening peak 19-20 h
    assert HOURLY_LOAD.min() == 0.45
    assert set(np.flatnonzero(HOURLY_LOAD == 0.45)) == {3, 4}
    assert 0.7 <= HOURLY_LOAD[10:15].mean() <= 0.8          # midday plateau ~0.75
    assert load_profile(60).max() == 1.0
    np.testing.assert_array_equal(load_profile(60), HOURLY_LOAD)


@pytest.mark.parametrize("res", [60, 15, 5])
def test_pv_zero_at_night_and_max_at_noon(res):
    pv = pv_profile(res)
    per_h = 60 // res
    assert np.all(pv >= 0)
    assert np.all(pv[: 6 * per_h] == 0.0)                    # before 06:00
    assert np.all(pv[19 * per_h:] == 0.0)                    # after 19:00
    assert np.all(pv[6 * per_h: 19 * per_h] > 0)
    assert 12 * per_h <= np.argmax(pv) < 13 * per_h          # peak within 12-13 h
    assert pv[12 * per_h: 13 * per_h].mean() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("fine", [15, 5])
def test_roundtrip_returns_hourly_values(fine):
    for hourly in (HOURLY_LOAD, HOURLY_PV):
        up = resample(hourly, 60, fine)
        assert up.shape == (24 * 60 // fine,)
        np.testing.assert_allclose(resample(up, fine, 60), hourly, rtol=0, atol=1e-13)


def test_downsample_is_block_mean():
    rng = np.random.default_rng(0)
    x = rng.random(288)
    np.testing.assert_allclose(resample(x, 5, 60), x.reshape(24, 12).mean(axis=1), atol=1e-15)
    np.testing.assert_allclose(resample(x, 5, 15), x.reshape(96, 3).mean(axis=1), atol=1e-15)
    assert resample(x, 5, 60)[3] == pytest.approx(x[36:48].mean())


@pytest.mark.parametrize("frm, to", [(60, 15), (60, 5), (15, 5), (5, 60), (15, 60), (5, 15)])
def test_energy_is_kept(frm, to):
    rng = np.random.default_rng(1)
    x = rng.random(24 * 60 // frm) * 3.0
    y = resample(x, frm, to)
    assert y.size == 24 * 60 // to
    assert y.sum() * to / 60 == pytest.approx(x.sum() * frm / 60, rel=1e-12)
    for prof in (load_profile, pv_profile):
        assert prof(to).sum() * to / 60 == pytest.approx(prof(60).sum(), rel=1e-12)


def test_upsampling_is_smooth_not_a_staircase():
    up = load_profile(5)
    assert len(np.unique(np.round(up[:12], 12))) > 1        # varies within the first hour
    # largest step between 5-min values is far below the largest hourly step
    assert np.abs(np.diff(up)).max() < 0.5 * np.abs(np.diff(HOURLY_LOAD)).max()


def test_nonnegative_series_stays_nonnegative_and_keeps_mean():
    x = np.array([0.0, 0.0, 5.0, 0.0, 0.1, 0.0])
    y = resample(x, 60, 5, periodic=False)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.reshape(6, 12).mean(axis=1), x, atol=1e-14)
    assert np.all(y[:12] == 0) and np.all(y[36:48] == 0)


def test_batched_resample_matches_rowwise():
    x = np.stack([HOURLY_LOAD, HOURLY_PV, 2 * HOURLY_LOAD])
    y = resample(x, 60, 15)
    assert y.shape == (3, 96)
    np.testing.assert_allclose(y[1], pv_profile(15))
    np.testing.assert_allclose(y[2], 2 * load_profile(15))


def test_downsample_rejects_partial_blocks():
    with pytest.raises(ValueError):
        resample(np.ones(10), 5, 60)
