"""Metaheuristics as pymoo algorithms (pymoo lives only in this layer)."""

from slopt.heuristics.dbo import DBO

__all__ = ["DBO"]
