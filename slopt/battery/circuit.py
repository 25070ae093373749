"""Circuit and heat of a battery module: one first-order filter, one RC circuit, one thermal model.

The digital twin (:mod:`slopt.battery.twin`) and the synthetic BMS histories
(:mod:`slopt.fleet.synthetic`) both use these; the open-circuit voltage is
:meth:`slopt.battery.chemistry.Chemistry.ocv`.

- :func:`first_order`: ``y[k] = a*y[k-1] + (1-a)*x[k]``, the exact step response of a
  first-order lag to an input held constant over each step (``a = exp(-dt/tau)``);
- :func:`periodic_first_order`: its periodic steady state for a repeating input;
- :func:`rc_polarisation_v` and :func:`rc_voltage`: the 1RC Thevenin circuit
  ``V = OCV + I*R0 + v1``, ``C1 dv1/dt = I - v1/R1`` (``I > 0`` charges);
- :func:`temperature_rise_k` and :func:`thermal_response`: the lumped thermal model
  ``m*cp*dT/dt = Q - hA*(T - T_amb)``.

Why hand-written: these few lines are the product's physics (the digital twin) and must run
vectorised over (batteries x applications x steps); no library offers that without a solver
loop per cell.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["first_order", "periodic_first_order", "rc_polarisation_v", "rc_voltage", "temperature_rise_k",
           "thermal_response"]

_BLOCK = 128


def first_order(x, a: float, y0=0.0) -> np.ndarray:
    """``y[k] = a*y[k-1] + (1-a)*x[k]`` along the last axis, with ``y[-1] = y0``.

    Blocks of up to 128 steps are solved at once with a lower-triangular Toeplitz matrix of
    powers of ``a`` (stable: only non-negative powers); the loop runs over blocks, not steps.

    Parameters
    ----------
    x : array_like, shape (..., T)
        Input per step (held over the step).
    a : float
        ``exp(-dt/tau)`` in [0, 1).
    y0 : float or array_like broadcastable to (...)
        Output before the first step.

    Returns
    -------
    numpy.ndarray, shape (..., T)
        Output at the end of every step.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    y0 = np.asarray(y0, dtype=float)[..., None]
    y = np.empty(np.broadcast_shapes(x.shape, y0.shape))
    carry = np.broadcast_to(y0[..., 0], y.shape[:-1]).copy()
    blk = min(n, _BLOCK)
    k = np.arange(blk)
    power = np.tril(a ** np.clip(k[:, None] - k[None, :], 0, None))  # (blk, blk), a^(i-j) for j <= i
    apow = a ** (k + 1)
    for s in range(0, n, blk):
        e = min(s + blk, n)
        m = e - s
        xb = np.broadcast_to(x[..., s:e], y.shape[:-1] + (m,))
        y[..., s:e] = (1.0 - a) * xb @ power[:m, :m].T + carry[..., None] * apow[:m]
        carry = y[..., e - 1].copy()
    return y


def periodic_first_order(x, a: float) -> np.ndarray:
    """Periodic steady state of :func:`first_order` for an input ``x`` that repeats forever.

    The state before the period equals the state after it: ``y0 = a^T y0 + y_T(0)``.
    """
    x = np.asarray(x, dtype=float)
    y_zero = first_order(x, a, 0.0)
    n = x.shape[-1]
    y0 = y_zero[..., -1] / (1.0 - a ** n)
    return first_order(x, a, y0)


def rc_polarisation_v(current_a, dt_s: float, r1_ohm, tau1_s: float, v1_0=0.0) -> np.ndarray:
    """Voltage of the RC branch at the end of each step: ``v1[k] = a*v1[k-1] + (1-a)*R1*I[k]``.

    Exact for current constant over each step (``a = exp(-dt/tau1)``, ``tau1 = R1*C1``). ``r1_ohm``
    may vary per step (a resistance that grows at a fixed time constant).
    """
    i = np.asarray(current_a, dtype=float)
    return first_order(np.asarray(r1_ohm, dtype=float) * i, math.exp(-dt_s / tau1_s), v1_0)


def rc_voltage(current_a, dt_s: float, r0_ohm, r1_ohm, c1_f, ocv_v, v1_0=0.0) -> np.ndarray:
    """Terminal voltage of a 1RC Thevenin circuit at the end of each step (+ current charges).

    ``V = OCV + I*R0 + v1`` with ``C1 dv1/dt = I - v1/R1`` (charging positive), integrated
    exactly for current constant over each step: ``v1[k] = a*v1[k-1] + (1-a)*R1*I[k]``,
    ``a = exp(-dt/(R1*C1))``. For a discharge step of ``I_d > 0`` amperes from rest this is the
    closed form ``V(t) = OCV - I_d*R0 - I_d*R1*(1 - exp(-t/(R1*C1)))``.

    Parameters
    ----------
    current_a : array_like, shape (..., T)
        Current per step (A), + charge.
    dt_s : float
        Step (s).
    r0_ohm, r1_ohm, c1_f : float
        Circuit parameters (scalars).
    ocv_v : float or array_like broadcastable to (..., T)
        Open-circuit voltage (V).
    v1_0 : float or array_like
        RC voltage before the first step (V).

    Returns
    -------
    numpy.ndarray, shape (..., T)
        Terminal voltage (V) at the end of each step.
    """
    i = np.asarray(current_a, dtype=float)
    a = math.exp(-dt_s / (r1_ohm * c1_f))
    v1 = first_order(r1_ohm * i, a, v1_0)
    return np.asarray(ocv_v, dtype=float) + i * r0_ohm + v1


def temperature_rise_k(steady_rise_k, dt_s: float, tau_s: float, rise0_k=0.0) -> np.ndarray:
    """Temperature rise over ambient of a lumped body at the end of each step.

    ``theta[k] = a*theta[k-1] + (1-a)*Q[k]/hA`` with ``a = exp(-dt/tau)``, ``tau = m*cp/hA``:
    the exact response to heat held constant over each step, given the steady rise ``Q/hA``.
    """
    return first_order(steady_rise_k, math.exp(-dt_s / tau_s), rise0_k)


def thermal_response(heat_w, dt_s: float, m_cp_j_per_k: float, ha_w_per_k: float, t_amb_c, t0_c=None) -> np.ndarray:
    """Lumped cell temperature ``m*cp*dT/dt = Q - hA*(T - T_amb)`` at the end of each step.

    Exact for heat constant over a step: ``T[k] - T_amb = a*(T[k-1] - T_amb) + (1-a)*Q[k]/hA``,
    ``a = exp(-dt*hA/(m*cp))``; the steady state under constant ``Q`` is ``T_amb + Q/hA``.

    Parameters
    ----------
    heat_w : array_like, shape (..., T)
        Heat per step (W).
    dt_s : float
    m_cp_j_per_k, ha_w_per_k : float
        Heat capacity (J/K) and heat transfer coefficient times area (W/K).
    t_amb_c : float
        Ambient (degC).
    t0_c : float, optional
        Temperature before the first step; ambient by default.
    """
    q = np.asarray(heat_w, dtype=float)
    a = math.exp(-dt_s * ha_w_per_k / m_cp_j_per_k)
    theta0 = 0.0 if t0_c is None else np.asarray(t0_c, dtype=float) - t_amb_c
    return t_amb_c + first_order(q / ha_w_per_k, a, theta0)
