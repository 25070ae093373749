"""Compiled backward/forward sweep: one radial feeder, a block of load snapshots.

Hand-written because the batched power flow is the product (see :mod:`slopt.grid.powerflow`),
and compiled with numba because a sweep is a loop over buses with a data dependence (a bus
needs its parent's voltage, a branch its children's currents): numpy can only vectorise it
across snapshots, one short call per bus or chain, which holds the interpreter lock and
streams every intermediate through memory. Here each snapshot is swept to convergence while
its few kilobytes stay in the L1 cache, and the lock is released (``nogil``), so threads over
blocks of snapshots run in parallel. Imported lazily: numba's import and the cached machine
code load cost a fraction of a second, once per process.

``error_model="numpy"``: a zero voltage gives a non-finite current (reported as not
converged), not a ``ZeroDivisionError``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def _sweep_block(parent, z, y, p_kw, q_kvar, kva, v0, tol, max_iter, vm, va_deg, loss_kw, qloss_kvar,
                iterations, converged):  # pragma: no cover - compiled; covered through powerflow()
    """Solve every snapshot (row) of ``p_kw``, ``q_kvar`` (b, n) by fixed-point sweeps.

    ``parent`` (n,): parent bus, ``parent[k] < k`` (the feeder's order); ``z`` (n,) the p.u.
    impedance of the branch into each bus; ``y`` (n,) the p.u. shunt admittances, or empty;
    ``kva`` the base power. One sweep: load currents ``conj(S) V / |V|^2`` (+ ``y V``), branch
    currents summed from the leaves up, voltages ``V_k = V_parent - z_k J_k`` from the root
    down. A snapshot stops when no real or imaginary part of a voltage moves by ``tol`` or more
    (converged), when a change is not finite, or after ``max_iter`` sweeps. Outputs (row per
    snapshot) are written in place: magnitudes and angles of the last voltages, the losses
    ``sum_b z_b |J_b|^2`` of the currents that produced them plus the shunts' ``conj(y)|V|^2``
    (kW, kvar), the sweeps used and the converged flag.
    """
    b, n = p_kw.shape
    has_y = y.size > 0
    v = np.empty(n, np.complex128)
    j = np.empty(n, np.complex128)
    to_deg = 180.0 / math.pi
    inv_kva = 1.0 / kva
    for s in range(b):
        for k in range(n):
            v[k] = v0
        ok = False
        it = 0
        while it < max_iter:
            it += 1
            for k in range(n):  # load (and shunt) currents at the present voltages
                vr = v[k].real
                vi = v[k].imag
                pr = p_kw[s, k] * inv_kva
                qr = -q_kvar[s, k] * inv_kva
                m2 = vr * vr + vi * vi
                jr = (pr * vr - qr * vi) / m2
                ji = (pr * vi + qr * vr) / m2
                if has_y:
                    jr += y[k].real * vr - y[k].imag * vi
                    ji += y[k].real * vi + y[k].imag * vr
                j[k] = complex(jr, ji)
            for k in range(n - 1, 0, -1):  # backward: branch currents
                j[parent[k]] += j[k]
            delta = 0.0
            v[0] = v0
            for k in range(1, n):  # forward: the parent is already updated
                new = v[parent[k]] - z[k] * j[k]
                d = abs(new.real - v[k].real)
                if d > delta:
                    delta = d
                d = abs(new.imag - v[k].imag)
                if d > delta:
                    delta = d
                v[k] = new
            if not math.isfinite(delta):
                break
            if delta < tol:
                ok = True
                break
        iterations[s] = it
        converged[s] = ok
        sp = 0.0
        sq = 0.0
        for k in range(1, n):
            a2 = j[k].real * j[k].real + j[k].imag * j[k].imag
            sp += z[k].real * a2
            sq += z[k].imag * a2
        if has_y:
            for k in range(n):
                m2 = v[k].real * v[k].real + v[k].imag * v[k].imag
                sp += y[k].real * m2
                sq -= y[k].imag * m2
        loss_kw[s] = sp * kva
        qloss_kvar[s] = sq * kva
        for k in range(n):
            vm[s, k] = math.sqrt(v[k].real * v[k].real + v[k].imag * v[k].imag)
            va_deg[s, k] = math.atan2(v[k].imag, v[k].real) * to_deg


try:  # machine code cached next to this file, else in the user's cache directory
    sweep_block = njit(nogil=True, cache=True, error_model="numpy")(_sweep_block)
except RuntimeError:  # pragma: no cover - no writable cache anywhere: compile once per process
    sweep_block = njit(nogil=True, error_model="numpy")(_sweep_block)
