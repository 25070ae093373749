"""Model-free adaptive control (MFAC), compact-form dynamic linearisation (Yuan et al. §3.2).

This is the lower-level voltage controller of the bilevel DBO–MFAC method (Yuan et al. §3.3):
at every time step it sets each storage unit's active power from the measured voltage
alone, with no grid or battery model. It is hand-written in numpy, not taken from a control
library, because it *is* the product: it runs inside the fitness evaluation of every
candidate solution, so it must be vectorised over a leading batch axis (the population) and
over units, hold the feeder-specific rules (deadband with release, saturation by rating and
state-of-charge window, anti-windup, zone minimum voltage) and stay testable piece by piece.

Equations (Yuan et al. numbering; ``k`` is the time step)

* Eq. 3b, compact-form dynamic linearisation: ``dy(k) = phi(k)^T du(k)``.
* PPD estimate (Hou & Jin 2011, the estimator behind Eq. 3b)::

      phi(k) = phi(k-1) + eta*du(k-1)*(dy(k) - phi(k-1)^T du(k-1)) / (mu + ||du(k-1)||^2)

  reset to ``phi(1)`` when ``|phi| <= eps``, ``|du(k-1)| <= eps`` or ``sign(phi) != sign(phi(1))``.
* Eq. 4 cost ``|y*(k+1) - y(k+1)|^2 + lambda*|u(k) - u(k-1)|^2`` with Eq. 5
  ``y(k+1) = y(k) + phi^T du(k)`` gives the control law, Eq. 6::

      u(k) = u(k-1) + rho*phi(k)*(y*(k+1) - y(k)) / (lambda + ||phi(k)||^2)

Units and scaling. The controller works on the normalised input ``v = u / u_scale``;
``phi``, ``eps``, ``mu``, ``lam`` and ``u_tol`` in :class:`MFACParams` are all expressed in
normalised units. For the canonical benchmark plants ``u_scale = 1``. On a feeder pass
``u_scale = P_rated`` (kW, per unit and per candidate): then ``v`` lies in ``[-1, 1]``, ``phi``
is the voltage change (p.u.) at full rated power, negative because charging lowers voltage,
and ``lam ~ phi(1)^2`` (``lam_rel=True``), ``mu ~ 0.01`` are sensible for every rating.
This is the same as ``lambda ~ phi_kw(1)^2`` and ``mu ~ (0.1 P_rated)^2`` in physical units.

Sign convention on a feeder: ``u`` = active power in kW, positive = charging; ``y`` = voltage
in p.u. (the minimum, or maximum, voltage of the zone the unit defends).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["MFACParams", "MFAC", "ppd_update", "ppd_reset", "control_law", "zone_matrix"]


# --------------------------------------------------------------------------------------------
# Pure update equations (testable alone, pymoo style). All in normalised input units.
# --------------------------------------------------------------------------------------------

def zone_matrix(zones, n_zones: int | None = None) -> np.ndarray:
    """One-hot map ``Z[j, z] = 1`` if unit ``j`` acts on zone ``z``.

    Parameters
    ----------
    zones : array_like of int, shape (n_units,)
        Zone index of each unit. Units sharing a zone form one MISO loop.
    n_zones : int, optional
        Number of zones; default ``max(zones) + 1``.

    Returns
    -------
    ndarray, shape (n_units, n_zones)
    """
    zones = np.asarray(zones, dtype=int).reshape(-1)
    if zones.size and zones.min() < 0:
        raise ValueError("zone indices must be >= 0")
    n_zones = int(zones.max()) + 1 if n_zones is None else int(n_zones)
    z = np.zeros((zones.size, n_zones))
    z[np.arange(zones.size), zones] = 1.0
    return z


def _to_zone(x, zmat):
    """Sum unit quantities ``(..., n_units)`` per zone -> ``(..., n_zones)``."""
    return x if zmat is None else x @ zmat


def _to_unit(x, zmat):
    """Spread zone quantities ``(..., n_zones)`` back to units -> ``(..., n_units)``."""
    return x if zmat is None else x @ zmat.T


def ppd_update(phi, du, dy, eta, mu, zmat=None):
    """One step of the pseudo-partial-derivative (PPD) estimator behind Yuan et al. Eq. 3b.

    ``phi(k) = phi(k-1) + eta*du*(dy - phi^T du) / (mu + ||du||^2)``, where the inner product
    and the norm run over the units of one zone (MISO); with ``zmat=None`` every unit is its
    own zone (SISO, elementwise).

    Parameters
    ----------
    phi : ndarray, shape (..., n_units)
        PPD estimate ``phi(k-1)``.
    du : ndarray, shape (..., n_units)
        Last applied input change ``du(k-1) = u(k-1) - u(k-2)`` (normalised).
    dy : ndarray, shape (..., n_zones)
        Output change ``dy(k) = y(k) - y(k-1)``.
    eta : float or ndarray
        Step size, ``eta in (0, 2]``.
    mu : float or ndarray
        Weight on the change of the estimate, ``mu > 0``.
    zmat : ndarray, shape (n_units, n_zones), optional
        Unit-to-zone map from :func:`zone_matrix`.

    Returns
    -------
    ndarray, shape (..., n_units)
        ``phi(k)`` before the reset rule (see :func:`ppd_reset`).
    """
    phi = np.asarray(phi, dtype=float)
    du = np.asarray(du, dtype=float)
    innov = np.asarray(dy, dtype=float) - _to_zone(phi * du, zmat)
    gain = eta / (mu + _to_zone(du * du, zmat))
    return phi + du * _to_unit(gain * innov, zmat)


def ppd_reset(phi, phi0, du, eps):
    """Reset rule of the PPD estimate (Hou & Jin 2011, CFDL-MFAC).

    ``phi <- phi(1)`` where ``|phi| <= eps``, ``|du(k-1)| <= eps`` or
    ``sign(phi) != sign(phi(1))``. Applied per unit, also in the MISO form: a unit that did not
    move carries no information on its own gain.

    Parameters
    ----------
    phi, phi0, du : ndarray, broadcastable, shape (..., n_units)
    eps : float

    Returns
    -------
    ndarray
    """
    phi = np.asarray(phi, dtype=float)
    bad = (np.abs(phi) <= eps) | (np.abs(du) <= eps) | (np.sign(phi) != np.sign(phi0))
    return np.where(bad, phi0, phi)


def control_law(u_prev, phi, err, rho, lam, zmat=None):
    """Control law of Yuan et al. Eq. 6 (unconstrained).

    ``u(k) = u(k-1) + rho*phi*(y*(k+1) - y(k)) / (lambda + ||phi||^2)``. In the MISO form the
    zone error is shared among the units of the zone in proportion to each unit's ``phi``.

    Parameters
    ----------
    u_prev : ndarray, shape (..., n_units)
        ``u(k-1)`` (normalised).
    phi : ndarray, shape (..., n_units)
        ``phi(k)``.
    err : ndarray, shape (..., n_zones)
        Tracking error ``y*(k+1) - y(k)``.
    rho : float
        Step factor, ``rho in (0, 1]``.
    lam : float or ndarray broadcastable to (..., n_zones)
        Weight on the input change, ``lambda > 0``.
    zmat : ndarray, shape (n_units, n_zones), optional

    Returns
    -------
    ndarray, shape (..., n_units)
    """
    phi = np.asarray(phi, dtype=float)
    denom = lam + _to_zone(phi * phi, zmat)
    return np.asarray(u_prev, dtype=float) + rho * phi * _to_unit(np.asarray(err) / denom, zmat)


# --------------------------------------------------------------------------------------------
# Controller
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MFACParams:
    """Tuning of :class:`MFAC`, in normalised input units (``v = u / u_scale``).

    Parameters
    ----------
    eta : float
        PPD estimator step, ``(0, 2]``.
    mu : float
        PPD estimator weight on the estimate change, ``> 0``.
    rho : float
        Control step factor, ``(0, 1]`` (Yuan et al. Eq. 6).
    lam : float
        Weight on the input change (Yuan et al. Eq. 4, 6), ``> 0``.
    eps : float
        Threshold of the reset rule.
    phi0 : float or array_like
        Initial PPD ``phi(1)``, nonzero; broadcast against the state ``(*batch, n_units)``.
        Its sign is the assumed sign of the plant gain (negative on a feeder).
    margin : float
        Inner margin of the deadband (same unit as ``y``): the reference is the band edge
        moved ``margin`` inwards.
    u_tol : float
        A unit with ``|v| > u_tol`` is "still pushing" (deadband release, see :meth:`MFAC.step`).
    lam_rel : bool
        If true, the effective ``lambda`` of a zone is ``lam * ||phi(1)||^2`` (the measured
        feeder lesson ``lambda ~ phi(1)^2``), so one ``lam`` fits every rating.

    Defaults are the CFDL-MFAC values of Hou & Jin (2011), Example 1.
    """

    eta: float = 1.0
    mu: float = 1.0
    rho: float = 0.6
    lam: float = 2.0
    eps: float = 1e-5
    phi0: float | np.ndarray = 2.0
    margin: float = 0.0
    u_tol: float = 1e-3
    lam_rel: bool = False

    def __post_init__(self):
        if not 0.0 < self.eta <= 2.0:
            raise ValueError(f"eta must be in (0, 2], got {self.eta}")
        if not self.mu > 0.0:
            raise ValueError(f"mu must be > 0, got {self.mu}")
        if not 0.0 < self.rho <= 1.0:
            raise ValueError(f"rho must be in (0, 1], got {self.rho}")
        if not self.lam > 0.0:
            raise ValueError(f"lam must be > 0, got {self.lam}")
        if np.any(np.asarray(self.phi0) == 0) or not np.all(np.isfinite(self.phi0)):
            raise ValueError("phi0 must be finite and nonzero")
        if self.eps < 0 or self.margin < 0 or self.u_tol < 0:
            raise ValueError("eps, margin and u_tol must be >= 0")

    @classmethod
    def feeder(cls, phi0=-0.05, **kw) -> "MFACParams":
        """Defaults for voltage control with ``u_scale = P_rated``.

        ``phi0`` is the voltage change (p.u.) of the defended zone at full rated charging
        power (negative), e.g. a LinDistFlow sensitivity times ``P_rated``. Defaults:
        ``lam = 0.25*phi0^2`` (``lam_rel``), ``mu = 0.01`` (``(0.1 P_rated)^2`` in kW units),
        ``eta = 0.5``, ``rho = 0.6``, ``eps = 1e-6``, margin 0.002 p.u. Tuned on ieee33 (loads
        x1.3, one unit at bus 18): the lateral enters the band in 8 steps for any rating
        between 1 and 3 MW, without overshoot, and in <= 16 steps if ``phi0`` is off by 2x.
        """
        base = dict(eta=0.5, mu=0.01, rho=0.6, lam=0.25, lam_rel=True, eps=1e-6, phi0=phi0,
                    margin=0.002, u_tol=1e-3)
        base.update(kw)
        return cls(**base)

    def with_(self, **kw) -> "MFACParams":
        """Copy with some fields replaced."""
        return replace(self, **kw)


class MFAC:
    """Vectorised CFDL-MFAC controller (Yuan et al. Eq. 3b-6), SISO or MISO per zone.

    State arrays have shape ``(*batch, n_units)``: a leading batch of independent loops
    (candidate solutions of the upper level) times the storage units. Units are grouped in
    zones; every zone has one measured output ``y`` and all its units form one MISO loop with
    a vector PPD. With the default ``zones=None`` each unit is its own SISO loop.

    Parameters
    ----------
    params : MFACParams, optional
    n_units : int
        Number of units (inputs).
    zones : array_like of int, shape (n_units,), optional
        Zone of each unit; default ``arange(n_units)`` (SISO).
    p_max : float or array_like
        Power rating, broadcastable to ``(*batch, n_units)``; ``u`` is clipped to
        ``[-p_max, p_max]``. Default unlimited.
    u_scale : float or array_like
        Input normalisation ``v = u / u_scale``, broadcastable to ``(*batch, n_units)``; use
        ``P_rated`` on a feeder (see module docstring). Default 1.

    Attributes
    ----------
    phi : ndarray, shape (*batch, n_units)
        Current PPD estimate (normalised units), after the last :meth:`step`.
    u : ndarray, shape (*batch, n_units)
        Last applied (clipped) input, in physical units.
    mode : ndarray of int8, shape (*batch, n_zones)
        Deadband state of each zone at the last step: 0 track, 1 release, 2 hold.

    Examples
    --------
    >>> ctl = MFAC(MFACParams.feeder(phi0=-0.08), n_units=1, p_max=1500.0, u_scale=1500.0)
    >>> ctl.reset(batch_shape=(30,))                                   # 30 candidates
    >>> u_kw = ctl.step(vmin_zone[:, None], band=(0.95, 1.05))         # doctest: +SKIP
    """

    def __init__(self, params: MFACParams | None = None, n_units: int = 1, zones=None,
                 p_max=np.inf, u_scale=1.0):
        from slopt.checks import as_int, require

        self.params = require(params, MFACParams, "MFAC", "params") if params is not None else MFACParams()
        self.n_units = as_int(n_units, "MFAC", "n_units", 1, 10**7)
        if zones is None:
            self._zmat = None
            self.n_zones = self.n_units
        else:
            zones = np.asarray(zones, dtype=int).reshape(-1)
            if zones.size != self.n_units:
                raise ValueError(f"zones has {zones.size} entries for {self.n_units} units")
            zm = zone_matrix(zones)
            if np.any(zm.sum(axis=0) == 0):
                raise ValueError("zone indices must be contiguous 0..n_zones-1")
            self.n_zones = zm.shape[1]
            self._zmat = None if np.array_equal(zm, np.eye(self.n_units)) else zm
        self._p_max_init = p_max
        self._u_scale_init = u_scale
        shape = np.broadcast_shapes(np.shape(p_max), np.shape(u_scale),
                                    np.shape(self.params.phi0), (self.n_units,))
        self.reset(shape[:-1])

    # ------------------------------------------------------------------ state
    def reset(self, batch_shape=(), u0=0.0, p_max=None, u_scale=None):
        """Clear the state for a new run.

        Parameters
        ----------
        batch_shape : int or tuple of int
            Leading batch shape (e.g. the population size).
        u0 : float or array_like
            Initial input ``u(0)`` (physical units), broadcastable to the state.
        p_max, u_scale : float or array_like, optional
            Override the ratings / normalisation given to the constructor (e.g. per candidate).
        """
        if isinstance(batch_shape, (int, np.integer)):
            batch_shape = (int(batch_shape),)
        self.batch_shape = tuple(batch_shape)
        shape = self.batch_shape + (self.n_units,)
        if p_max is not None:
            self._p_max_init = p_max
        if u_scale is not None:
            self._u_scale_init = u_scale
        self.p_max = np.broadcast_to(np.asarray(self._p_max_init, dtype=float), shape).copy()
        self.u_scale = np.broadcast_to(np.asarray(self._u_scale_init, dtype=float), shape).copy()
        if np.any(self.p_max < 0) or np.any(np.isnan(self.p_max)):
            raise ValueError("p_max must be >= 0")
        if np.any(~np.isfinite(self.u_scale)) or np.any(self.u_scale <= 0):
            raise ValueError("u_scale must be finite and > 0")
        p = self.params
        self.phi0 = np.broadcast_to(np.asarray(p.phi0, dtype=float), shape).copy()
        self.phi = self.phi0.copy()
        self._lam = p.lam * _to_zone(self.phi0 ** 2, self._zmat) if p.lam_rel else p.lam
        u0 = np.broadcast_to(np.asarray(u0, dtype=float), shape)
        self.u = np.clip(u0, -self.p_max, self.p_max)
        self._v = self.u / self.u_scale
        self._dv = np.zeros(shape)
        self._y_prev = None
        self.mode = np.zeros(self.batch_shape + (self.n_zones,), dtype=np.int8)
        self.k = 0

    # ------------------------------------------------------------------ step
    def step(self, y, y_ref=None, band=None, u_bounds=None):
        """Measure ``y(k)``, update ``phi(k)`` and return the clipped input ``u(k)``.

        Parameters
        ----------
        y : array_like, shape (*batch, n_zones)
            Measured output ``y(k)`` of each zone.
        y_ref : array_like, broadcastable to (*batch, n_zones), optional
            Reference ``y*(k+1)`` (tracking mode). Exactly one of ``y_ref`` and ``band``.
        band : tuple (y_lo, y_hi) of array_like, optional
            Deadband with release. With the inner band ``[y_lo + margin, y_hi - margin]``:

            * ``y`` below (above) the inner band: track the lower (upper) inner edge;
            * ``y`` inside and some unit of the zone still pushing (``|v| > u_tol``): release,
              i.e. track the inner edge that the present effort ``sum(phi*v)`` defends, and
              only let each ``u`` shrink toward 0 (never cross it);
            * ``y`` inside and nobody pushing: hold ``u(k) = u(k-1)``.
        u_bounds : tuple (u_lo, u_hi) of array_like, optional
            Extra per-step bounds in physical units (what the SOC window allows this step),
            broadcastable to ``(*batch, n_units)``. Intersected with ``[-p_max, p_max]``;
            if they cross, ``u_hi`` wins (``np.clip`` semantics).

        Returns
        -------
        ndarray, shape (*batch, n_units)
            ``u(k)`` in physical units, within all bounds. The clipped value is what is
            stored as ``u(k)`` (anti-windup), so the loop leaves a bound as soon as the error
            changes sign.
        """
        p, zm = self.params, self._zmat
        zshape = self.batch_shape + (self.n_zones,)
        y = np.asarray(y, dtype=float)
        if y.shape != zshape:
            try:
                y = np.broadcast_to(y, zshape)
            except ValueError:
                raise ValueError(f"y has shape {y.shape}, expected {zshape}") from None
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf (diverged power flow?)")
        if (y_ref is None) == (band is None):
            raise ValueError("give exactly one of y_ref and band")

        # PPD estimate phi(k) from dy(k) and du(k-1), then the reset rule.
        if self._y_prev is not None:
            phi = ppd_update(self.phi, self._dv, y - self._y_prev, p.eta, p.mu, zm)
            self.phi = ppd_reset(phi, self.phi0, self._dv, p.eps)

        v_prev = self._v
        if band is None:
            ref = np.broadcast_to(np.asarray(y_ref, dtype=float), zshape)
            release = hold = None
            self.mode = np.zeros(zshape, dtype=np.int8)
        else:
            lo_in = np.asarray(band[0], dtype=float) + p.margin
            hi_in = np.asarray(band[1], dtype=float) - p.margin
            below, above = y < lo_in, y > hi_in
            inside = ~(below | above)
            pushing = _zone_max(np.abs(v_prev), zm) > p.u_tol
            effect = _to_zone(self.phi * v_prev, zm)            # > 0: effort raises y
            ref = np.where(below, lo_in, np.where(above, hi_in, np.where(effect > 0, lo_in, hi_in)))
            release, hold = inside & pushing, inside & ~pushing
            self.mode = np.where(release, 1, np.where(hold, 2, 0)).astype(np.int8)

        v = control_law(v_prev, self.phi, ref - y, p.rho, self._lam, zm)
        if band is not None:
            rel_u, hold_u = _to_unit(release, zm) > 0, _to_unit(hold, zm) > 0
            v = np.where(rel_u, np.clip(v, np.minimum(v_prev, 0.0), np.maximum(v_prev, 0.0)), v)
            v = np.where(hold_u, v_prev, v)

        # Saturation: rating and per-step window; store the clipped input (anti-windup).
        lo, hi = -self.p_max, self.p_max
        if u_bounds is not None:
            lo = np.maximum(lo, np.asarray(u_bounds[0], dtype=float))
            hi = np.minimum(hi, np.asarray(u_bounds[1], dtype=float))
        u = np.clip(v * self.u_scale, lo, hi)
        v = u / self.u_scale
        self._dv = v - v_prev
        self._v = v
        self.u = u
        self._y_prev = y.copy()
        self.k += 1
        return u.copy()

    def __repr__(self) -> str:
        return (f"MFAC(n_units={self.n_units}, n_zones={self.n_zones}, "
                f"batch_shape={self.batch_shape}, params={self.params})")


def _zone_max(x, zmat):
    """Max of unit quantities ``x >= 0`` over each zone."""
    if zmat is None:
        return x
    return np.max(x[..., :, None] * zmat, axis=-2)
