"""Float columns of a fleet table, checked present and finite, with one-line errors naming the row."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from slopt.errors import InstanceError

__all__ = ["row_label", "float_columns"]


def row_label(i: int, table: pd.DataFrame) -> str:
    if "battery_id" in table.columns:
        return f"row {i + 1} (battery_id {table['battery_id'].iloc[i]!r})"
    return f"row {i + 1}"


def float_columns(table: pd.DataFrame, cols: Sequence[str], source: str = "fleet table") -> dict:
    """Float columns, checked present and finite; errors name the row and the column."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(table).__name__}")
    out = {}
    for c in cols:
        if c not in table.columns:
            raise InstanceError.at(source, "columns", ",".join(map(str, table.columns)), f"missing column {c!r}")
        try:
            x = pd.to_numeric(table[c], errors="raise").to_numpy(dtype=float)
        except (ValueError, TypeError):
            x = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(x)
        if bad.any():
            i = int(np.argmax(bad))
            raise InstanceError.at(source, f"{row_label(i, table)}, {c}", table[c].iloc[i], "not a finite number")
        out[c] = x
    return out
