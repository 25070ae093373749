"""LinDistFlow: linearised DistFlow voltages and their sensitivities to bus injections.

Baran & Wu's DistFlow equations with the loss terms dropped give, for a radial feeder with
squared voltage magnitudes ``w = |V|^2`` and the branch into bus ``j`` from its parent ``i``,

    P_j = sum of p over the subtree of j,   Q_j likewise,                      (flows)
    w_j = w_i - 2 (r_j P_j + x_j Q_j),                                          (voltage)

so with the path matrix ``D`` of :attr:`Feeder.path_matrix`

    w = w_0 - 2 (R p + X q),     R = D diag(r) D^T,   X = D diag(x) D^T        (all in p.u.)

``R[k, c]`` is the resistance shared by the paths root->k and root->c; ``-2 R[:, c]`` is the
sensitivity of the squared voltages to net load at bus ``c``. The sizing MILP uses this
linear map (``docs/powerflow.md``). LinDistFlow ignores losses and is therefore optimistic:
its voltages are higher than the AC solution; :func:`linearisation_error` measures that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slopt.grid.feeder import Feeder

__all__ = ["Sensitivities", "sensitivities", "lindistflow_vm_pu", "linearisation_error"]


@dataclass(frozen=True)
class Sensitivities:
    """Linear maps of LinDistFlow in kW units.

    ``w = w0 - dw_dp_per_kw @ p_kw - dw_dq_per_kvar @ q_kvar`` (squared p.u. voltage), i.e.
    ``dw_dp_per_kw = 2 R / (1000 * base_mva)``. Shapes (n_bus, n_bus); rows and columns in
    ``feeder.bus_ids`` order.
    """

    w0_pu2: float
    dw_dp_per_kw: np.ndarray
    dw_dq_per_kvar: np.ndarray


def sensitivities(feeder: Feeder) -> Sensitivities:
    """LinDistFlow sensitivities of the squared voltages to net load (kW, kvar)."""
    d = feeder.path_matrix
    kva = 1e3 * feeder.base_mva
    r = (d * feeder.r_pu) @ d.T
    x = (d * feeder.x_pu) @ d.T
    return Sensitivities(w0_pu2=feeder.v_root_pu**2, dw_dp_per_kw=2.0 * r / kva, dw_dq_per_kvar=2.0 * x / kva)


def lindistflow_vm_pu(feeder: Feeder, p_kw, q_kvar=None) -> np.ndarray:
    """LinDistFlow voltage magnitudes for net loads of shape ``(..., n_bus)``.

    The root bus entry of the loads is ignored (it is the slack), as in the AC sweep.
    """
    s = sensitivities(feeder)
    p = np.array(p_kw, dtype=float, copy=True)
    q = np.zeros_like(p) if q_kvar is None else np.array(q_kvar, dtype=float, copy=True)
    p[..., 0] = 0.0
    q[..., 0] = 0.0
    w = s.w0_pu2 - p @ s.dw_dp_per_kw.T - q @ s.dw_dq_per_kvar.T
    return np.sqrt(np.clip(w, 0.0, None))


def linearisation_error(feeder: Feeder, p_kw, q_kvar=None) -> np.ndarray:
    """``vm_LinDistFlow - vm_AC`` per snapshot and bus (positive = LinDistFlow optimistic)."""
    from slopt.grid.powerflow import powerflow

    ac = powerflow(feeder, p_kw, q_kvar)
    return lindistflow_vm_pu(feeder, p_kw, q_kvar) - ac.vm_pu
