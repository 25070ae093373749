"""Helpers shared by the command modules: the console, table rows, number formats, progress."""

from __future__ import annotations

import sys
import time

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["_row", "_console", "_hhmm", "_fmt_list", "_bounds", "progress", "check_seed", "check_threads",
           "FORMATS", "check_format", "emit"]

#: ``--format`` choices: rich tables, or the main table as CSV / the result summary as JSON on stdout
FORMATS = ("table", "csv", "json")


def _row(table: Table, item: str, value: str, markup: bool = False) -> None:
    """Add a row; user-supplied text is escaped so that ``[...]`` is never read as markup."""
    table.add_row(escape(item), value if markup else escape(value))


def _console() -> Console:
    return Console(highlight=False)


def _hhmm(step: int, resolution_min: int) -> str:
    m = int(step) * int(resolution_min)
    return f"{m // 60:02d}:{m % 60:02d}"


def _fmt_list(values, limit: int = 16) -> str:
    vals = [f"{v:g}" if isinstance(v, float) else str(v) for v in np.asarray(values).tolist()]
    return ", ".join(vals) if len(vals) <= limit else ", ".join(vals[:limit]) + f", ... ({len(vals)} in all)"


def _bounds(arr) -> str:
    arr = np.asarray(arr, dtype=float)
    return f"{arr[0]:g}" if arr.size and np.all(arr == arr[0]) else _fmt_list(arr)




class _LogProgress:
    """Progress for runs whose output is not a terminal (a file, a pipe, a CI log): a line on
    stderr at the start, then at most every ``interval_s`` seconds, and at the end."""

    def __init__(self, label: str, total: int | None, interval_s: float):
        self.label, self.total, self.interval_s = label, total, interval_s
        self.t0 = time.perf_counter()
        self.last = -float("inf")
        self.text = ""

    def _line(self, text: str) -> None:
        sys.stderr.write(f"[{time.perf_counter() - self.t0:7.1f} s] {self.label}: {text}\n")
        sys.stderr.flush()

    def update(self, text: str = "", completed: int | None = None) -> None:
        self.text = text
        now = time.perf_counter()
        if now - self.last >= self.interval_s:
            self.last = now
            done = f"{completed}/{self.total} " if (completed is not None and self.total) else ""
            self._line(f"{done}{text}")

    def __enter__(self):
        self._line("started")
        return self

    def __exit__(self, *exc):
        self._line("done" if exc[0] is None else "stopped")
        return False


class _RichProgress:
    """Progress on a terminal: a transient rich bar (known total) or spinner."""

    def __init__(self, console: Console, label: str, total: int | None):
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        cols = [SpinnerColumn(), TextColumn("{task.description}")]
        if total:
            cols += [BarColumn(), TextColumn("{task.completed}/{task.total}")]
        self.bar = Progress(*cols, TimeElapsedColumn(), console=console, transient=True)
        self.label, self.total = label, total

    def __enter__(self):
        self.bar.__enter__()
        self.task = self.bar.add_task(escape(self.label), total=self.total)
        return self

    def update(self, text: str = "", completed: int | None = None) -> None:
        kw = {} if completed is None else {"completed": completed}
        self.bar.update(self.task, description=escape(f"{self.label}: {text}" if text else self.label), **kw)

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)


def progress(console: Console, label: str, total: int | None = None, interval_s: float = 10.0):
    """A progress reporter: a bar on a terminal, periodic log lines on stderr otherwise.

    Use as ``with progress(console, "solve", total=50) as p: p.update("round 1", completed=1)``.
    """
    if console.is_terminal:
        return _RichProgress(console, label, total)
    return _LogProgress(label, total, interval_s)


def check_seed(seed: int, field: str = "--seed") -> int:
    """Seeds are integers in [0, 2**32 - 1] (numpy's and HiGHS's range)."""
    from slopt.errors import InstanceError

    if not 0 <= int(seed) <= 2**32 - 1:
        raise InstanceError.at(None, field, seed, "must be an integer in [0, 4294967295]")
    return int(seed)


def check_threads(threads: int | None) -> int | None:
    """HiGHS threads: None (HiGHS default) or 1 .. ``slopt.limits`` ``threads``."""
    from slopt.errors import InstanceError
    from slopt.limits import limit

    if threads is None:
        return None
    cap = limit("threads")
    if not 1 <= int(threads) <= cap:
        raise InstanceError.at(None, "--threads", threads, f"must be in [1, {cap}] (limit threads; see slopt --help)")
    return int(threads)


def check_format(fmt: str) -> str:
    from slopt.errors import InstanceError

    if fmt not in FORMATS:
        raise InstanceError.at(None, "--format", fmt, f"must be one of {', '.join(FORMATS)}")
    return fmt


def emit(console: Console, fmt: str, table: Table, frame, summary: dict) -> None:
    """Print the main result: the rich ``table``, ``frame`` as CSV, or ``summary`` as JSON."""
    if fmt == "csv":
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt == "json":
        from slopt.report import to_json

        sys.stdout.write(to_json(summary) + "\n")
    else:
        console.print(table)
