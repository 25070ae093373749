"""Yuan et al. §4.1 aging model: Eq. 7a/7b, Woehler law, rainflow EFC (Eq. 7c, 8), calendar fade.

Expected values are computed by hand (or from the ASTM E1049-85 worked example), not by the code.
"""

import math

import numpy as np
import pytest
import rainflow
from hypothesis import given, settings
from hypothesis import strategies as st

from slopt.battery.aging import (
    DEFAULT_FIT, R_J_PER_MOL_K, CycleLifeFit, Woehler, arrhenius_factor, calendar_fade,
    calendar_fade_after, cycles_at_dod, cycles_from_soh, degradation_rate_pct_per_day,
    equivalent_full_cycles, rainflow_cycles, remaining_cycles, soh_after, soh_from_cycles,
)

A1, A2, A3 = 0.978, 6.734, 1953.0

# --------------------------------------------------------------------------- rainflow


def test_astm_e1049_rainflow_example():
    # ASTM E1049-85 §5.4.4 worked example (Fig. 6 / Table 4): load history A..I.
    # Hand count: A-B 3 (half), B-C 4 (half), E-F 4 (full), C-D 8 (half), then the residue
    # D-G 9, G-H 8, H-I 6 (halves) -> range 3: 0.5, 4: 1.5, 6: 0.5, 8: 1.0, 9: 0.5.
    df = rainflow_cycles([-2, 1, -3, 5, -1, 3, -4, 4, -2])
    totals = df.groupby("range")["count"].sum().to_dict()
    assert totals == {3.0: 0.5, 4.0: 1.5, 6.0: 0.5, 8.0: 1.0, 9.0: 0.5}
    assert list(df.columns) == ["range", "mean", "count", "i_start", "i_end"]
    # the full cycle is E-F: samples 4 (-1) and 5 (3), mean 1
    full = df[df["count"] == 1.0]
    assert full[["i_start", "i_end"]].values.tolist() == [[4, 5]]
    assert full["mean"].tolist() == [1.0]


def test_rainflow_plateaus_and_nonreversals_are_ignored():
    # inserting repeated samples and mid-ramp samples must not change ranges/counts
    base = rainflow_cycles([-2, 1, -3, 5, -1, 3, -4, 4, -2])
    padded = rainflow_cycles([-2, -2, 0, 1, 1, 1, -3, 0, 2, 5, -1, -1, 3, -4, 0, 4, -2, -2])
    assert sorted(zip(base["range"], base["count"])) == sorted(zip(padded["range"], padded["count"]))


def test_rainflow_two_samples_is_one_half_cycle():
    df = rainflow_cycles([0.2, 0.9])
    assert df[["range", "count", "i_start", "i_end"]].values.tolist() == [[pytest.approx(0.7), 0.5, 0, 1]]
    assert len(rainflow_cycles([0.5])) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=3, max_size=60))
def test_rainflow_cycles_matches_rainflow_package(xs):
    # the numpy reversal pre-filter must not change rainflow's output, indices included
    df = rainflow_cycles(xs)
    ref = list(rainflow.extract_cycles(xs))
    assert [tuple(r) for r in df.itertuples(index=False)] == [tuple(map(float, r[:3])) + r[3:] for r in ref]


def test_rainflow_rejects_nan_and_2d():
    with pytest.raises(ValueError):
        rainflow_cycles([0.1, np.nan, 0.3])
    with pytest.raises(ValueError):
        rainflow_cycles(np.zeros((2, 3)))


# --------------------------------------------------------------------------- Eq. 7a / 7b


def test_eq7a_peak_at_a2():
    assert soh_from_cycles(A2) == pytest.approx(A1, abs=1e-15)
    # one width a3 past the peak: a1/e
    assert soh_from_cycles(A2 + A3) == pytest.approx(A1 / math.e, rel=1e-12)


def test_eq7a_monotone_decreasing_past_peak():
    l = np.linspace(A2, 5000.0, 2001)
    s = soh_from_cycles(l)
    assert np.all(np.diff(s) < 0.0)
    assert s.shape == l.shape


def test_eq7b_literal_constants():
    # Eq. 7b as printed, evaluated by hand at SOH = 0.8
    expected = 2493.27 - 1953.0 * math.sqrt(-math.log(500 * 0.8 / 489))
    assert remaining_cycles(0.8) == pytest.approx(expected, rel=1e-12)
    assert 489 / 500 == pytest.approx(DEFAULT_FIT.a1)


def test_eq7a_7b_are_inverse_over_life():
    # Num(SOH(l)) + l = 2493.27 + a2 = 2500.004 on the descending branch
    l = np.linspace(A2, 2000.0, 401)
    total = remaining_cycles(soh_from_cycles(l)) + l
    np.testing.assert_allclose(total, 2493.27 + A2, atol=1e-6)
    assert DEFAULT_FIT.life_cycles == pytest.approx(2500.004)
    np.testing.assert_allclose(cycles_from_soh(soh_from_cycles(l)), l, atol=1e-6)


def test_eq7a_7b_rising_branch_reflects():
    # for 0 <= l < a2 the Gaussian is still rising; its inverse returns the mirror l' = 2*a2 - l
    l = np.linspace(0.0, A2, 11)
    np.testing.assert_allclose(cycles_from_soh(soh_from_cycles(l)), 2 * A2 - l, atol=1e-3)


def test_eq7b_end_of_life_soh():
    # Num = 0  <=>  SOH = a1*exp(-(2493.27/a3)^2) = 0.978*exp(-1.27664^2) ~ 0.19166
    assert DEFAULT_FIT.soh_eol_pu == pytest.approx(0.978 * math.exp(-(2493.27 / 1953) ** 2), rel=1e-9)
    assert remaining_cycles(DEFAULT_FIT.soh_eol_pu) == pytest.approx(0.0, abs=1e-6)
    assert remaining_cycles(0.1) < 0.0


def test_eq7b_domain():
    # SOH above a1 (new pack) saturates to the full 2493.27 cycles
    assert remaining_cycles(1.0) == pytest.approx(2493.27)
    assert remaining_cycles(0.99) == pytest.approx(2493.27)
    assert cycles_from_soh(1.0) == pytest.approx(A2)
    for bad in (0.0, -0.1, 1.01, np.nan):
        with pytest.raises(ValueError):
            remaining_cycles(bad)
        with pytest.raises(ValueError):
            cycles_from_soh(bad)


def test_eq7b_monotone_in_soh():
    s = np.linspace(0.2, 0.978, 300)
    assert np.all(np.diff(remaining_cycles(s)) > 0.0)


def test_custom_fit_validated():
    with pytest.raises(ValueError):
        CycleLifeFit(a1=1.2)
    with pytest.raises(ValueError):
        CycleLifeFit(a3=0.0)


# --------------------------------------------------------------------------- Woehler


@pytest.mark.parametrize("w", [Woehler.LFP, Woehler.NMC])
def test_woehler_hand_values(w):
    assert cycles_at_dod(1.0, w.n100_cycles, w.k) == pytest.approx(w.n100_cycles)
    assert w.cycles(0.5) == pytest.approx(w.n100_cycles * 2.0 ** w.k)
    assert w.full_cycle_equivalent(0.5) == pytest.approx(0.5 ** w.k)
    assert math.isinf(w.cycles(0.0))


def test_woehler_defaults_inside_design_ranges():
    assert 3000 <= Woehler.LFP.n100_cycles <= 8000 and 1.0 <= Woehler.LFP.k <= 1.5
    assert 1000 <= Woehler.NMC.n100_cycles <= 3000 and 1.5 <= Woehler.NMC.k <= 2.2
    assert Woehler.for_chemistry("LFP") is Woehler.LFP
    with pytest.raises(ValueError):
        Woehler.for_chemistry("lco")
    with pytest.raises(ValueError):
        Woehler(n100_cycles=-1.0, k=1.0)
    with pytest.raises(ValueError):
        cycles_at_dod(1.5, 1000.0, 1.0)


def test_cycles_at_dod_vectorised():
    d = np.array([[1.0, 0.5], [0.25, 0.8]])
    np.testing.assert_allclose(cycles_at_dod(d, 2000.0, 2.0), [[2000.0, 8000.0], [32000.0, 3125.0]])


# --------------------------------------------------------------------------- EFC (Eq. 7c, 8)


@pytest.mark.parametrize("n", [1, 3, 10])
@pytest.mark.parametrize("w", [Woehler.LFP, Woehler.NMC])
def test_efc_full_depth_cycles(n, w):
    soc = [0.0] + [1.0, 0.0] * n  # n times 0 -> 1 -> 0: 2n half cycles of depth 1
    assert equivalent_full_cycles(soc, w) == pytest.approx(n, abs=1e-12)


@pytest.mark.parametrize("n", [1, 4])
def test_efc_half_depth_cycles(n):
    soc = [0.5] + [1.0, 0.5] * n  # 2n half cycles of depth 0.5: n * 0.5^k
    assert equivalent_full_cycles(soc, Woehler.LFP) == pytest.approx(n * 0.5 ** 1.2, rel=1e-12)
    assert equivalent_full_cycles(soc, Woehler.NMC) == pytest.approx(n * 0.5 ** 1.8, rel=1e-12)


def test_efc_nested_small_cycle_hand():
    # 0 -> 1 -> 0.6 -> 0.8 -> 0: halves 0-1 and 1-0 (depth 1) and one full 0.6-0.8 (depth 0.2)
    soc = [0.0, 1.0, 0.6, 0.8, 0.0]
    assert equivalent_full_cycles(soc, Woehler(1000.0, 2.0)) == pytest.approx(1.0 + 0.2 ** 2)


def test_efc_sampled_sine_counts_peaks():
    # smooth daily 0.1..0.9 cycle sampled every 5 min for 7 days: ~7 cycles of depth 0.8
    t = np.arange(7 * 288 + 1)
    soc = 0.5 - 0.4 * np.cos(2 * np.pi * t / 288)
    assert equivalent_full_cycles(soc, Woehler.LFP) == pytest.approx(7 * 0.8 ** 1.2, rel=1e-9)


def test_efc_constant_and_short_series_are_zero():
    assert equivalent_full_cycles(np.full(10, 0.4)) == 0.0
    assert equivalent_full_cycles([0.4]) == 0.0


def test_efc_vectorised_matches_row_loop():
    rng = np.random.default_rng(7)
    soc = np.clip(np.cumsum(rng.normal(0.0, 0.05, size=(5, 300)), axis=1) + 0.5, 0.0, 1.0)
    out = equivalent_full_cycles(soc, Woehler.NMC)
    assert out.shape == (5,)
    np.testing.assert_allclose(out, [equivalent_full_cycles(row, Woehler.NMC) for row in soc], rtol=0, atol=0)
    # and against the rainflow package directly
    ref = [sum(c * r ** 1.8 for r, _, c, _, _ in rainflow.extract_cycles(row)) for row in soc]
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_efc_rejects_bad_soc():
    for bad in ([0.1, np.nan, 0.2], [0.0, 50.0, 0.0], [0.0, -0.1, 0.3]):
        with pytest.raises(ValueError):
            equivalent_full_cycles(bad)
    with pytest.raises(ValueError):
        equivalent_full_cycles(np.zeros((2, 2, 2)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=80), st.sampled_from([Woehler.LFP, Woehler.NMC]))
def test_efc_bounds(soc, w):
    # each half cycle of depth D <= 1 contributes <= 0.5*D; EFC never exceeds half the total variation
    efc = equivalent_full_cycles(soc, w)
    assert 0.0 <= efc <= 0.5 * np.abs(np.diff(soc)).sum() + 1e-12


# --------------------------------------------------------------------------- calendar


def test_calendar_arrhenius_ten_kelvin_by_hand():
    ea = 50_000.0
    t_ref_k, t_hot_k = 298.15, 308.15
    expected = math.exp(ea / 8.314462618 * (1.0 / t_ref_k - 1.0 / t_hot_k))  # ~1.924
    ratio = calendar_fade(100.0, 35.0, 1e-3, ea) / calendar_fade(100.0, 25.0, 1e-3, ea)
    assert ratio == pytest.approx(expected, rel=1e-12)
    assert 1.9 < expected < 1.95
    assert arrhenius_factor(25.0, ea) == pytest.approx(1.0)
    assert R_J_PER_MOL_K == pytest.approx(8.314462618)


def test_calendar_sqrt_time_law():
    f1 = calendar_fade(90.0, 30.0, 2e-3, 40_000.0)
    f4 = calendar_fade(360.0, 30.0, 2e-3, 40_000.0)
    assert f4 == pytest.approx(2.0 * f1, rel=1e-12)
    # at T_ref: k_ref * sqrt(t) by hand
    assert calendar_fade(400.0, 25.0, 2e-3, 40_000.0) == pytest.approx(2e-3 * 20.0)
    assert calendar_fade(0.0, 45.0, 2e-3, 40_000.0) == 0.0


def test_calendar_vectorised_broadcast():
    t = np.array([0.0, 100.0, 400.0])[:, None]
    temp = np.array([15.0, 25.0, 35.0])[None, :]
    out = calendar_fade(t, temp, 1e-3, 30_000.0)
    assert out.shape == (3, 3)
    for i in range(3):
        for j in range(3):
            assert out[i, j] == pytest.approx(calendar_fade(t[i, 0], temp[0, j], 1e-3, 30_000.0))


def test_calendar_stepping_matches_closed_form_and_orders_temperatures():
    q = 0.0
    for _ in range(365):
        q = calendar_fade_after(q, 1.0, 30.0, 1e-3, 50_000.0)
    assert q == pytest.approx(calendar_fade(365.0, 30.0, 1e-3, 50_000.0), rel=1e-10)
    # a hot spell costs more than the same time cold
    hot = calendar_fade_after(0.01, 30.0, 40.0, 1e-3, 50_000.0)
    cold = calendar_fade_after(0.01, 30.0, 10.0, 1e-3, 50_000.0)
    assert hot > cold > 0.01


def test_calendar_rejects_bad_input():
    with pytest.raises(ValueError):
        calendar_fade(-1.0, 25.0, 1e-3, 5e4)
    with pytest.raises(ValueError):
        calendar_fade(1.0, -300.0, 1e-3, 5e4)


# --------------------------------------------------------------------------- SOH update


def test_soh_after_moves_along_eq7a():
    # a pack at SOH 0.75 sits at l0 = a2 + a3*sqrt(ln(0.978/0.75)); 200 EFC later it is at SOH(l0 + 200)
    l0 = A2 + A3 * math.sqrt(math.log(A1 / 0.75))
    expected = A1 * math.exp(-((l0 + 200.0 - A2) / A3) ** 2)
    assert soh_after(0.75, 200.0) == pytest.approx(expected, rel=1e-12)
    assert soh_after(0.75, 0.0) == pytest.approx(0.75, rel=1e-14)


def test_soh_after_composes_on_the_fitted_curve():
    # for SOH <= a1, advancing 100 then 150 equals advancing 250
    s = np.array([0.978, 0.95, 0.8, 0.7])
    np.testing.assert_allclose(soh_after(soh_after(s, 100.0), 150.0), soh_after(s, 250.0), rtol=1e-12)


def test_soh_after_new_pack_is_continuous():
    # a pack rated 1.0 follows the curve scaled by 1/a1: SOH = exp(-(n/a3)^2), no jump to a1
    assert soh_after(1.0, 1e-6) == pytest.approx(1.0, abs=1e-9)
    assert soh_after(1.0, 500.0) == pytest.approx(math.exp(-(500.0 / A3) ** 2), rel=1e-12)


def test_soh_after_vectorised_and_healthier_fades_slower_per_cycle():
    s0 = np.array([1.0, 0.9, 0.8, 0.7])
    efc = np.full(4, 10.0)
    s1 = soh_after(s0, efc)
    assert s1.shape == (4,)
    assert np.all(s1 < s0)
    # Eq. 7a is a Gaussian: the SOH loss per cycle grows as the pack ages
    assert np.all(np.diff(s0 - s1) > 0.0)
    with pytest.raises(ValueError):
        soh_after(0.8, -1.0)


def test_degradation_rate_pct_per_day_by_hand():
    # 0.800 -> 0.7999836 over 2 days: 0.0000164 pu = 0.00164 % -> 0.00082 %/day
    assert degradation_rate_pct_per_day(0.8, 0.7999836, 2.0) == pytest.approx(0.00082, rel=1e-9)
    np.testing.assert_allclose(degradation_rate_pct_per_day(np.array([1.0, 0.9]), np.array([0.99, 0.9]), 1.0),
                               [1.0, 0.0])
    with pytest.raises(ValueError):
        degradation_rate_pct_per_day(1.0, 0.9, 0.0)
