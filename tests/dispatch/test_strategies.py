"""Dispatch strategies (slopt.dispatch.strategies): Eq. 11a-c, the Eq. 9 intent, hand-checked cases."""


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slopt.dispatch.base import BatteryGroups, GroupState, group_power_bounds, proportional, step_energy
from slopt.dispatch.strategies import (STRATEGIES, get_strategy, priority, priority_key, proportional_exact,
                                       soh_weighted)
from slopt.errors import InstanceError

NUMPY_STRATEGIES = {"priority": priority, "proportional": proportional_exact, "soh": soh_weighted,
                    "proportional-3pass": proportional}


def groups(e, p, soh, eta_c=1.0, eta_d=1.0, soc_min=0.0, soc_max=1.0):
    n = len(e)
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
    return BatteryGroups(full(e), full(p), full(soh), full(eta_c), full(eta_d), full(soc_min), full(soc_max))


def node30():
    e = np.array([14.0] * 4 + [28.0] * 4 + [18.0])
    soh = np.array([1, 1, 1, 1, 0.75, 0.78, 0.82, 0.85, 0.70])
    p = np.where(np.arange(9) < 4, 1.0, 0.5) * soh * e
    return groups(e, p, soh, 0.95, 0.95, 0.1, 0.9)


# ----------------------------------------------------------------------------- Eq. 11a-c for every strategy
@st.composite
def cases(draw):
    n_g = draw(st.integers(1, 8))
    batch = draw(st.sampled_from([(), (3,), (2, 2)]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    shape = batch + (n_g,)
    e = rng.uniform(1.0, 50.0, n_g)
    soh = rng.uniform(0.5, 1.0, n_g)
    p = rng.uniform(0.0, 30.0, n_g) * (rng.random(n_g) > 0.1)          # some zero ratings
    lo = rng.uniform(0.0, 0.3, n_g)
    hi = rng.uniform(0.7, 1.0, n_g)
    g = BatteryGroups(e, p, soh, rng.uniform(0.8, 1.0, n_g), rng.uniform(0.8, 1.0, n_g), lo, hi)
    soc = rng.uniform(lo, hi, shape)
    pick = rng.random(shape)
    soc = np.where(pick < 0.15, lo, np.where(pick > 0.85, hi, soc))     # groups at the window edges
    dt = float(draw(st.sampled_from([5 / 60, 0.25, 1.0])))
    req = rng.uniform(-150.0, 150.0, batch) * (rng.random(batch) > 0.05)
    return g, GroupState(soc * soh * e, dt), req


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
@pytest.mark.parametrize("name", sorted(NUMPY_STRATEGIES))
def test_every_strategy_honours_eq11(name, case):
    g, state, req = case
    p = NUMPY_STRATEGIES[name](g, req, state)
    p_lo, p_hi = group_power_bounds(g, state)
    assert p.shape == p_lo.shape
    assert np.all(np.isfinite(p))
    tol = 1e-9
    assert np.all(p >= p_lo - tol) and np.all(p <= p_hi + tol)                 # 11a (and 11b via bounds)
    r = np.asarray(req)[..., None]
    assert np.all(p * np.sign(r) >= -tol)                                        # same sign as the request
    assert np.all(np.abs(p.sum(axis=-1)) <= np.abs(req) + 1e-9)                  # 11c
    e1 = step_energy(g, state, p)                                                # 11b after the step
    usable = g.soh * g.e_kwh
    assert np.all(e1 >= g.soc_min * usable - 1e-9) and np.all(e1 <= g.soc_max * usable + 1e-9)
    if name != "proportional-3pass":                                             # exact ones serve what they can
        cap = np.where(r > 0, p_hi, -p_lo).sum(axis=-1)
        np.testing.assert_allclose(np.abs(p.sum(axis=-1)), np.minimum(np.abs(req), cap), atol=1e-8)


def test_batch_equals_one_by_one():
    rng = np.random.default_rng(3)
    g = node30()
    usable = g.soh * g.e_kwh
    e = rng.uniform(0.1, 0.9, (40, 9)) * usable
    req = rng.uniform(-120, 120, 40)
    for fn in (priority, soh_weighted, proportional_exact):
        batch = fn(g, req, GroupState(e, 0.25))
        single = np.array([fn(g, req[i], GroupState(e[i], 0.25)) for i in range(40)])
        np.testing.assert_allclose(batch, single, atol=1e-12)


# ----------------------------------------------------------------------------- Eq. 9 intent
def test_priority_hand_checked_two_groups_three_steps():
    # A: 10 kWh, SOH 1.0 (usable 10); B: 10 kWh, SOH 0.8 (usable 8); 4 kW each; ideal efficiency; B = 1.
    g = groups([10, 10], [4, 4], [1.0, 0.8])
    e = np.array([5.0, 4.0])                            # SOC 0.5 and 0.5
    steps = [(-6.0, [-4.0, -2.0]),   # -kappa: A 1-0.5=0.5 < B 1.25-0.5=0.75 -> A first, full 4 kW, B the rest
             (-3.0, [-1.0, -2.0]),   # SOC 0.1 / 0.25: A 0.9 < B 1.0 -> A first, but only 1 kWh left; B 2 kW
             (5.0, [4.0, 1.0])]      # empty; charging key SOC + 1/SOH: A 1.0 < B 1.25 -> A first, 4 kW; B 1 kW
    for req, want in steps:
        state = GroupState(e, 1.0)
        p = priority(g, req, state)
        np.testing.assert_allclose(p, want, atol=1e-12)
        e = step_energy(g, state, p)
    np.testing.assert_allclose(e, [4.0, 1.0])


@pytest.mark.parametrize("req", [-3.0, 3.0])
def test_priority_healthy_group_first_at_equal_soc(req):
    g = groups([10, 10, 10], [5, 5, 5], [0.7, 1.0, 0.85])
    usable = g.soh * g.e_kwh
    p = priority(g, req, GroupState(0.5 * usable, 1.0))
    np.testing.assert_allclose(p, [0.0, req, 0.0])           # the SOH-1.0 group takes it all


def test_priority_soc_balancing_among_equal_soh():
    g = groups([10, 10, 10], [5, 5, 5], [0.9, 0.9, 0.9])
    usable = g.soh * g.e_kwh
    state = GroupState(np.array([0.4, 0.7, 0.55]) * usable, 0.25)        # SOC does not bind in 15 min
    np.testing.assert_allclose(priority(g, -4.0, state), [0.0, -4.0, 0.0])    # discharge: highest SOC first
    np.testing.assert_allclose(priority(g, 4.0, state), [4.0, 0.0, 0.0])      # charge: lowest SOC first
    p = priority(g, -12.0, state)                                              # order 0.7 > 0.55 > 0.4
    np.testing.assert_allclose(p, [-2.0, -5.0, -5.0])


def test_priority_b_trades_soc_against_soh():
    # healthy group at lower SOC: with B = 0 SOC decides, with large B SOH decides
    g = groups([10, 10], [5, 5], [1.0, 0.8])
    state = GroupState(np.array([0.4 * 10, 0.6 * 8]), 1.0)
    np.testing.assert_allclose(priority(g, -3.0, state, b=0.0), [0.0, -3.0])
    np.testing.assert_allclose(priority(g, -3.0, state, b=2.0), [-3.0, 0.0])
    # switch point: 0.6 - 0.4 = B * (1/0.8 - 1/1.0) -> B = 0.8
    np.testing.assert_allclose(priority(g, -3.0, state, b=0.79), [0.0, -3.0])
    np.testing.assert_allclose(priority(g, -3.0, state, b=0.81), [-3.0, 0.0])


def test_priority_key_is_minus_a_times_eq9():
    soc, soh, b = np.array([0.3, 0.8]), np.array([0.9, 0.7]), 0.5
    for a, charging in ((1.0, True), (-1.0, False)):
        r = soc + a * b / soh                               # Eq. 9 as printed
        np.testing.assert_allclose(priority_key(soc, soh, charging, b), -a * r)


def test_priority_fills_in_order_up_to_bounds():
    g = node30()
    usable = g.soh * g.e_kwh
    state = GroupState(0.5 * usable, 0.25)
    p = priority(g, -40.0, state)
    # equal SOC: new groups (SOH 1) first, 14 kW each, in group order; then G8 (0.85) gets the rest
    np.testing.assert_allclose(p, [-14, -14, -12, 0, 0, 0, 0, 0, 0])
    p = priority(g, -60.0, state)
    np.testing.assert_allclose(p, [-14, -14, -14, -14, 0, 0, 0, -4, 0])


def test_proportional_splits_by_rating_when_unconstrained():
    g = groups([100, 100, 100], [10, 20, 30], [1.0, 0.8, 0.9])
    state = GroupState(0.5 * g.soh * g.e_kwh, 1.0)
    for fn in (proportional, proportional_exact):
        np.testing.assert_allclose(fn(g, 12.0, state), [2.0, 4.0, 6.0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(fn(g, -30.0, state), [-5.0, -10.0, -15.0], rtol=0, atol=1e-12)


def test_soh_weighted_split_and_redistribution():
    g = groups([20, 40, 30], [100, 100, 4], [1.0, 0.5, 1.0])        # weights SOH x E = 20, 20, 30
    state = GroupState(0.5 * g.soh * g.e_kwh, 1.0)                  # 10, 10, 15 kWh: SOC does not bind
    np.testing.assert_allclose(soh_weighted(g, -7.0, state), [-2.0, -2.0, -3.0])
    # -14: group 3 would take -6 but is rated 4 -> clipped; the remaining 10 kW are split 1:1
    np.testing.assert_allclose(soh_weighted(g, -14.0, state), [-5.0, -5.0, -4.0])
    # -30: then the first two hit their SOC floor (10 kWh each at ideal efficiency): 24 kW served
    np.testing.assert_allclose(soh_weighted(g, -30.0, state), [-10.0, -10.0, -4.0])


def test_zero_request_gives_zero():
    g = node30()
    state = GroupState(0.5 * g.soh * g.e_kwh, 0.25)
    for fn in (priority, soh_weighted, proportional_exact):
        np.testing.assert_array_equal(np.abs(fn(g, 0.0, state)), np.zeros(9))


# ----------------------------------------------------------------------------- registry
def test_registry_names_and_aliases():
    assert set(STRATEGIES) == {"priority", "proportional", "soh", "mpc", "optimal"}
    assert get_strategy("CPD").name == "proportional" and get_strategy("SOHD").name == "soh"
    assert get_strategy("MPCD").name == "mpc" and get_strategy(" Priority ").name == "priority"
    assert get_strategy("mpc").kind == "lookahead" and get_strategy("optimal").kind == "plan"
    custom = get_strategy(priority)
    assert custom.kind == "step" and custom.allocate.__wrapped__ is priority


def test_unknown_strategy_names_the_value():
    with pytest.raises(InstanceError) as info:
        get_strategy("greedy")
    msg = str(info.value)
    assert msg.startswith("strategy = 'greedy': unknown dispatch strategy") and "priority" in msg
    assert info.value.exit_code == 2


def test_registering_a_study_strategy_and_no_strategy_is_special_cased():
    from slopt.dispatch.base import DispatchContext, GroupState
    from slopt.dispatch.strategies import STRATEGIES, Strategy, register_strategy, step_rule

    def first_group(groups, p_request_kw, state):
        out = np.zeros(np.shape(state.e_stored_kwh))
        out[..., 0] = p_request_kw
        return out

    s = register_strategy(Strategy("first", "F", "step", step_rule(first_group)))
    try:
        assert get_strategy("first") is s
        ctx = DispatchContext(GroupState(np.array([5.0, 5.0]), 1.0))
        np.testing.assert_allclose(s.allocate(None, 3.0, ctx), [3.0, 0.0])
    finally:
        STRATEGIES.pop("first")
    with pytest.raises(InstanceError, match="kind"):
        register_strategy(Strategy("odd", "O", "sometimes", step_rule(first_group)))


# ----------------------------------------------------------------------------- speed


# speed (9 groups x 288 steps <= 10 ms) is measured in benchmarks/dispatch_speed.py, not in a timed test
