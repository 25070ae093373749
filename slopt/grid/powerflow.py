"""Batched AC power flow on radial feeders by backward/forward sweep.

Hand-written because it is the product: the sizing heuristics simulate whole populations
over a day, i.e. tens of thousands of snapshots per fitness evaluation, and the year planner
checks every step of a year, which general AC solvers (pandapower, one Newton-Raphson per
snapshot) cannot do at the needed rate.

The sweep is that of Teng (2003), "A direct approach for distribution system load flow
solutions", IEEE Trans. Power Delivery 18(3): with the path matrix ``D`` (``D[k, b] = 1`` if
branch ``b`` lies between the root and bus ``k``),

* backward sweep: branch currents ``J = I @ D`` (sum of downstream load currents),
* forward sweep:  voltage drops ``dV = (z * J) @ D.T``,

so one iteration is ``V = V0 - I @ Z`` with ``Z = D diag(z) D^T``. Loads are constant power,
``I = conj(S / V)``. Two engines iterate this fixed point (measured by
``benchmarks/powerflow.py``):

* ``"sweep"`` (the default): compiled with numba (:mod:`slopt.grid._sweep_kernel`), one
  snapshot at a time from the leaves up and the root down, linear in the number of buses,
  with the interpreter lock released so ``threads`` run blocks of snapshots in parallel;
* ``"zbus"``: the matrix form in numpy, one dense product per sweep for a block of snapshots
  (``Z`` restricted to the loaded buses, shunts folded in exactly), kept as an independent
  implementation that the tests compare with the sweep.

Losses are ``sum_b z_b |J_b|^2`` (= ``sum_k (V0 - V_k) conj(I_k)``) for the currents that
produced the final voltages, so no extra sweep is needed.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from slopt.errors import ArgumentError, InstanceError
from slopt.grid.feeder import Feeder
from slopt.limits import limit

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


def _dlf_matrix(feeder: Feeder) -> tuple[np.ndarray, np.ndarray]:
    """``(Z', V_nl)``: the impedance matrix seen by the load currents and the no-load voltages.

    Without shunts ``Z' = D diag(r + jx) D^T`` (``Z[k, j]`` sums the impedance of the path
    shared by buses k and j) and ``V_nl = V0``. The bus shunts ``Y`` are linear, so they are
    folded in exactly: ``V = V0 - Z (I + Y V)`` gives ``V = V_nl - Z' I`` with
    ``Z' = (1 + Z Y)^-1 Z = (Z^-1 + Y)^-1`` (symmetric) and ``V_nl = (1 + Z Y)^-1 V0``.
    Cached on the feeder, read-only.
    """
    cached = feeder.__dict__.get("_dlf")
    if cached is None:
        d = feeder.path_matrix
        z = (d * (feeder.r_pu + 1j * feeder.x_pu)) @ d.T
        v_nl = np.full(feeder.n_bus, complex(feeder.v_root_pu))
        if feeder.has_shunts:
            y = feeder.g_shunt_pu + 1j * feeder.b_shunt_pu
            a = np.eye(feeder.n_bus) + z * y[None, :]
            sol = np.linalg.solve(a, np.concatenate([z, v_nl[:, None]], axis=1))
            z, v_nl = 0.5 * (sol[:, :-1] + sol[:, :-1].T), sol[:, -1]
        z.setflags(write=False)
        v_nl.setflags(write=False)
        cached = (z, v_nl)
        object.__setattr__(feeder, "_dlf", cached)
    return cached


def powerflow(
    feeder: Feeder,
    p_kw,
    q_kvar=None,
    *,
    tol_pu: float = 1e-10,
    max_iter: int = 50,
    engine: str = "auto",
    threads: int | None = None,
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
    engine : {"auto", "zbus", "sweep"}
        ``"sweep"`` (and ``"auto"``): the compiled backward/forward sweep, linear in the number of
        buses; ``"zbus"``: dense products with the bus impedance matrix restricted to the load
        buses (numpy and BLAS), an independent implementation of the same fixed point. Both
        solve it to the same tolerance.
    threads : int, optional
        Worker threads over blocks of snapshots (default 1). The sweep releases the
        interpreter lock, so on a multi-core machine ``threads=os.cpu_count()`` runs long
        batches in parallel; a batch is only split while each thread gets at least 512
        snapshots. Results do not depend on it: each snapshot is solved on its own.

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
    p, q, tol_pu, max_iter, threads = _check_arguments(feeder, p_kw, q_kvar, tol_pu, max_iter, engine, threads)
    n = feeder.n_bus
    batch_shape = p.shape[:-1]
    p2 = p.reshape(-1, n)
    q2 = q.reshape(-1, n)
    n_snap = p2.shape[0]
    engine = _ZBus(feeder, p2, q2) if engine == "zbus" else _Sweep(feeder)

    out = _Out(n_snap, n)
    n_threads = 1 if threads is None else threads
    # blocks of snapshots: sized for the cache (zbus), or one per thread if that is long enough
    rows = min(engine.block_size, max(-(-n_snap // n_threads), engine.min_rows_per_thread))
    blocks = [(lo, min(lo + rows, n_snap)) for lo in range(0, n_snap, rows)]

    def run(block):
        lo, hi = block
        with np.errstate(all="ignore"):  # thread-local: set inside the worker
            engine.solve(p2[lo:hi], q2[lo:hi], float(tol_pu), int(max_iter), out.view(lo, hi))

    n_threads = min(n_threads, len(blocks))
    with engine.context():
        if n_threads > 1:
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(run, blocks))
        else:
            for block in blocks:
                run(block)
    conv = out.converged & np.isfinite(out.vm).all(axis=1) & np.isfinite(out.loss_kw)
    p_root = p2.sum(axis=1) + out.loss_kw  # includes any load at the root bus
    q_root = q2.sum(axis=1) + out.qloss_kvar
    return PowerFlowResult(
        vm_pu=out.vm.reshape(*batch_shape, n),
        va_deg=out.va_deg.reshape(*batch_shape, n),
        loss_kw=out.loss_kw.reshape(batch_shape),
        p_root_kw=p_root.reshape(batch_shape),
        q_root_kvar=q_root.reshape(batch_shape),
        converged=conv.reshape(batch_shape),
        iterations=out.iterations.reshape(batch_shape),
    )


def _check_arguments(feeder, p_kw, q_kvar, tol_pu, max_iter, engine, threads):
    """Validate the arguments of :func:`powerflow` (types, shapes, options). Non-finite loads are
    not refused: their snapshots come back with ``converged = False``.

    Raises :class:`~slopt.errors.ArgumentError` for a wrong kind of argument and
    :class:`~slopt.errors.InstanceError` for a bad value; returns the float arrays ``p, q``
    (broadcast), and ``tol_pu``, ``max_iter``, ``threads`` as numbers.
    """
    if not isinstance(feeder, Feeder):
        raise ArgumentError(f"powerflow: feeder must be a slopt Feeder (e.g. slopt.load_feeder('ieee33')), "
                            f"got {type(feeder).__name__}")
    arrays = []
    for name, value in (("p_kw", p_kw), ("q_kvar", q_kvar)):
        if value is None and name == "q_kvar":
            arrays.append(None)
            continue
        try:
            arr = None if isinstance(value, (str, bytes)) else np.asarray(value, dtype=float)
        except (TypeError, ValueError, OverflowError):
            arr = None
        if arr is None:
            raise ArgumentError(f"powerflow: {name} must be an array of numbers (kW per bus), got {type(value).__name__}"
                                " (lists of lists must be rectangular)")
        arrays.append(arr)
    p, q = arrays
    if q is None:
        q = np.zeros_like(p)
    n = feeder.n_bus
    for name, arr in (("p_kw", p), ("q_kvar", q)):
        if arr.ndim == 0 or arr.shape[-1] != n:
            raise ArgumentError(f"powerflow: the last dimension of {name} must be n_bus = {n} (buses in feeder.bus_ids "
                                f"order), got shape {arr.shape}")
    try:
        p, q = np.broadcast_arrays(p, q)
    except ValueError:
        raise ArgumentError(f"powerflow: p_kw shape {p.shape} and q_kvar shape {q.shape} do not broadcast") from None
    tol = _number(tol_pu, "tol_pu")
    if not 0 < tol < 1:
        raise InstanceError.at(None, "powerflow: tol_pu", tol_pu, "must be in (0, 1)")
    it = _integer(max_iter, "max_iter")
    if not 1 <= it <= 100_000:
        raise InstanceError.at(None, "powerflow: max_iter", max_iter, "must be in [1, 100000]")
    if not isinstance(engine, str) or engine not in ENGINES:
        raise InstanceError.at(None, "powerflow: engine", engine, f"must be one of {', '.join(ENGINES)}")
    if threads is not None:
        threads = _integer(threads, "threads")
        if not 1 <= threads <= limit("threads"):
            raise InstanceError.at(None, "powerflow: threads", threads, f"must be in [1, {limit('threads'):g}] "
                                   "(limit threads, see slopt.limits)")
    return p, q, tol, it, threads


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"powerflow: {name} must be a number, got {type(value).__name__}")
    return float(value)


def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"powerflow: {name} must be an integer, got {type(value).__name__}")
    return int(value)


#: Working-set size (in float64 values) of one block of snapshots (4 MiB).
_CACHE_DOUBLES = 1 << 19

ENGINES = ("auto", "zbus", "sweep")

_CONTROLLER = []


def _blas_single_thread():
    """Context limiting BLAS to one thread (threadpoolctl; the controller is built once): the
    zbus engine's small products ran up to 10x slower with multi-threaded BLAS on a busy 2-core
    machine (measured in ``benchmarks/powerflow.py``)."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


class _Out:
    """Output arrays of :func:`powerflow` (or views of a block of them)."""

    def __init__(self, n_snap=0, n=0, **arrays):
        if arrays:
            self.__dict__.update(arrays)
            return
        self.vm = np.empty((n_snap, n))
        self.va_deg = np.empty((n_snap, n))
        self.loss_kw = np.zeros(n_snap)
        self.qloss_kvar = np.zeros(n_snap)
        self.iterations = np.zeros(n_snap, dtype=int)
        self.converged = np.zeros(n_snap, dtype=bool)

    def view(self, lo: int, hi: int) -> "_Out":
        return _Out(**{k: v[lo:hi] for k, v in self.__dict__.items()})


def _finish(feeder: Feeder, v: np.ndarray, cur: np.ndarray, live: np.ndarray, out: _Out) -> None:
    """Voltages, angles and losses of a block from the final voltages ``v`` (n, b) in bus
    order and the load currents ``cur`` (m, b) at the ``live`` buses that produced them.

    With the total current drawn at each bus ``I = cur + y V``, ``V = V0 - Z I`` holds
    exactly, so the series losses are ``sum_k (V0 - V_k) conj(I_k)`` (= ``sum_b z_b |J_b|^2``)
    and the shunts draw ``sum_k conj(y_k) |V_k|^2``.
    """
    kva = feeder.base_mva * 1e3
    v0 = complex(feeder.v_root_pu)
    out.vm[:] = np.abs(v).T  # element-wise in the (bus, snapshot) layout, then one transposed copy
    out.va_deg[:] = np.angle(v, deg=True).T
    if feeder.has_shunts:
        y = (feeder.g_shunt_pu + 1j * feeder.b_shunt_pu)[:, None]
        i_tot = y * v
        i_tot[live] += cur
        s_loss = ((v0 - v) * np.conj(i_tot)).sum(axis=0)
        s_loss += (np.conj(y) * (v.real**2 + v.imag**2)).sum(axis=0)
    else:
        s_loss = ((v0 - v[live]) * np.conj(cur)).sum(axis=0)
    out.loss_kw[:] = s_loss.real * kva
    out.qloss_kvar[:] = s_loss.imag * kva


def _iterate(step, v, s_conj, tol, max_iter, out):
    """Fixed-point sweeps ``v <- step(conj(s) / conj(v), v)`` on the columns of a block.

    ``v``, ``s_conj``: (rows, b), one column per snapshot. Columns that meet ``tol`` (largest
    change of Re V or Im V) or become non-finite leave the active set and are frozen.
    Returns the final ``v`` and the load currents that produced it, both (rows, b).
    """
    b = v.shape[1]
    v_out = np.empty_like(v)
    cur_out = np.empty_like(v)
    active = np.arange(b)
    for it in range(1, max_iter + 1):
        cur = _load_current(s_conj, v)
        vn = step(cur, v)
        d = np.subtract(vn, v).view(float)
        np.abs(d, out=d)
        delta = d.max(axis=0).reshape(-1, 2).max(axis=1)  # per snapshot
        out.iterations[active] = it
        v = vn
        done = delta < tol
        stop = done | ~np.isfinite(delta)
        if stop.any():
            idx = active[stop]
            v_out[:, idx] = v[:, stop]
            cur_out[:, idx] = cur[:, stop]
            out.converged[idx[done[stop]]] = True
            keep = ~stop
            if not keep.any():
                return v_out, cur_out
            active = active[keep]
            v = np.ascontiguousarray(v[:, keep])
            s_conj = np.ascontiguousarray(s_conj[:, keep])
    v_out[:, active] = v  # max_iter reached: last iterate, reported as not converged
    cur_out[:, active] = cur
    return v_out, cur_out


def _load_current(s_conj: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``conj(S) / conj(V)`` as ``conj(S) V / |V|^2``: a complex product and a real division,
    half the time of numpy's complex division (which guards against overflow that voltages
    near 1 p.u. cannot reach). A zero voltage still gives a non-finite current."""
    mag2 = v.real * v.real
    mag2 += v.imag * v.imag
    cur = s_conj * v
    parts = cur.view(float).reshape(*cur.shape, 2)
    parts /= mag2[..., None]
    return cur


def _s_conj(feeder: Feeder, p, q, rows) -> np.ndarray:
    """``conj(S)`` in p.u. at buses ``rows`` for a block, layout (bus, snapshot)."""
    kva = feeder.base_mva * 1e3
    s = np.empty((rows.size, p.shape[0]), dtype=complex)
    s.real = p[:, rows].T
    s.imag = q[:, rows].T
    s.imag *= -1.0
    s /= kva
    return s


class _ZBus:
    """Dense engine: ``V = V_nl - Z' conj(S / V)`` on the load buses, one matrix product per
    sweep for the whole block (layout (bus, snapshot), so the product runs near BLAS peak)."""

    def __init__(self, feeder: Feeder, p: np.ndarray, q: np.ndarray):
        # buses that draw a load current in some snapshot (the root is the slack: excluded)
        live = np.flatnonzero(np.any(p, axis=0) | np.any(q, axis=0))
        live = live[live > 0]
        z, v_nl = _dlf_matrix(feeder)
        self.feeder, self.live = feeder, live
        self.z_live = np.ascontiguousarray(z[np.ix_(live, live)])
        self.z_cols = np.ascontiguousarray(z[:, live])
        self.v_nl = v_nl[:, None]
        self.v_nl_live = np.ascontiguousarray(v_nl[live][:, None])
        self.block_size = int(np.clip(_CACHE_DOUBLES // max(1, 12 * live.size), 32, 4096))
        self.min_rows_per_thread = self.block_size
        self.context = _blas_single_thread

    def solve(self, p, q, tol, max_iter, out: _Out) -> None:
        f, live = self.feeder, self.live
        b = p.shape[0]
        if live.size == 0:  # no load anywhere: the no-load profile
            out.converged[:] = True
            _finish(f, np.repeat(self.v_nl, b, axis=1), np.zeros((0, b), dtype=complex), live, out)
            return
        z, v_nl = self.z_live, self.v_nl_live

        def step(cur, v):
            vn = z @ cur
            np.subtract(v_nl, vn, out=vn)
            return vn

        _, cur = _iterate(step, np.repeat(v_nl, b, axis=1), _s_conj(f, p, q, live), tol, max_iter, out)
        v = self.z_cols @ cur
        np.subtract(self.v_nl, v, out=v)
        _finish(f, v, cur, live, out)


class _Sweep:
    """Compiled engine: each snapshot swept to convergence in machine code
    (:func:`slopt.grid._sweep_kernel.sweep_block`), linear in the number of buses, with no
    n x n product and no interpreter work per bus; it releases the interpreter lock, so
    ``threads`` run blocks of snapshots in parallel."""

    #: a block per thread; below this many snapshots a thread costs more than it saves
    min_rows_per_thread = 512

    context = staticmethod(contextlib.nullcontext)  # no BLAS inside

    def __init__(self, feeder: Feeder):
        from slopt.grid._sweep_kernel import sweep_block  # numba: imported on first use

        self.feeder, self.kernel = feeder, sweep_block
        self.block_size = 1 << 62  # no cache blocking: a snapshot's state is a few kB
        self.parent = np.ascontiguousarray(feeder.parent, dtype=np.int64)
        self.z = np.ascontiguousarray(feeder.r_pu + 1j * feeder.x_pu, dtype=complex)
        self.y = (np.ascontiguousarray(feeder.g_shunt_pu + 1j * feeder.b_shunt_pu, dtype=complex)
                  if feeder.has_shunts else np.zeros(0, dtype=complex))

    def solve(self, p, q, tol, max_iter, out: _Out) -> None:
        f = self.feeder
        self.kernel(self.parent, self.z, self.y, p, q, f.base_mva * 1e3, complex(f.v_root_pu), tol, max_iter,
                    out.vm, out.va_deg, out.loss_kw, out.qloss_kvar, out.iterations, out.converged)
