"""Individual loads, generators and storage units of a feeder, with their profile names.

A pandapower/SimBench net has many elements per bus, each with its own rated power and
the name of its time-series profile (SimBench column ``profile``, e.g. ``H0-A`` for a
household load or ``PV5`` for a PV system). :class:`GridElements` keeps them after the
conversion to a :class:`~slopt.grid.feeder.Feeder`, so that per-element profiles can be
turned into per-bus net loads (:func:`slopt.grid.bus_profiles.from_profile_table`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GridElements", "ELEMENT_KINDS"]

#: Element kinds and their sign in the net load (consumption positive): loads and storage
#: (pandapower: positive = charging) consume, static generators inject.
ELEMENT_KINDS = {"load": 1.0, "storage": 1.0, "sgen": -1.0}


@dataclass(frozen=True, eq=False)
class GridElements:
    """Loads, static generators and storage units, one entry each.

    Attributes
    ----------
    kind : ndarray of str, shape (n_elem,)
        ``"load"``, ``"sgen"`` or ``"storage"``.
    name : ndarray of str
        Element names (pandapower ``name`` column; may be empty).
    index : ndarray of int
        Row index in the source table (pandapower ``net.load.index`` etc.).
    bus_id : ndarray of int
        Feeder bus number the element is connected to.
    p_kw, q_kvar : ndarray of float
        Rated (nominal) power in the element's own convention: consumption for loads and
        storage (charging), generation for ``sgen``.
    profile : ndarray of str
        Profile name (``""`` if none: the element stays at its rated power).
    """

    kind: np.ndarray
    name: np.ndarray
    index: np.ndarray
    bus_id: np.ndarray
    p_kw: np.ndarray
    q_kvar: np.ndarray
    profile: np.ndarray

    def __post_init__(self):
        conv = {"kind": str, "name": str, "index": int, "bus_id": int, "p_kw": float, "q_kvar": float, "profile": str}
        n = None
        for key, typ in conv.items():
            arr = np.asarray(getattr(self, key), dtype=object if typ is str else typ)
            if typ is str:
                arr = np.array([str(v) for v in arr], dtype=str) if arr.size else np.zeros(0, dtype=str)
            arr.setflags(write=False)
            object.__setattr__(self, key, arr)
            if n is not None and arr.size != n:
                raise ValueError(f"GridElements.{key} has {arr.size} entries, expected {n}")
            n = arr.size
        bad = set(self.kind.tolist()) - set(ELEMENT_KINDS)
        if bad:
            raise ValueError(f"GridElements.kind: unknown kind {sorted(bad)[0]!r}; expected one of {sorted(ELEMENT_KINDS)}")

    def __len__(self) -> int:
        return int(self.kind.size)

    @property
    def sign(self) -> np.ndarray:
        """+1 for consumers (load, storage), -1 for generators, per element."""
        return np.array([ELEMENT_KINDS[k] for k in self.kind], dtype=float)

    def net_kw(self) -> tuple[np.ndarray, np.ndarray]:
        """Each element's rated power as net load (consumption positive): ``(p_kw, q_kvar)``."""
        s = self.sign
        return s * self.p_kw, s * self.q_kvar

    def select(self, mask) -> "GridElements":
        """The elements where ``mask`` is true."""
        m = np.asarray(mask, dtype=bool)
        return GridElements(kind=self.kind[m], name=self.name[m], index=self.index[m], bus_id=self.bus_id[m],
                            p_kw=self.p_kw[m], q_kvar=self.q_kvar[m], profile=self.profile[m])
