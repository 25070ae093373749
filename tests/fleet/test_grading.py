"""Health score and grades (Kumar et al. §3B), K-means and consistent-pack clustering (Tang et al. §3.1)."""

import numpy as np
import pandas as pd
import pytest

from slopt.errors import InstanceError
from slopt.fleet.grading import (
    GRADES, ClusterOptions, GradingOptions, cluster, health_score, kmeans,
)


def fleet_table(n=120, seed=0):
    """A fleet table with the columns of slopt.fleet.data (Kumar et al. ranges), built here."""
    rng = np.random.default_rng(seed)
    t_min = rng.uniform(18, 32, n)
    return pd.DataFrame({
        "battery_id": [f"B{i:03d}" for i in range(n)],
        "chemistry": rng.choice(["LFP", "NMC"], n),
        "nominal_kwh": rng.choice([4.0, 6.0], n),
        "soh": rng.uniform(0.55, 0.80, n),
        "r0_mohm": rng.uniform(40, 70, n),
        "r_growth": rng.uniform(0.1, 1.6, n),
        "t_min_c": t_min,
        "t_max_c": t_min + rng.uniform(5, 18, n),
        "cycle_count": rng.integers(1000, 1800, n),
        "degradation_trend": rng.uniform(1.5, 10.0, n),
        "accelerated": rng.random(n) < 0.1,
    })


BASE = {"battery_id": "X", "nominal_kwh": 5.0, "soh": 0.65, "r0_mohm": 55.0, "r_growth": 0.8,
        "t_min_c": 25.0, "t_max_c": 40.0, "degradation_trend": 4.0}


def _sweep(col, values, **extra):
    rows = [dict(BASE, **extra, **{col: v}) for v in values]
    return health_score(pd.DataFrame(rows))["score"].to_numpy()


# --------------------------------------------------------------------------- health score


@pytest.mark.parametrize("col, values, better", [
    ("soh", np.linspace(0.3, 1.0, 71), "up"),
    ("r_growth", np.linspace(0.0, 2.5, 61), "down"),
    ("t_max_c", np.linspace(25.0, 65.0, 81), "down"),
    ("t_min_c", np.linspace(0.0, 40.0, 81), "up"),  # narrower range at fixed peak
    ("degradation_trend", np.linspace(0.0, 15.0, 61), "down"),
    ("r0_mohm", np.linspace(10.0, 150.0, 71), "down"),  # through the ohmic efficiency proxy
])
def test_score_monotone_in_each_component(col, values, better):
    s = _sweep(col, values)
    d = np.diff(s) if better == "up" else -np.diff(s)
    assert np.all(d >= -1e-12)
    assert s.max() - s.min() > 1.0  # the component matters
    assert np.all((s >= 0) & (s <= 100))


def test_score_monotone_in_measured_efficiency():
    s = _sweep("rte", np.linspace(0.8, 1.0, 41))
    assert np.all(np.diff(s) >= -1e-12) and s[-1] - s[0] == pytest.approx(10.0)  # weight 0.10


def test_score_strictly_increasing_inside_the_anchors():
    s = _sweep("soh", np.linspace(0.51, 0.79, 29))
    assert np.all(np.diff(s) > 0)
    # 0.35 weight over the 0.30-wide SOH ramp: 100 * 0.35 / 0.30 points per unit SOH
    assert (s[-1] - s[0]) / 0.28 == pytest.approx(100 * 0.35 / 0.30)


def test_score_bounds_and_components():
    best = dict(BASE, soh=0.9, r_growth=0.0, t_min_c=25.0, t_max_c=28.0, degradation_trend=0.5, rte=0.98)
    worst = dict(BASE, soh=0.4, r_growth=2.2, t_min_c=10.0, t_max_c=60.0, degradation_trend=12.0, rte=0.8)
    out = health_score(pd.DataFrame([best, worst], index=[7, 3]))
    assert list(out.index) == [7, 3]
    assert out["score"].tolist() == pytest.approx([100.0, 0.0])
    assert out["grade"].tolist() == ["A", "D"]
    assert {"s_soh", "s_resistance", "s_thermal", "s_efficiency", "s_trend", "rte_pu"} <= set(out.columns)


def test_ohmic_efficiency_proxy_by_hand():
    # x = 0.5 C * 5000 Wh * 0.055 ohm / 51.2^2 = 0.0524..., RTE = (1 - x)/(1 + x)
    x = 0.5 * 5000 * 0.055 / 51.2 ** 2
    out = health_score(pd.DataFrame([BASE]))
    assert out["rte_pu"].iloc[0] == pytest.approx((1 - x) / (1 + x))
    out_v = health_score(pd.DataFrame([dict(BASE, nominal_v=400.0)]))
    assert out_v["rte_pu"].iloc[0] > out["rte_pu"].iloc[0]


def test_grade_bands_and_seed_gates():
    good = dict(BASE, soh=0.8, r_growth=0.0, t_min_c=25.0, t_max_c=30.0, degradation_trend=1.0, rte=0.97)
    rows = [
        good,                                           # A
        dict(good, soh=0.69),                           # score still high but < 0.7 SOH: at most B
        dict(good, soh=0.49),                           # below the second-life window: D
        dict(good, t_min_c=20.0, t_max_c=58.0),         # thermally unstable: at most C
    ]
    out = health_score(pd.DataFrame(rows))
    assert out["score"].iloc[1] >= 75.0 and out["score"].iloc[2] >= 35.0
    assert out["grade"].tolist() == ["A", "B", "D", "C"]


def test_kumar_table3_ordering():
    # Kumar et al. Table 3 (SOH %, R mOhm, temperature range, cycles); r_growth over a 30 mOhm new
    # module and the trend from the cycle count are our assumptions for the example
    t3 = pd.DataFrame({"battery_id": ["B1", "B2", "B3", "B4", "B5"], "soh": [0.78, 0.65, 0.72, 0.58, 0.80],
                       "r0_mohm": [45, 60, 50, 70, 40], "t_min_c": [25, 30, 20, 35, 25],
                       "t_max_c": [35, 45, 30, 50, 32], "cycle_count": [1200, 1500, 1100, 1800, 1000],
                       "nominal_kwh": 5.0})
    t3["r_growth"] = t3["r0_mohm"] / 30.0 - 1.0
    t3["degradation_trend"] = 2.8 * t3["cycle_count"] / 1000
    out = health_score(t3).set_index("battery_id")
    assert out["score"].idxmax() == "B5" and out["score"].idxmin() == "B4"
    assert out.loc["B4", "grade"] in ("C", "D") and out.loc["B5", "grade"] == "A"
    assert out.loc["B1", "score"] > out.loc["B2", "score"]


def test_fleet_table_scores_vectorised_and_unmutated():
    t = fleet_table(500)
    before = t.copy()
    out = health_score(t)
    pd.testing.assert_frame_equal(t, before)
    assert len(out) == 500 and set(out["grade"]) <= set(GRADES)
    assert out["score"].between(0, 100).all()
    assert (out["battery_id"] == t["battery_id"]).all()


def test_score_errors_name_row_and_column():
    t = fleet_table(5)
    with pytest.raises(InstanceError, match=r"^fleet table: columns = .*: missing column 'r_growth'$"):
        health_score(t.drop(columns="r_growth"))
    bad = t.copy()
    bad.loc[3, "soh"] = np.nan
    with pytest.raises(InstanceError, match=r"^fleet table: row 4 \(battery_id 'B003'\), soh = nan: not a finite number$"):
        health_score(bad)
    with pytest.raises(InstanceError, match=r"rte = 1.2: must be in \(0, 1\]"):
        health_score(t.assign(rte=1.2))


def test_grading_options_are_checked():
    with pytest.raises(ValueError, match="sum to 1"):
        GradingOptions(weights={"soh": 0.5, "resistance": 0.2, "thermal": 0.2, "efficiency": 0.2, "trend": 0.2})
    with pytest.raises(ValueError, match="keys"):
        GradingOptions(weights={"soh": 1.0})
    with pytest.raises(ValueError, match="different"):
        GradingOptions(soh_pu=(0.6, 0.6))
    w = {"soh": 1.0, "resistance": 0.0, "thermal": 0.0, "efficiency": 0.0, "trend": 0.0}
    out = health_score(pd.DataFrame([dict(BASE, soh=0.65)]), GradingOptions(weights=w))
    assert out["score"].iloc[0] == pytest.approx(50.0)


# --------------------------------------------------------------------------- K-means


def blobs(n_per=60, seed=0, d=3, sep=10.0):
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0] * d, [sep] + [0.0] * (d - 1), [0.0, sep] + [0.0] * (d - 2)])
    x = np.concatenate([c + rng.normal(0, 1.0, (n_per, d)) for c in centers])
    y = np.repeat(np.arange(3), n_per)
    p = rng.permutation(x.shape[0])
    return x[p], y[p]


def same_partition(a, b):
    """Equal up to a relabelling: the contingency table is a permutation matrix."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kmeans_recovers_three_blobs_exactly(seed):
    x, y = blobs(seed=seed)
    res = kmeans(x, 3, seed=seed)
    assert same_partition(res.labels, y)
    assert res.labels[0] == 0 and sorted(set(res.labels)) == [0, 1, 2]
    for j in range(3):
        assert np.allclose(res.centers[j], x[res.labels == j].mean(axis=0))
    assert res.inertia == pytest.approx(sum(((x[res.labels == j] - res.centers[j]) ** 2).sum() for j in range(3)))


def test_kmeans_same_seed_same_result():
    x = np.random.default_rng(5).normal(size=(400, 4))  # no structure: the seed matters
    a, b = kmeans(x, 6, seed=11), kmeans(x, 6, seed=11)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.centers, b.centers)
    assert a.inertia == b.inertia


def test_kmeans_edge_cases():
    x = np.array([[0.0], [0.0], [5.0], [5.0], [9.0]])
    assert np.array_equal(kmeans(x, 1).labels, np.zeros(5, int))
    r = kmeans(x, 3, seed=0)
    assert same_partition(r.labels, np.array([0, 0, 1, 1, 2])) and r.inertia == 0.0
    r5 = kmeans(x, 5, seed=0)  # more clusters than distinct points: empty clusters re-seeded
    assert r5.inertia == 0.0
    assert kmeans([1.0, 2.0, 10.0, 11.0], 2).labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError):
        kmeans(x, 6)
    with pytest.raises(ValueError):
        kmeans(np.array([[np.nan]]), 1)


def test_kmeans_inertia_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.cluster")
    x, _ = blobs(n_per=100, seed=9, sep=4.0)
    ours = kmeans(x, 3, seed=0, n_init=10)
    ref = sk.KMeans(3, n_init=10, random_state=0).fit(x)
    assert ours.inertia == pytest.approx(ref.inertia_, rel=1e-6)


# --------------------------------------------------------------------------- cluster into packs


def test_cluster_recovers_blobs_on_static_features():
    x, y = blobs(n_per=40, seed=4, sep=12.0)
    t = pd.DataFrame({"soh": 0.7 + 0.005 * x[:, 0], "r0_mohm": 50 + x[:, 1], "capacity_kwh": 4 + 0.05 * x[:, 2]})
    res = cluster(t, 3, seed=0, dynamic=(), options=ClusterOptions(soh_spread=None, r_spread_pu=None))
    assert same_partition(res.labels, y)
    assert same_partition(res.assignments["static_cluster"].to_numpy(), y)
    assert len(res.report) == 3 and res.report["size"].sum() == len(t)
    # packs numbered by decreasing mean SOH
    assert res.report["soh_mean"].is_monotonic_decreasing and res.report["pack"].tolist() == [0, 1, 2]


def test_cluster_is_deterministic_for_a_seed():
    t = fleet_table(150, seed=3)
    a, b = cluster(t, 4, seed=7), cluster(t, 4, seed=7)
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    pd.testing.assert_frame_equal(a.report, b.report)


@pytest.mark.parametrize("soh_spread, r_spread", [(0.05, 0.15), (0.02, 0.05), (0.1, None), (None, 0.1)])
def test_packs_respect_spread_limits(soh_spread, r_spread):
    t = fleet_table(200, seed=1)
    before = t.copy()
    res = cluster(t, 4, seed=0, options=ClusterOptions(soh_spread=soh_spread, r_spread_pu=r_spread))
    pd.testing.assert_frame_equal(t, before)
    g = t.assign(pack=res.labels).groupby("pack")
    if soh_spread is not None:
        assert (g["soh"].max() - g["soh"].min()).max() <= soh_spread + 1e-12
    if r_spread is not None:
        assert ((g["r0_mohm"].max() - g["r0_mohm"].min()) / g["r0_mohm"].min()).max() <= r_spread + 1e-12
    rep = res.report.set_index("pack")
    assert rep["size"].sum() == len(t)
    assert np.allclose(rep["soh_min"], g["soh"].min()) and np.allclose(rep["soh_max"], g["soh"].max())
    assert np.allclose(rep["r_spread_pu"], (g["r0_mohm"].max() - g["r0_mohm"].min()) / g["r0_mohm"].min())
    assert np.allclose(rep["capacity_kwh"], (t["nominal_kwh"] * t["soh"]).groupby(res.labels).sum())
    # packs nest in clusters, clusters in static clusters
    a = res.assignments
    assert (a.groupby("pack")["cluster"].nunique() == 1).all()
    assert (a.groupby("cluster")["static_cluster"].nunique() == 1).all()
    assert res.clusters["n_packs"].sum() == len(rep)


def test_dynamic_refinement_separates_accelerated_agers():
    # identical static features (tiny noise), two dynamic populations: stage 1 cannot see them,
    # stage 2 must split them (Tang et al. §3.1: static consistency alone may not last in operation)
    rng = np.random.default_rng(2)
    n = 80
    fast = np.arange(n) % 4 == 0
    t = pd.DataFrame({"battery_id": [f"M{i}" for i in range(n)], "soh": 0.72 + rng.normal(0, 0.002, n),
                      "r0_mohm": 50 + rng.normal(0, 0.3, n), "nominal_kwh": 5.0,
                      "degradation_trend": np.where(fast, 8.0, 3.0) + rng.normal(0, 0.2, n),
                      "r_growth": 0.3 + rng.normal(0, 0.01, n), "t_max_c": 38 + rng.normal(0, 0.5, n)})
    res = cluster(t, 1, seed=0)
    assert res.assignments["static_cluster"].nunique() == 1
    assert same_partition(res.assignments["cluster"].to_numpy(), fast.astype(int))
    c = res.clusters.set_index("cluster")
    assert c["degradation_trend_mean"].max() > 7.5 and c["degradation_trend_mean"].min() < 3.5
    # without dynamic features the population stays one pack
    assert cluster(t, 1, seed=0, dynamic=()).assignments["pack"].nunique() == 1


def test_cluster_static_centers_and_custom_features():
    t = fleet_table(90, seed=8).assign(fade_rate=lambda d: d["degradation_trend"] * 1.1)
    res = cluster(t, 3, seed=1, static=("soh", "r0_mohm"), dynamic=("fade_rate", "t_max_c"))
    assert list(res.static_centers.columns) == ["soh", "r0_mohm"] and len(res.static_centers) == 3
    assert "fade_rate_mean" in res.report.columns
    assert res.static_centers["soh"].is_monotonic_decreasing


def test_cluster_errors():
    t = fleet_table(10)
    with pytest.raises(ValueError, match="k must be"):
        cluster(t, 11)
    with pytest.raises(InstanceError, match="missing column 'fade_rate'"):
        cluster(t, 2, dynamic=("fade_rate",))
    with pytest.raises(InstanceError, match=r"row 2 \(battery_id 'B001'\), r0_mohm = -1.0: must be > 0"):
        cluster(t.assign(r0_mohm=[50.0, -1.0] + [50.0] * 8), 2)
    with pytest.raises(ValueError):
        ClusterOptions(max_depth=-1)


def test_cluster_scales_to_a_large_fleet():
    t = fleet_table(20_000, seed=4)
    res = cluster(t, 6, seed=0)
    g = t.assign(pack=res.labels).groupby("pack")
    assert (g["soh"].max() - g["soh"].min()).max() <= 0.05 + 1e-12
    assert len(res.labels) == 20_000


def test_on_the_synthetic_fleet_of_kumar():
    data = pytest.importorskip("slopt.fleet.data")
    t = data.generate_fleet(300, seed=0).table
    out = health_score(t)
    assert out["score"].between(0, 100).all() and set(out["grade"]) <= set(GRADES)
    # accelerated agers score lower on average (their trend and heat count against them)
    assert out["score"][t["accelerated"]].mean() < out["score"][~t["accelerated"]].mean()
    res = cluster(t, 5, seed=0)
    g = t.assign(pack=res.labels).groupby("pack")
    assert (g["soh"].max() - g["soh"].min()).max() <= 0.05 + 1e-12
    assert ((g["r0_mohm"].max() - g["r0_mohm"].min()) / g["r0_mohm"].min()).max() <= 0.15 + 1e-12
