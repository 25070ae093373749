"""Controllers (numpy only): model-free adaptive control of storage power (Yuan et al. §3.2)."""

from slopt.control.mfac import MFAC, MFACParams, control_law, ppd_reset, ppd_update, zone_matrix

__all__ = ["MFAC", "MFACParams", "ppd_update", "ppd_reset", "control_law", "zone_matrix"]
