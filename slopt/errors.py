"""Exception hierarchy of slopt.

Every error carries a one-line message. Input errors name the file, the field path and
the offending value, e.g. ``instances/x.toml: storage.retired.soh = 1.7: must be in (0, 1]``.
The command line turns them into exit codes:
``InstanceError`` (and its subclass ``ArgumentError``) -> 2, ``InfeasibleError`` -> 3, ``SolverError`` and ``OutputError`` -> 4.
"""

from __future__ import annotations

from pathlib import Path


class SloptError(Exception):
    """Base class of all slopt errors; its message is a single line."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class InstanceError(SloptError, ValueError):
    """Bad input: an instance, feeder, profile or fleet file that cannot be used."""

    exit_code = 2

    @classmethod
    def at(cls, source: str | Path | None, field: str, value: object, reason: str) -> "InstanceError":
        """Build the canonical ``file: field = value: reason`` message."""
        where = f"{source}: " if source is not None else ""
        return cls(f"{where}{field} = {_short(value)}: {reason}")


class ArgumentError(InstanceError, TypeError):
    """A library function got an argument of the wrong kind (a path where a
    :class:`~slopt.grid.feeder.Feeder` is expected, text where numbers are, an array of the
    wrong shape). It is an :class:`InstanceError` (exit code 2) and also a ``TypeError``, so
    code that catches either keeps working."""

    exit_code = 2


class InfeasibleError(SloptError):
    """The problem has no solution; the message carries the diagnosis."""

    exit_code = 3


class SolverError(SloptError):
    """The solver failed, or stopped at a limit without an incumbent."""

    exit_code = 4


class OutputError(SloptError):
    """Results could not be written (read-only or full disk, ``--out`` is a file); the previous
    result set, if any, is left as it was."""

    exit_code = 4


def _short(value: object, limit: int = 60) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"{'-' if value < 0 else ''}<integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    try:
        text = repr(value) if isinstance(value, str) else str(value)
    except Exception:  # a value whose str() fails (huge ints beyond Python's digit limit, odd objects)
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
