"""Batched AC power flow on radial feeders by backward/forward sweep.

Hand-written because it is the product: the sizing heuristics simulate whole populations
over a day, i.e. tens of thousands of snapshots per fitness evaluation, which general AC
solvers (pandapower, one Newton-Raphson per snapshot) cannot do at the needed rate.

The sweep is written in the matrix form of Teng (2003), "A direct approach for distribution
system load flow solutions", IEEE Trans. Power Delivery 18(3): with the path matrix ``D``
(``D[k, b] = 1`` if branch ``b`` lies between the root and bus ``k``),

* backward sweep: branch currents ``J = I @ D`` (sum of downstream load currents),
* forward sweep:  voltage drops ``dV = (z * J) @ D.T``,

so one iteration is ``V = V0 - I @ Z`` with ``Z = D diag(z) D^T``, evaluated for every
snapshot of the batch in one matrix product. Loads are constant power,
``I = conj(S / V)``.

Implementation notes (the hot path; measured by ``benchmarks/powerflow.py``):

* only buses that carry a load or an injection in some snapshot of the batch inject
  current, so the fixed point is iterated on those buses alone (``Z`` restricted to them);
  the voltages of the other buses follow from one product at the end;
* the batch is cut into blocks of snapshots whose working arrays fit in the CPU cache
  (the element-wise steps are memory-bound; the matrix product runs near BLAS peak);
* snapshots that have converged (or diverged) leave the active set of their block;
* losses are ``sum_k (V0 - V_k) conj(I_k)`` = ``I^H Z I`` = ``sum_b z_b |J_b|^2`` for the
  currents that produced the final voltages, so no extra sweep is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slopt.grid.feeder import Feeder

__all__ = ["powerflow", "PowerFlowResult"]


@dataclass(frozen=True)
class PowerFlowResult:
    """Result of :func:`powerflow`; arrays keep the batch shape of the input.

    Attributes
    ----------
    vm_pu : ndarray, shape (..., n_bus)
        Voltage magnitudes, buses in ``feeder.bus_ids`` order.
    va_deg : ndarray, shape (..., n_bus)
        Voltage angles relative to the root.
    loss_kw : ndarray, shape (...)
        Active series losses of the feeder.
    p_root_kw, q_root_kvar : ndarray, shape (...)
        Power drawn from the substation (load + losses, consumption positive).
    converged : ndarray of bool, shape (...)
        True where the sweep met the tolerance with finite voltages.
    iterations : ndarray of int, shape (...)
        Sweeps used per snapshot.
    """

    vm_pu: np.ndarray
    va_deg: np.ndarray
    loss_kw: np.ndarray
    p_root_kw: np.ndarray
    q_root_kvar: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray

    @property
    def all_converged(self) -> bool:
        return bool(np.all(self.converged))


def _dlf_matrix(feeder: Feeder) -> np.ndarray:
    """``Z = D diag(r + jx) D^T``: ``Z[k, j]`` sums the impedance of the path shared by buses
    k and j. Cached on the feeder, read-only."""
    cached = feeder.__dict__.get("_dlf")
    if cached is None:
        d = feeder.path_matrix
        cached = (d * (feeder.r_pu + 1j * feeder.x_pu)) @ d.T
        cached.setflags(write=False)
        object.__setattr__(feeder, "_dlf", cached)
    return cached


def powerflow(
    feeder: Feeder,
    p_kw,
    q_kvar=None,
    *,
    tol_pu: float = 1e-10,
    max_iter: int = 50,
) -> PowerFlowResult:
    """Solve the AC power flow for a batch of load snapshots.

    Parameters
    ----------
    feeder : Feeder
        The radial feeder.
    p_kw, q_kvar : array_like, shape (..., n_bus)
        Net load per bus (consumption positive, injections negative), in ``feeder.bus_ids``
        order. Leading dimensions (time, candidate, scenario, ...) are solved together;
        the two arrays are broadcast against each other. ``q_kvar`` defaults to zero.
        A load at the root (the slack bus) does not change any voltage; it is added to
        the power drawn from the substation.
    tol_pu : float
        Convergence tolerance: the largest change of the real or imaginary part of any bus
        voltage between two sweeps.
    max_iter : int
        Maximum number of sweeps. Snapshots that do not converge are reported with
        ``converged = False``; they are never silently accepted.

    Returns
    -------
    PowerFlowResult

    Examples
    --------
    >>> from slopt import load_feeder, powerflow
    >>> f = load_feeder("ieee33")
    >>> pf = powerflow(f, f.p_load_kw, f.q_load_kvar)
    >>> round(float(pf.vm_pu.min()), 5), round(float(pf.loss_kw), 2)
    (0.91309, 202.68)
    """
    if int(max_iter) < 1 or not tol_pu > 0:
        raise ValueError(f"powerflow: need max_iter >= 1 and tol_pu > 0, got {max_iter}, {tol_pu}")
    n = feeder.n_bus
    p = np.asarray(p_kw, dtype=float)
    q = np.zeros_like(p) if q_kvar is None else np.asarray(q_kvar, dtype=float)
    p, q = np.broadcast_arrays(p, q)
    if p.shape[-1:] != (n,):
        raise ValueError(f"powerflow: last dimension of p_kw/q_kvar must be n_bus={n}, got shape {p.shape}")
    batch_shape = p.shape[:-1]
    kva = feeder.base_mva * 1e3
    p2 = p.reshape(-1, n)
    q2 = q.reshape(-1, n)
    n_snap = p2.shape[0]
    v0 = float(feeder.v_root_pu)
    z_full = _dlf_matrix(feeder)

    # buses that inject current in some snapshot (the root is the slack: excluded)
    live = np.flatnonzero(np.any(p2, axis=0) | np.any(q2, axis=0))
    live = live[live > 0]
    m = live.size
    z_live = np.ascontiguousarray(z_full[np.ix_(live, live)])
    z_rows = np.ascontiguousarray(z_full[live])

    vm = np.empty((n_snap, n))
    va_deg = np.empty((n_snap, n))
    loss_pu = np.zeros(n_snap)
    qloss_pu = np.zeros(n_snap)
    iters = np.zeros(n_snap, dtype=int)
    converged = np.zeros(n_snap, dtype=bool)
    # blocks of snapshots small enough for the working arrays to stay in cache
    rows = int(np.clip(_CACHE_DOUBLES // max(1, 12 * m), 32, 4096))  # ~7 complex arrays of (rows, m)
    with np.errstate(all="ignore"):
        for lo in range(0, n_snap, rows):
            hi = min(lo + rows, n_snap)
            s_conj = np.empty((hi - lo, m), dtype=complex)  # conj(S) in p.u. at the live buses
            s_conj.real = p2[lo:hi, live]
            s_conj.imag = q2[lo:hi, live]
            s_conj *= complex(1.0 / kva)
            np.conjugate(s_conj, out=s_conj)
            _solve_block(
                s_conj, z_live, z_rows, v0, tol_pu, int(max_iter),
                vm[lo:hi], va_deg[lo:hi], loss_pu[lo:hi], qloss_pu[lo:hi], iters[lo:hi], converged[lo:hi],
            )
    converged &= np.isfinite(vm).all(axis=1) & np.isfinite(loss_pu)
    loss_kw = loss_pu * kva
    p_root = p2.sum(axis=1) + loss_kw  # includes any load at the root bus
    q_root = q2.sum(axis=1) + qloss_pu * kva
    return PowerFlowResult(
        vm_pu=vm.reshape(*batch_shape, n),
        va_deg=va_deg.reshape(*batch_shape, n),
        loss_kw=loss_kw.reshape(batch_shape),
        p_root_kw=p_root.reshape(batch_shape),
        q_root_kvar=q_root.reshape(batch_shape),
        converged=converged.reshape(batch_shape),
        iterations=iters.reshape(batch_shape),
    )


#: Working-set size (in float64 values) of one block of snapshots (4 MiB; tuned on ieee33-141).
_CACHE_DOUBLES = 1 << 19


def _solve_block(s_conj, z_live, z_rows, v0, tol, max_iter, vm, va_deg, loss, qloss, iters, converged):
    """Fixed-point sweeps ``V = V0 - conj(S / V) Z`` for one block of snapshots.

    ``s_conj`` (k, m): conjugate loads in p.u. at the live buses (compacted in place as
    snapshots converge). Results are written into the output views.
    """
    k0, m = s_conj.shape
    if m == 0:  # no load anywhere: flat voltage profile
        vm[:] = v0
        va_deg[:] = 0.0
        converged[:] = True
        return
    v = np.full((k0, m), v0, dtype=complex)
    vn = np.empty((k0, m), dtype=complex)
    cur = np.empty((k0, m), dtype=complex)
    tmp = np.empty((k0, m), dtype=complex)
    v_out = np.empty((k0, m), dtype=complex)  # final voltages at the live buses
    cur_out = np.empty((k0, m), dtype=complex)  # the load currents that produced them
    active = np.arange(k0)
    k = k0
    for it in range(1, max_iter + 1):
        t = tmp[:k]
        np.conjugate(v[:k], out=t)
        np.divide(s_conj[:k], t, out=cur[:k])  # I = conj(S / V)
        wk = vn[:k]
        np.matmul(cur[:k], z_live, out=wk)  # Z is symmetric
        np.subtract(v0, wk, out=wk)  # V = V0 - I Z
        np.subtract(wk, v[:k], out=t)
        d = t.view(float)
        np.abs(d, out=d)
        delta = d.max(axis=1)  # largest change of Re V or Im V
        v, vn = vn, v  # v[:k] is the new iterate
        iters[active] = it
        done = delta < tol
        stop = done | ~np.isfinite(delta)
        if stop.any():
            idx = active[stop]
            v_out[idx] = v[:k][stop]
            cur_out[idx] = cur[:k][stop]
            converged[idx[done[stop]]] = True
            keep = ~stop
            active = active[keep]
            if active.size == 0:
                break
            nk = active.size
            v[:nk] = v[:k][keep]  # compact the working arrays in place
            s_conj[:nk] = s_conj[:k][keep]
            k = nk
    else:  # max_iter reached: keep the last iterate, reported as not converged
        v_out[active] = v[:k]
        cur_out[active] = cur[:k]

    # all buses: V = V0 - I_live Z[live, :]
    v_all = cur_out @ z_rows
    np.subtract(v0, v_all, out=v_all)
    np.abs(v_all, out=vm)
    np.arctan2(v_all.imag, v_all.real, out=va_deg)
    np.degrees(va_deg, out=va_deg)
    # losses I^H Z I = sum_k (V0 - V_k) conj(I_k) = sum_b z_b |J_b|^2
    np.subtract(v0, v_out, out=v_out)
    np.conjugate(cur_out, out=cur_out)
    v_out *= cur_out
    s_loss = v_out.sum(axis=1)
    loss[:] = s_loss.real
    qloss[:] = s_loss.imag
