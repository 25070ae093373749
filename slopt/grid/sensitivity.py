"""Linear models of the squared bus voltages in the net power of storage sites.

The sizing MILP holds the voltage band through a first-order model of the squared voltage
magnitudes ``w = |V|^2`` in the net load ``p[c, t]`` (kW, consumption positive) of its candidate
sites ``c``::

    w[t, j](p) ~= w_point[t, j] + sum_c dw_dp[t, j, c] * (p[c, t] - p_point[c, t])        (1)

Two models share this form (:class:`VoltageModel`):

* :func:`lindistflow_model` - LinDistFlow (Baran & Wu's DistFlow without losses) about the
  feeder without storage: ``dw_dp = -2 R[j, c] / S_base`` for every step. Cheap and
  optimistic by the losses (a few mV on ieee33 at peak).
* :func:`ac_model` - the AC power flow itself, linearised at a storage operating point:
  ``w_point`` is the AC solution there and ``dw_dp`` the AC sensitivities, by central finite
  differences of the batched sweep (:func:`slopt.powerflow`), all steps and sites in one
  batch of ``2 T C`` snapshots. At the point the model is exact; away from it the error is of
  second order in the change of storage power. The sizing loop re-linearises at each plan
  until the plan is a fixed point (a sequential linear programme, ``docs/sizing.md``).

Central differences are used instead of an analytic Jacobian because the sweep is the
reference AC model of slopt; the step ``h_kw`` (0.5 kW) is far above the sweep tolerance and
far below any storage rating, so the relative error of ``dw_dp`` is about 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slopt.grid.feeder import Feeder
from slopt.grid.lindistflow import sensitivities
from slopt.grid.powerflow import PowerFlowResult, powerflow

__all__ = ["VoltageModel", "lindistflow_model", "ac_model", "with_storage"]


@dataclass(frozen=True)
class VoltageModel:
    """Eq. (1) of this module: a linear model of ``w = |V|^2`` in the sites' net load.

    Attributes
    ----------
    kind : str
        ``"lindistflow"`` or ``"ac"``.
    p_point_kw : ndarray, shape (C, T)
        Net storage load per site and step at which the model is taken (consumption +).
    w_point_pu2 : ndarray, shape (T, n_bus)
        Squared voltages at the point.
    dw_dp_pu2_per_kw : ndarray, shape (T, n_bus, C)
        Sensitivity of ``w`` to the net load at each site (negative: load lowers voltage).
    """

    kind: str
    p_point_kw: np.ndarray
    w_point_pu2: np.ndarray
    dw_dp_pu2_per_kw: np.ndarray

    def predict_pu2(self, p_kw: np.ndarray) -> np.ndarray:
        """Squared voltages ``(T, n_bus)`` that the model predicts for site loads ``p_kw`` (C, T)."""
        dp = np.asarray(p_kw, dtype=float) - self.p_point_kw          # (C, T)
        return self.w_point_pu2 + np.einsum("tjc,ct->tj", self.dw_dp_pu2_per_kw, dp)


def with_storage(base_p_kw: np.ndarray, cand_idx: np.ndarray, p_site_kw: np.ndarray) -> np.ndarray:
    """Net load ``(T, n_bus)``: ``base_p_kw`` plus the site loads ``p_site_kw`` (C, T) at ``cand_idx``."""
    p = np.array(base_p_kw, dtype=float, copy=True)
    np.add.at(p.T, np.asarray(cand_idx), np.asarray(p_site_kw, dtype=float))  # duplicate sites add up
    return p


def lindistflow_model(feeder: Feeder, base_p_kw, base_q_kvar, cand_idx) -> VoltageModel:
    """LinDistFlow about the feeder without storage (the point is ``p = 0``)."""
    s = sensitivities(feeder)
    p = np.array(base_p_kw, dtype=float, copy=True)
    q = np.array(base_q_kvar, dtype=float, copy=True)
    p[:, 0] = q[:, 0] = 0.0
    w = s.w0_pu2 - p @ s.dw_dp_per_kw.T - q @ s.dw_dq_per_kvar.T
    cand = np.asarray(cand_idx)
    T = p.shape[0]
    sens = np.broadcast_to(-s.dw_dp_per_kw[:, cand], (T, feeder.n_bus, cand.size))
    return VoltageModel("lindistflow", np.zeros((cand.size, T)), w, sens)


def ac_model(feeder: Feeder, base_p_kw, base_q_kvar, cand_idx, p_point_kw=None, *,
             h_kw: float = 0.5) -> tuple[VoltageModel, PowerFlowResult]:
    """The AC power flow linearised at the storage point ``p_point_kw`` (C, T; default 0).

    Returns the model and the AC power flow at the point (shape (T, n_bus)), so that a plan's
    AC check and the next linearisation cost one batched call.

    Examples
    --------
    >>> import numpy as np, slopt
    >>> f = slopt.load_feeder("ieee33")
    >>> m, pf = ac_model(f, f.p_load_kw[None], f.q_load_kvar[None], f.index_of([18]))
    >>> bool(np.isclose(m.w_point_pu2[0, 0], 1.0)) and bool(m.dw_dp_pu2_per_kw[0, 17, 0] < 0)
    True
    """
    base_p = np.asarray(base_p_kw, dtype=float)
    base_q = np.asarray(base_q_kvar, dtype=float)
    cand = np.asarray(cand_idx)
    T, n = base_p.shape
    C = cand.size
    point = np.zeros((C, T)) if p_point_kw is None else np.asarray(p_point_kw, dtype=float)
    p0 = with_storage(base_p, cand, point)                             # (T, n)
    # batch: (T, 1 + 2C, n): the point, then +h and -h at each site
    batch = np.repeat(p0[:, None, :], 1 + 2 * C, axis=1)
    sites = np.arange(C)
    batch[:, 1 + sites, cand] += h_kw
    batch[:, 1 + C + sites, cand] -= h_kw
    pf = powerflow(feeder, batch, np.broadcast_to(base_q[:, None, :], batch.shape), tol_pu=1e-12)
    w = pf.vm_pu ** 2                                                  # (T, 1 + 2C, n)
    dw = (w[:, 1:1 + C, :] - w[:, 1 + C:, :]) / (2.0 * h_kw)          # (T, C, n)
    fields = {f: np.ascontiguousarray(getattr(pf, f)[:, 0]) for f in PowerFlowResult.__dataclass_fields__}
    fields["converged"] = pf.converged.all(axis=1)                     # the point and its perturbations
    at_point = PowerFlowResult(**fields)
    model = VoltageModel("ac", point, w[:, 0, :].copy(), np.ascontiguousarray(dw.transpose(0, 2, 1)))
    return model, at_point
