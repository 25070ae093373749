"""Consistent-pack clustering of retired batteries (Tang et al. §3.1: static-dynamic fusion sorting).

Stage 1 runs K-means (k-means++ seeding) on standardised *static* features (SOH, R0,
capacity); stage 2 refines every static cluster with its *dynamic* features (degradation
trend, resistance growth, peak temperature, or a twin-predicted fade rate) by bisecting
K-means while the spread of some dynamic feature exceeds its tolerance (in the feature's own
units, so a feature the fleet barely varies in never forces a split); stage 3 enforces the pack
consistency limits (largest SOH spread, largest resistance spread) by bisecting K-means on
(SOH, R0) until every pack satisfies them. The loops run over clusters and splits, never over
batteries; the distance computations are numpy-vectorised. Yin et al. [52], Pan et al. [53]
of the review.

K-means is implemented here with numpy (Lloyd iterations, k-means++ seeding, several seeded
restarts) rather than taken from scikit-learn: it is ~60 lines, the project then needs no new
runtime dependency (scikit-learn is a test-only dependency), and the randomness is an explicit
``numpy.random.Generator`` derived from ``seed`` like everywhere else in slopt.

Clustering is exported (``slopt.fleet.cluster``) for forming packs from a fleet; the assignment
(:mod:`slopt.fleet.assign`) enforces the same SOH and resistance spreads through its own
installation windows (:class:`slopt.fleet.assign.PackRule`), exactly, inside the MILP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from slopt.errors import InstanceError
from slopt.fleet.columns import float_columns as _columns
from slopt.fleet.columns import row_label as _label

__all__ = ["KMeansResult", "kmeans", "ClusterOptions", "ClusterResult", "cluster", "DEFAULT_STATIC",
           "DEFAULT_DYNAMIC", "DEFAULT_DYNAMIC_TOL"]


# --------------------------------------------------------------------------- K-means


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes
    ----------
    labels : numpy.ndarray, shape (n,)
        Cluster of each point, numbered in order of first appearance (point 0 is in cluster 0).
    centers : numpy.ndarray, shape (k, d)
        Cluster means, in label order.
    inertia : float
        Sum of squared distances of the points to their centers.
    n_iter : int
        Lloyd iterations of the best restart.
    """

    labels: np.ndarray
    centers: np.ndarray
    inertia: float
    n_iter: int


def _sqdist(xt: np.ndarray, c: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, shape (k, n), via ``|x|^2 - 2 c.x + |c|^2`` (``xt`` is x.T).

    The (k, n) layout keeps every row contiguous, which is 2-3 times faster than (n, k) for the
    small k of clustering; the operations are in place to spare temporaries.
    """
    d = c @ xt
    d *= -2.0
    d += np.einsum("kd,kd->k", c, c)[:, None]
    d += x2[None, :]
    return np.maximum(d, 0.0, out=d)


def _kmeanspp(x: np.ndarray, xt: np.ndarray, k: int, rng: np.random.Generator, x2: np.ndarray) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): D^2-weighted sampling of the centers."""
    n = x.shape[0]
    idx = [int(rng.integers(n))]
    d2 = _sqdist(xt, x[idx], x2)[0]
    for _ in range(1, k):
        tot = d2.sum()
        j = int(rng.choice(n, p=d2 / tot)) if tot > 0 else int(rng.integers(n))
        idx.append(j)
        np.minimum(d2, _sqdist(xt, x[j:j + 1], x2)[0], out=d2)
    return x[idx].copy()


def _lloyd(x, xt, c, x2, max_iter, tol):
    n, k = x.shape[0], c.shape[0]
    for it in range(1, max_iter + 1):
        d2 = _sqdist(xt, c, x2)
        lab = np.argmin(d2, axis=0)
        counts = np.bincount(lab, minlength=k)
        sums = np.stack([np.bincount(lab, weights=xt[j], minlength=k) for j in range(x.shape[1])], axis=1)
        new = sums / np.maximum(counts, 1)[:, None]
        empty = np.flatnonzero(counts == 0)
        if empty.size:  # re-seed an empty cluster at the points farthest from their centers
            far = np.argsort(-d2[lab, np.arange(n)], kind="stable")[: empty.size]
            new[empty] = x[far]
        shift = float(np.sum((new - c) ** 2))
        c = new
        if shift <= tol and not empty.size:
            break
    d2 = _sqdist(xt, c, x2)
    lab = np.argmin(d2, axis=0)
    return lab, c, float(d2[lab, np.arange(n)].sum()), it


def kmeans(x, k: int, seed=0, *, n_init: int = 8, max_iter: int = 300, tol: float = 1e-8) -> KMeansResult:
    """K-means clustering (Lloyd's algorithm, k-means++ seeding, best of ``n_init`` restarts).

    Parameters
    ----------
    x : array_like, shape (n, d)
        Points (standardise them first if the features have different units).
    k : int
        Number of clusters, ``1 <= k <= n``.
    seed : int or numpy.random.Generator
        Randomness of the seeding; the same seed gives the same result.
    n_init : int
        Restarts; the one with the least inertia is kept.
    max_iter : int
        Lloyd iterations per restart.
    tol : float
        Stop when the squared center movement (summed) is at most ``tol`` times the total
        variance of ``x``.

    Returns
    -------
    KMeansResult
        Labels numbered in order of first appearance, so equal partitions give equal labels.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"kmeans: x must have shape (n, d) with n >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("kmeans: x must be finite")
    n = x.shape[0]
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"kmeans: k must be an integer in [1, {n}], got {k}")
    if int(n_init) != n_init or n_init < 1 or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError("kmeans: n_init and max_iter must be integers >= 1")
    k = int(k)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mu = x.mean(axis=0)
    x = x - mu  # centred: the |x|^2 - 2 x.c + |c|^2 expansion then loses no precision
    xt = np.ascontiguousarray(x.T)
    x2 = np.einsum("nd,nd->n", x, x)
    thr = tol * max(float(np.sum(np.var(x, axis=0))), 1e-300)
    best = None
    for _ in range(int(n_init)):
        c0 = _kmeanspp(x, xt, k, rng, x2)
        lab, c, inertia, it = _lloyd(x, xt, c0, x2, int(max_iter), thr)
        if best is None or inertia < best[2] * (1.0 - 1e-12) - 1e-300:
            best = (lab, c, inertia, it)
    lab, c, inertia, it = best
    c = c + mu
    _, first = np.unique(lab, return_index=True)
    order = np.unique(lab)[np.argsort(first)]
    remap = np.full(k, -1)
    remap[order] = np.arange(order.size)
    return KMeansResult(labels=remap[lab], centers=c[order], inertia=inertia, n_iter=it)


# --------------------------------------------------------------------------- clustering into packs

DEFAULT_STATIC = ("soh", "r0_mohm", "capacity_kwh")
"""Static features (Tang et al. §3.1): SOH, resistance, actual capacity (``nominal_kwh * soh``)."""
DEFAULT_DYNAMIC = ("degradation_trend", "r_growth", "t_max_c")
"""Dynamic features: degradation trend, resistance growth, peak temperature."""
DEFAULT_DYNAMIC_TOL = {"degradation_trend": 1.0, "r_growth": 0.15, "t_max_c": 4.0}
"""Within-cluster standard deviation allowed per dynamic feature (own units)."""


@dataclass(frozen=True)
class ClusterOptions:
    """Refinement and pack-consistency settings of :func:`cluster`.

    Attributes
    ----------
    dynamic_tol : mapping
        Largest standard deviation of a dynamic feature inside a cluster, in the feature's own
        units; a cluster is refined while some feature exceeds its tolerance. Defaults:
        ``degradation_trend`` 1.0 SOH points per 1000 EFC (the normal agers of the synthetic
        fleet scatter by ~0.85), ``r_growth`` 0.15, ``t_max_c`` 4 K.
    dynamic_std_z : float
        Tolerance of a dynamic feature missing from ``dynamic_tol``, as a fraction of the
        feature's fleet standard deviation (0.75).
    max_depth : int
        Largest number of dynamic bisections of one static cluster (a cluster becomes at
        most ``2**max_depth`` clusters).
    min_size : int
        A dynamic split that would leave a part smaller than this is not made.
    soh_spread : float or None
        Largest SOH spread ``max - min`` (pu) inside a pack; ``None`` disables. 0.05.
    r_spread_pu : float or None
        Largest resistance spread ``(max - min) / min`` of ``r_column`` inside a pack;
        ``None`` disables. 0.15.
    r_column : str
        Resistance column of the limit (``r0_mohm``).
    n_init, max_iter : int
        K-means restarts and iterations of stage 1.
    bisect_n_init : int
        K-means restarts of each 2-means split of stages 2 and 3.
    """

    dynamic_tol: Mapping = field(default_factory=lambda: dict(DEFAULT_DYNAMIC_TOL))
    dynamic_std_z: float = 0.75
    max_depth: int = 2
    min_size: int = 2
    soh_spread: float | None = 0.05
    r_spread_pu: float | None = 0.15
    r_column: str = "r0_mohm"
    n_init: int = 4
    max_iter: int = 300
    bisect_n_init: int = 2

    def __post_init__(self) -> None:
        if not self.dynamic_std_z > 0:
            raise ValueError("ClusterOptions.dynamic_std_z must be > 0")
        if any(not (np.isfinite(v) and v > 0) for v in dict(self.dynamic_tol).values()):
            raise ValueError("ClusterOptions.dynamic_tol values must be finite and > 0")
        if int(self.max_depth) != self.max_depth or self.max_depth < 0:
            raise ValueError("ClusterOptions.max_depth must be an integer >= 0")
        if int(self.min_size) != self.min_size or self.min_size < 1:
            raise ValueError("ClusterOptions.min_size must be an integer >= 1")
        for name in ("n_init", "max_iter", "bisect_n_init"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"ClusterOptions.{name} must be an integer >= 1")
        for name in ("soh_spread", "r_spread_pu"):
            v = getattr(self, name)
            if v is not None and not v >= 0:
                raise ValueError(f"ClusterOptions.{name} must be >= 0 or None")


@dataclass
class ClusterResult:
    """Outcome of :func:`cluster`.

    Attributes
    ----------
    labels : numpy.ndarray, shape (n,)
        Pack of each battery (row order of the input), 0 = the pack with the highest mean SOH.
    assignments : pandas.DataFrame
        Same index as the input: ``battery_id`` (if present), ``static_cluster`` (stage 1),
        ``cluster`` (after the dynamic refinement), ``pack`` (after the spread limits). Each
        level is numbered by decreasing mean SOH.
    report : pandas.DataFrame
        One row per pack: ``pack, cluster, static_cluster, size, soh_mean, soh_min, soh_max,
        soh_spread, r_mean_mohm, r_min_mohm, r_max_mohm, r_spread_pu`` (resistance of
        ``options.r_column``), ``capacity_kwh`` (sum) when known, and ``<feature>_mean`` per
        dynamic feature.
    clusters : pandas.DataFrame
        The same statistics per refined cluster (index ``cluster``) with ``n_packs``.
    static_centers : pandas.DataFrame
        Stage-1 centers in the units of the static features, one row per static cluster.
    """

    labels: np.ndarray
    assignments: pd.DataFrame
    report: pd.DataFrame
    clusters: pd.DataFrame
    static_centers: pd.DataFrame


def _zscore(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _features(table: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    cols = {}
    need = [c for c in names if not (c == "capacity_kwh" and c not in table.columns)]
    cols.update(_columns(table, need))
    if "capacity_kwh" in names and "capacity_kwh" not in table.columns:
        d = _columns(table, ["nominal_kwh", "soh"])
        cols["capacity_kwh"] = d["nominal_kwh"] * d["soh"]
    return np.column_stack([cols[c] for c in names]) if names else np.zeros((len(table), 0))


def _renumber(labels: np.ndarray, soh: np.ndarray | None) -> np.ndarray:
    """Renumber groups by decreasing mean SOH (ties: first appearance)."""
    uniq, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    key = -np.bincount(inv, weights=soh) / np.bincount(inv) if soh is not None else np.zeros(uniq.size)
    order = np.lexsort((first, key))
    rank = np.empty(uniq.size, dtype=np.int64)
    rank[order] = np.arange(uniq.size)
    return rank[inv]


def _bisect_until(groups: list, ok, x: np.ndarray, rng_for, opts: ClusterOptions, min_size: int,
                  max_depth: int | None) -> list:
    """Split index arrays with 2-means on ``x`` until ``ok(idx)`` holds (breadth-first, deterministic)."""
    done, todo = [], [(g, 0) for g in groups]
    n_split = 0
    while todo:
        idx, depth = todo.pop(0)
        if ok(idx) or idx.size < 2 or (max_depth is not None and depth >= max_depth):
            done.append(idx)
            continue
        km = kmeans(x[idx], 2, rng_for(n_split), n_init=opts.bisect_n_init, max_iter=opts.max_iter)
        n_split += 1
        a, b = idx[km.labels == 0], idx[km.labels == 1]
        if min(a.size, b.size) < min_size:
            if max_depth is not None:  # dynamic refinement: keep the cluster whole
                done.append(idx)
                continue
            # spread limits must hold: peel the point farthest from the rest instead
            far = np.argmax(np.sum((x[idx] - x[idx].mean(axis=0)) ** 2, axis=1))
            a, b = np.delete(idx, far), idx[far:far + 1]
        todo += [(a, depth + 1), (b, depth + 1)]
    return done


def cluster(table: pd.DataFrame, k: int, seed=0, static: Sequence[str] = DEFAULT_STATIC,
            dynamic: Sequence[str] = DEFAULT_DYNAMIC, options: ClusterOptions | None = None) -> ClusterResult:
    """Group batteries into consistent packs: static K-means, dynamic refinement, spread limits.

    Stage 1 (static sorting, Tang et al. §3.1): K-means with ``k`` clusters on the z-scored
    ``static`` features. Stage 2 (dynamic refinement, the second stage of the static-dynamic
    fusion methods of Tang et al. §3.1): inside each static cluster, while the standard deviation
    of some ``dynamic`` feature exceeds its tolerance (``options.dynamic_tol``), split it with
    2-means on the dynamic features scaled by their tolerances (at most ``max_depth`` times;
    no part smaller than ``min_size``). Stage 3 (pack consistency): split each cluster with 2-means on
    z-scored (SOH, resistance) until its SOH spread is at most ``soh_spread`` and its
    resistance spread ``(max - min) / min`` at most ``r_spread_pu``. Every split gets its own
    generator derived from ``seed``, so the result is the same for the same seed.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per battery (e.g. ``Fleet.table``); needs the feature columns, ``soh`` and the
        resistance column for the limits. ``capacity_kwh`` is ``nominal_kwh * soh`` when absent.
        Not modified.
    k : int
        Number of static clusters, ``1 <= k <= len(table)``.
    seed : int
        Seed of all K-means runs.
    static, dynamic : sequence of str
        Feature columns of stage 1 and stage 2 (``dynamic`` may be empty, e.g. to add a
        twin-predicted fade-rate column pass ``dynamic=("fade_rate", "t_max_c")``).
    options : ClusterOptions, optional
        Refinement and spread limits.

    Returns
    -------
    ClusterResult
    """
    o = options or ClusterOptions()
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"cluster: expected a pandas DataFrame, got {type(table).__name__}")
    n = len(table)
    if not static:
        raise ValueError("cluster: at least one static feature is needed")
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"cluster: k must be an integer in [1, {n}], got {k}")
    seed_int = int(seed) if not isinstance(seed, np.random.Generator) else int(seed.integers(2**63))
    xs = _features(table, list(static))
    raw_d = _features(table, list(dynamic))
    sd = raw_d.std(axis=0)
    tol = np.array([float(o.dynamic_tol[f]) if f in o.dynamic_tol else
                    (o.dynamic_std_z * sd[j] if sd[j] > 0 else 1.0) for j, f in enumerate(dynamic)])
    xd = (raw_d - raw_d.mean(axis=0)) / tol  # in tolerance units: refine while some std > 1
    soh = _columns(table, ["soh"])["soh"] if ("soh" in table.columns or o.soh_spread is not None) else None
    r = _columns(table, [o.r_column])[o.r_column] if o.r_spread_pu is not None else None
    if r is not None and np.any(r <= 0):
        i = int(np.argmax(r <= 0))
        raise InstanceError.at("fleet table", f"{_label(i, table)}, {o.r_column}", r[i], "must be > 0")

    # stage 1: static K-means
    km = kmeans(_zscore(xs), int(k), np.random.default_rng([seed_int, 1]), n_init=o.n_init, max_iter=o.max_iter)
    static_lab = _renumber(km.labels, soh)

    # stage 2: dynamic refinement inside each static cluster
    def dyn_ok(idx):
        return xd.shape[1] == 0 or idx.size < 2 or float(np.max(xd[idx].std(axis=0))) <= 1.0

    refined = []
    for s in range(static_lab.max() + 1):
        idx = np.flatnonzero(static_lab == s)
        refined += _bisect_until([idx], dyn_ok, xd, lambda j, s=s: np.random.default_rng([seed_int, 2, s, j]),
                                 o, o.min_size, o.max_depth)
    cl = np.empty(n, dtype=np.int64)
    for j, idx in enumerate(refined):
        cl[idx] = j
    cl = _renumber(cl, soh)

    # stage 3: spread limits
    def spread_ok(idx):
        okay = True
        if o.soh_spread is not None:
            okay &= float(np.ptp(soh[idx])) <= o.soh_spread + 1e-12
        if o.r_spread_pu is not None:
            okay &= float((r[idx].max() - r[idx].min()) / r[idx].min()) <= o.r_spread_pu + 1e-12
        return bool(okay)

    lim_cols = [c for c, on in ((soh, o.soh_spread), (r, o.r_spread_pu)) if on is not None and c is not None]
    xl = _zscore(np.column_stack(lim_cols)) if lim_cols else np.zeros((n, 0))
    packs = []
    for j in range(cl.max() + 1):
        idx = np.flatnonzero(cl == j)
        packs += (_bisect_until([idx], spread_ok, xl, lambda m, j=j: np.random.default_rng([seed_int, 3, j, m]),
                                o, 1, None) if lim_cols else [idx])
    pk = np.empty(n, dtype=np.int64)
    for j, idx in enumerate(packs):
        pk[idx] = j
    pk = _renumber(pk, soh)

    assignments = pd.DataFrame(index=table.index)
    if "battery_id" in table.columns:
        assignments["battery_id"] = table["battery_id"].to_numpy()
    assignments["static_cluster"] = static_lab
    assignments["cluster"] = cl
    assignments["pack"] = pk

    feats = pd.DataFrame({"soh": soh if soh is not None else np.nan,
                          "r": r if r is not None else (table[o.r_column].to_numpy(float)
                                                        if o.r_column in table.columns else np.nan)})
    if "nominal_kwh" in table.columns and soh is not None:
        feats["capacity_kwh"] = table["nominal_kwh"].to_numpy(float) * soh
    for name, col in zip(dynamic, _features(table, list(dynamic)).T):
        feats[f"{name}_mean"] = col
    report = _group_report(feats, pk, {"cluster": cl, "static_cluster": static_lab}, "pack")
    clusters = _group_report(feats, cl, {"static_cluster": static_lab}, "cluster")
    clusters.insert(1, "n_packs", pd.Series(pk).groupby(cl).nunique().to_numpy())
    centers = pd.DataFrame(xs, columns=list(static)).groupby(static_lab).mean()
    centers.index.name = "static_cluster"
    return ClusterResult(labels=pk, assignments=assignments, report=report, clusters=clusters,
                         static_centers=centers)


def _group_report(feats: pd.DataFrame, key: np.ndarray, parents: dict, name: str) -> pd.DataFrame:
    g = feats.groupby(key)
    rep = pd.DataFrame({name: np.unique(key)})
    for p, lab in parents.items():
        rep[p] = pd.Series(lab).groupby(key).first().to_numpy()
    rep["size"] = g.size().to_numpy()
    rep["soh_mean"] = g["soh"].mean().to_numpy()
    rep["soh_min"] = g["soh"].min().to_numpy()
    rep["soh_max"] = g["soh"].max().to_numpy()
    rep["soh_spread"] = rep["soh_max"] - rep["soh_min"]
    rep["r_mean_mohm"] = g["r"].mean().to_numpy()
    rep["r_min_mohm"] = g["r"].min().to_numpy()
    rep["r_max_mohm"] = g["r"].max().to_numpy()
    rep["r_spread_pu"] = (rep["r_max_mohm"] - rep["r_min_mohm"]) / rep["r_min_mohm"]
    if "capacity_kwh" in feats.columns:
        rep["capacity_kwh"] = g["capacity_kwh"].sum().to_numpy()
    for c in feats.columns:
        if c.endswith("_mean"):
            rep[c] = g[c].mean().to_numpy()
    return rep
