"""DBO (Xue & Shen 2022; docs/dbo.md): pure update equations and the pymoo Algorithm."""

import numpy as np
import pytest
from pymoo.core.problem import Problem
from pymoo.optimize import minimize

from slopt.heuristics import DBO
from slopt.heuristics.dbo import (brood_box, breed, dbo_step, forage, is_better, role_counts,
                                  role_slices, roll, steal, unbiased_spreads)


class ShiftedSphere(Problem):
    def __init__(self, n_var=10, shift=0.0, lb=-10.0, ub=10.0):
        super().__init__(n_var=n_var, n_obj=1, xl=lb, xu=ub)
        self.shift = shift

    def _evaluate(self, x, out, *args, **kwargs):
        out["F"] = ((x - self.shift) ** 2).sum(1)


class ConstrainedSphere(Problem):
    """min sum x^2 s.t. sum x >= 5 (g = 5 - sum x <= 0); optimum x_i = 5/n, f = 25/n."""

    def __init__(self, n_var=5):
        super().__init__(n_var=n_var, n_obj=1, n_ieq_constr=1, xl=-10.0, xu=10.0)

    def _evaluate(self, x, out, *args, **kwargs):
        out["F"] = (x ** 2).sum(1)
        out["G"] = 5.0 - x.sum(1)


# ------------------------------------------------------------------ roles and pure equations
def test_role_counts_at_30():
    assert role_counts(30) == (6, 6, 7, 11)
    s = role_slices(30)
    assert [(x.start, x.stop) for x in s] == [(0, 6), (6, 12), (12, 19), (19, 30)]


@pytest.mark.parametrize("n", [2, 3, 5, 10, 31, 100])
def test_role_counts_partition(n):
    c = role_counts(n)
    assert sum(c) == n and min(c) >= 0


def test_brood_box_negative_coordinates_nonempty():
    xstar = np.array([-4.0, 3.0, 0.0])
    lo, hi = brood_box(xstar, 0.5, -10.0 * np.ones(3), 10.0 * np.ones(3), "paper")
    # naive [x(1-R), x(1+R)] would be [-2, -6] (empty) in the first coordinate
    np.testing.assert_allclose(lo, [-6.0, 1.5, 0.0])
    np.testing.assert_allclose(hi, [-2.0, 4.5, 0.0])
    assert np.all(lo <= hi)


def test_brood_box_clipped_and_unbiased_width():
    lb, ub = -np.ones(2) * 10, np.ones(2) * 10
    lo, hi = brood_box(np.array([9.0, -1.0]), 0.2, lb, ub, "unbiased")
    np.testing.assert_allclose(lo, [7.0, -3.0])
    np.testing.assert_allclose(hi, [10.0, 1.0])
    lo, hi = brood_box(np.array([9.0, -1.0]), 0.5, lb, ub, "paper")
    np.testing.assert_allclose(hi, [10.0, -0.5])  # 13.5 clipped to ub
    with pytest.raises(ValueError):
        brood_box(np.zeros(2), 0.5, lb, ub, "nope")


def test_unbiased_spreads_floors_by_hand():
    lb, ub = np.zeros(2), np.array([10.0, 100.0])
    # X* equal to the global best in both coordinates: only the floors remain
    sb, sf = unbiased_spreads(np.array([3.0, 40.0]), np.array([3.0, 40.0]), 0.5, lb, ub)
    np.testing.assert_allclose(sb, [2 * 0.1 * 0.25 * 10, 2 * 0.1 * 0.25 * 100])  # 0.1 R^2 range
    np.testing.assert_allclose(sf, [2 * 0.001 * 10, 2 * 0.001 * 100])  # 0.1 % of the range
    # a distance above both floors wins in both boxes
    sb, sf = unbiased_spreads(np.array([3.0, 40.0]), np.array([7.0, 10.0]), 0.5, lb, ub)
    np.testing.assert_allclose(sb, [8.0, 60.0])
    np.testing.assert_allclose(sf, [8.0, 60.0])


def test_unbiased_step_translation_invariant():
    """Shifting every position and the bounds by c shifts every proposal by c (same draws)."""
    rng0 = np.random.default_rng(5)
    n, d = 30, 4
    x, x_prev, x_cur = (rng0.uniform(-5, 5, (n, d)) for _ in range(3))
    f, cv = rng0.random(n), np.zeros(n)
    xbest = x[np.argmin(rng0.random(n))]
    lb, ub = -np.full(d, 6.0), np.full(d, 6.0)
    c = np.array([100.0, -50.0, 3.0, 0.0])
    a = dbo_step(x, x_prev, f, cv, x_cur, xbest, 10, 50, lb, ub, np.random.default_rng(1))
    b = dbo_step(x + c, x_prev + c, f, cv, x_cur + c, xbest + c, 10, 50, lb + c, ub + c,
                 np.random.default_rng(1))
    np.testing.assert_allclose(b - c, a, atol=1e-9)
    p_a = dbo_step(x, x_prev, f, cv, x_cur, xbest, 10, 50, lb, ub, np.random.default_rng(1), "paper")
    p_b = dbo_step(x + c, x_prev + c, f, cv, x_cur + c, xbest + c, 10, 50, lb + c, ub + c,
                   np.random.default_rng(1), "paper")
    assert not np.allclose(p_b - c, p_a)  # the paper's boxes depend on the origin


def test_roll_hand_computed():
    class AlwaysRoll:  # a Generator stand-in: roll, alpha=+1, theta irrelevant
        def random(self, n):
            return np.full(n, 0.5)

        def integers(self, lo, hi, size):
            return np.zeros(size, dtype=int)
    x = np.array([[1.0, -2.0]])
    xp = np.array([[3.0, 4.0]])
    xw = np.array([0.0, 2.0])
    # x + 0.1*x_prev + 0.3*|x - xw| = [1 + 0.3 + 0.3, -2 + 0.4 + 1.2]
    np.testing.assert_allclose(roll(x, xp, xw, AlwaysRoll()), [[1.6, -0.4]])


def test_dance_no_move_at_0_90_180():
    class Dance:
        def __init__(self, theta):
            self.theta = theta

        def random(self, n):
            return np.full(n, 0.95)  # > 0.9: dance

        def integers(self, lo, hi, size):
            return np.full(size, self.theta)
    x, xp, xw = np.array([[1.0, 2.0]]), np.array([[0.0, 5.0]]), np.zeros(2)
    for theta in (0, 90, 180):
        np.testing.assert_array_equal(roll(x, xp, xw, Dance(theta)), x)
    np.testing.assert_allclose(roll(x, xp, xw, Dance(45)), x + np.abs(x - xp))


def test_breed_stays_in_box_and_thief_centred_on_best():
    rng = np.random.default_rng(0)
    lo, hi = np.array([-6.0, 1.0]), np.array([-2.0, 4.0])
    x = rng.uniform(-10, 10, (500, 2))
    b = breed(x, np.array([-4.0, 3.0]), lo, hi, rng)
    assert np.all((b >= lo) & (b <= hi))
    xb = np.array([1.0, 1.0])
    t = steal(np.tile(xb, (10, 1)), xb, xb, rng)  # |x - X*| = |x - Xb| = 0
    np.testing.assert_array_equal(t, np.tile(xb, (10, 1)))
    f = forage(np.array([[0.0, 0.0]]), np.zeros(2), np.zeros(2), rng)
    np.testing.assert_array_equal(f, [[0.0, 0.0]])


def test_is_better_feasibility_first():
    f_new = np.array([10.0, 1.0, 1.0, 5.0])
    cv_new = np.array([0.0, 0.5, 0.0, 0.0])
    f_old = np.array([1.0, 0.0, 2.0, 5.0])
    cv_old = np.array([0.1, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(is_better(f_new, cv_new, f_old, cv_old),
                                  [True, False, True, False])


# ------------------------------------------------------------------ the algorithm
def _run(problem, seed, n_gen=30, **kw):
    return minimize(problem, DBO(pop_size=30, **kw), ("n_gen", n_gen), seed=seed,
                    save_history=True)


def test_same_seed_identical_history():
    p = ShiftedSphere(shift=2.5)
    a, b = _run(p, 7), _run(p, 7)
    assert len(a.history) == len(b.history) == 30
    for ha, hb in zip(a.history, b.history):
        np.testing.assert_array_equal(ha.pop.get("X"), hb.pop.get("X"))
        np.testing.assert_array_equal(ha.pop.get("F"), hb.pop.get("F"))
        np.testing.assert_array_equal(ha.beetles.get("X"), hb.beetles.get("X"))
    c = _run(p, 8)
    assert not np.array_equal(a.history[-1].pop.get("X"), c.history[-1].pop.get("X"))
    assert a.F[0] != c.F[0]


def test_t_from_termination_or_max_gen():
    p = ShiftedSphere()
    r = minimize(p, DBO(pop_size=10), ("n_gen", 12), seed=1)
    assert r.algorithm.T == 12
    r = minimize(p, DBO(pop_size=10, max_gen=50), ("n_evals", 200), seed=1)
    assert r.algorithm.T == 50
    with pytest.raises(ValueError):
        minimize(p, DBO(pop_size=10), ("n_evals", 200), seed=1)
    with pytest.raises(ValueError):
        DBO(variant="other")


@pytest.mark.parametrize("variant", ["unbiased", "paper"])
def test_bounds_respected(variant):
    p = ShiftedSphere(n_var=6, shift=9.9, lb=-1.0, ub=10.0)  # optimum near ub, asymmetric box
    r = _run(p, 3, n_gen=40, variant=variant)
    for h in r.history:
        for pop in (h.pop, h.beetles):
            X = pop.get("X")
            assert np.all(X >= p.xl) and np.all(X <= p.xu)


@pytest.mark.parametrize("variant", ["unbiased", "paper"])
def test_sphere_10d_converges(variant):
    r = minimize(ShiftedSphere(10, 0.0), DBO(pop_size=30, variant=variant), ("n_gen", 200),
                 seed=1)
    assert r.F[0] < 1e-3


def test_shifted_sphere_10d(capsys):
    res = {}
    for variant in ("unbiased", "paper"):
        res[variant] = [minimize(ShiftedSphere(10, 2.5), DBO(pop_size=30, variant=variant),
                                 ("n_gen", 200), seed=s).F[0] for s in range(3)]
    with capsys.disabled():
        print("\nshifted 10-D sphere, 30x200, seeds 0-2:",
              {k: [f"{v:.1e}" for v in vs] for k, vs in res.items()})
    assert max(res["unbiased"]) < 1e-2


def test_constrained_result_feasible():
    p = ConstrainedSphere(5)
    r = minimize(p, DBO(pop_size=30), ("n_gen", 150), seed=2)
    assert r.X is not None and r.CV[0] <= 0.0
    assert r.X.sum() >= 5.0 - 1e-12
    assert r.F[0] < 5.0 + 0.5  # optimum 25/5 = 5
    # personal bests never get worse in the feasibility-first order
    cv = [h.pop.get("CV")[:, 0] for h in minimize(p, DBO(pop_size=30), ("n_gen", 20), seed=2,
                                                   save_history=True).history]
    assert all(np.all(b <= a) for a, b in zip(cv, cv[1:]))


# ------------------------------------------------------------------ the function benchmark's sets
def _bench():
    import importlib.util
    import sys
    from pathlib import Path
    if "dbo_functions_bench" in sys.modules:
        return sys.modules["dbo_functions_bench"]
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "dbo_functions.py"
    spec = importlib.util.spec_from_file_location("dbo_functions_bench", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_held_out_functions_disjoint_from_tuning_set():
    """The held-out claim needs functions no DBO design choice saw: no shared name, and a
    tuning-set function may reappear only rotated (a non-separable, different landscape)."""
    b = _bench()
    assert not set(b.HELD_OUT) & set(b.TUNING)
    tuning_fns = {f for f, _ in b.TUNING.values()}
    for name, spec in b.HELD_OUT.items():
        assert spec.rotated or spec.f not in tuning_fns, name
    assert len([s for s in b.HELD_OUT.values() if not s.rotated]) >= 5


def test_benchmark_held_out_minima_by_brute_force():
    """Styblinski-Tang's f* per coordinate from a 1-D grid search (independent of the constants),
    and every held-out problem: error 0 at its minimiser (inside the box) and >= 0 at random
    points, so f(best) - f* is a true error; the rotations are orthogonal."""
    b = _bench()
    z = np.linspace(-5.0, 5.0, 2_000_001)[:, None]
    st = b.styblinski_tang(z)
    assert abs(st.min() - b.ST_FOPT) < 1e-8 and abs(z[st.argmin(), 0] - b.ST_XOPT) < 1e-5
    rng = np.random.default_rng(0)
    for d in b.HELD_OUT_DIMS:
        for name, spec in b.HELD_OUT.items():
            p = b.make_problem("heldout", name, d, True)
            o, rot = b.held_out_transform(name, d)
            zs = b.optimum_z(name, d)
            xs = o + (zs if rot is None else rot.T @ zs)
            assert np.all((xs >= spec.lb) & (xs <= spec.ub)), name
            if rot is not None:
                np.testing.assert_allclose(rot @ rot.T, np.eye(d), atol=1e-12)
            x = np.vstack([xs, rng.uniform(spec.lb, spec.ub, (200, d)),
                           xs + 1e-3 * rng.standard_normal((50, d))])
            err = p.evaluate(x)[:, 0]
            assert abs(err[0]) < 1e-9, (name, d, err[0])
            assert err[1:].min() > -1e-9, (name, d)
