"""The Lagrangian bound of the per-battery problem and the dual prices that minimise it.

Only the demand rows couple the batteries. For prices ``lam >= 0`` ($/kWh) the Lagrangian
``g(lam) = sum_a lam[a] D[a] + sum_i max_r (v[i,r] - lam[r] e[i])`` is a true upper bound
(:func:`lagrangian_bound`); :func:`dual_prices` minimises a smoothed version of it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lagrangian_bound", "dual_prices"]


def lagrangian_bound(value: np.ndarray, feas: np.ndarray, energy: np.ndarray, demand: np.ndarray,
                     lam: np.ndarray) -> float:
    """``g(lam) = sum_a lam[a] D[a] + sum_i max_r (v[i,r] - lam[r] e[i])``, an upper bound for lam >= 0.

    ``lam`` has one price per route ($/kWh); routes with an unlimited demand must have price 0.
    For any feasible plan ``x``: ``sum v x = sum_i (v - lam e)[i, r(i)] + sum_a lam[a] use[a]
    <= g(lam)``, because ``use[a] <= D[a]`` and ``lam >= 0`` (weak duality).
    """
    lam = np.asarray(lam, float)
    if np.any(lam < 0) or np.any((lam > 0) & ~np.isfinite(demand)):
        raise ValueError("lagrangian_bound: prices must be >= 0 and 0 on unlimited routes")
    fin = np.isfinite(demand)
    u = np.where(feas, value - lam[None, :] * energy[:, None], -np.inf).max(axis=1)
    return float(lam[fin] @ demand[fin] + u.sum())


def _smoothed_dual(lam, tau, m_kwh, e_kwh, d_kwh, frac):
    """Entropy-smoothed dual and its gradient on rows ``m_kwh = [w - (lam), b]`` (float32).

    ``f = frac lam.D + sum_i e_i tau log(sum_a exp((w_ia - lam_a)/tau) + exp(b_i/tau))``.
    """
    z = m_kwh.copy()
    z[:, :-1] -= lam.astype(z.dtype)
    mx = z.max(axis=1)
    z -= mx[:, None]
    z *= z.dtype.type(1.0 / tau)
    np.exp(z, out=z)
    s = z.sum(axis=1, dtype=np.float64)
    f = frac * float(lam @ d_kwh) + float(e_kwh @ (mx + tau * np.log(s)))
    grad = frac * d_kwh - (e_kwh / s) @ z[:, :-1]
    return f, grad


def dual_prices(value, feas, energy, demand, seed: int = 0, sample: int = 20000, full_iters: int = 30):
    """Prices minimising the Lagrangian bound (L-BFGS on an entropy-smoothed dual, scipy).

    Works in $/kWh: ``w[i,a] = v[i,a]/e[i]`` and ``b[i]`` = best unlimited route per kWh; a
    battery for which no limited route beats ``b[i]`` never enters one (``lam >= 0``) and drops
    out. The smoothed dual (:func:`_smoothed_dual`) is convex and smooth; its temperature
    ``tau`` shrinks over stages. Above ``sample`` active batteries the first stages run on a
    random sample (demands scaled by the sample share), then on a ten times larger one, then
    ``full_iters`` iterations on all of them, each warm-started. The bound returned is the
    exact ``g`` at the best prices met (:func:`lagrangian_bound`).

    Returns
    -------
    lam : (R,) prices (0 on unlimited routes); bound : exact ``g(lam)``.
    """
    from scipy.optimize import minimize

    R = value.shape[1]
    lim = np.flatnonzero(np.isfinite(demand))
    lam_full = np.zeros(R)
    exact = lambda lam: lagrangian_bound(value, feas, energy, demand, _place(lam_full, lim, lam))
    if lim.size == 0:
        return lam_full, exact(np.zeros(0))
    unl = np.flatnonzero(~np.isfinite(demand))
    base = np.where(feas[:, unl], value[:, unl], -np.inf).max(axis=1) / energy
    w = np.where(feas[:, lim], value[:, lim] / energy[:, None], -np.inf)
    act = np.flatnonzero((w > base[:, None]).any(axis=1))
    if act.size == 0:
        return lam_full, exact(np.zeros(lim.size))
    floor = float(np.min(base[act])) - 1e6                                # "closed" entry, exp -> 0
    rows = np.concatenate([np.where(w[act] > base[act, None], w[act], floor), base[act, None]], axis=1)
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    ea, D = energy[act], demand[lim]
    scale = max(float(np.median(np.abs(rows.max(axis=1)))), 1e-6)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(act.size) if act.size > sample else np.arange(act.size)
    sizes = [s_ for s_ in (sample, 10 * sample) if s_ < act.size] + [act.size]
    stages = []
    for k, size in enumerate(sizes):
        sub = np.sort(perm[:size])
        taus = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4) if k == 0 else (1e-4,)
        iters = 100 if k == 0 else (30 if size < act.size else full_iters)
        stages += [(t, rows[sub], ea[sub], size / act.size, iters) for t in taus]
    if act.size <= sample:
        stages.append((3e-5, rows, ea, 1.0, 100))
    lam = np.zeros(lim.size)
    best = (exact(lam), lam)
    for tau_rel, m_kwh, e_kwh, fr, iters in stages:
        tau = tau_rel * scale
        fun = lambda x: tuple(v / scale for v in _smoothed_dual(x, tau, m_kwh, e_kwh, D, fr))
        r = minimize(fun, lam, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * lim.size,
                     options={"maxiter": iters, "ftol": 1e-14, "gtol": 1e-11})
        lam = np.maximum(r.x, 0.0)
        if tau_rel <= 1e-4:
            g = exact(lam)
            if g < best[0]:
                best = (g, lam.copy())
    return _place(lam_full, lim, best[1]), best[0]


def _place(full: np.ndarray, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
    out = full.copy()
    out[idx] = vals
    return out
