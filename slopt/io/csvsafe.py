"""Safe reading of CSV input files: size, encoding, table shape and strict numbers.

Every CSV reader of slopt (profiles, dispatch requests, per-bus profiles, feeder tables,
fleet tables) goes through these checks before it looks at a value:

* the file size is checked against the ``file_mb`` limit (:mod:`slopt.limits`) *before*
  anything is read, so a 1 GB (or sparse) file costs nothing;
* the bytes must be UTF-8 text (a byte-order mark is allowed) without NUL bytes;
* no quoted field may hold a line break (one table row is one file line);
* every row has as many fields as the header (a short or long row is an error, not a
  silently padded or shifted row);
* numbers are plain ASCII decimals (``12``, ``-0.5``, ``1.2e3``): Python's ``float`` also
  takes ``1_000`` and non-ASCII digits such as ``'٣'``, which no CSV writer produces.

Errors are one line, ``file: row N, column = value: reason``. They never show the file's
own text beyond the offending cell: a path that points at a system file or a binary file
gives ``file.csv: not a CSV table with columns time,load,pv (...)``, never its first line.
"""

from __future__ import annotations

import csv
import io
import re
from operator import methodcaller
from pathlib import Path

from slopt.errors import InstanceError
from slopt.limits import check, check_file_size

__all__ = ["read_csv_text", "check_rows", "not_a_table", "strict_float", "NUMBER", "row_error",
           "check_header"]

#: A plain ASCII decimal number, or nan/inf (reported as "not finite" by the callers).
#: Unambiguous alternatives, so a failed match is linear in the cell length.
NUMBER = re.compile(r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.ASCII | re.IGNORECASE)

#: Longest cell examined (a number never needs more).
_MAX_CELL = 1000


def not_a_table(path, columns, why: str = "") -> InstanceError:
    """The one-line error for a file that is not the expected CSV table (its text is never shown)."""
    cols = columns if isinstance(columns, str) else ",".join(columns)
    return InstanceError(f"{path}: not a CSV table with columns {cols}{f' ({why})' if why else ''}")


def row_error(path, row: int, column: str, value, reason: str) -> InstanceError:
    """``file: row N, column = value: reason`` (``row`` is the 1-based data row)."""
    return InstanceError.at(path, f"row {row}, {column}", value, reason)


def read_csv_text(path: str | Path, columns, *, what: str = "file") -> str:
    """The text of a CSV input file, after the size, encoding and binary checks.

    Parameters
    ----------
    path : str or Path
    columns : str or sequence of str
        The expected columns, for the error message of a file that is not a CSV table.
    what : str
        Field name for errors about the file itself (``"file"``, ``"fleet file"``).

    Raises
    ------
    InstanceError
        Missing or unreadable file, larger than the ``file_mb`` limit, not UTF-8 text, binary.
    """
    path = Path(path)
    check_file_size(path, what)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InstanceError.at(path, what, str(path), "file not found") from None
    except IsADirectoryError:
        raise InstanceError.at(path, what, str(path), "is a folder, not a file") from None
    except OSError as e:
        raise InstanceError.at(path, what, str(path), f"cannot read file ({e.strerror or type(e).__name__})") from None
    if b"\x00" in raw:
        raise not_a_table(path, columns, "binary data")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise not_a_table(path, columns, f"not UTF-8 text at byte {e.start}") from None


def check_rows(text: str, path, columns, *, required=(), max_rows: tuple[str, str] | None = None) -> int:
    """Check the table shape of CSV ``text``: the header has the ``required`` columns, every
    non-blank line has as many fields as the header and no quoted field holds a line break.
    Returns the number of data rows.

    Parameters
    ----------
    columns : str or sequence of str
        The expected columns, for the message of a file that is not such a table.
    required : sequence of str
        Columns the first line must name (case-insensitive); checked first, so a file that is
        not a table at all is reported as such.
    max_rows : (limit name, field), optional
        Check the number of data rows against a :mod:`slopt.limits` limit (e.g.
        ``("batteries", "fleet rows")``) before anything else is done with the rows.

    Raises
    ------
    InstanceError
        ``file: row N: has k fields, the header has n`` or a quoted line break.
    """
    lines = text.split("\n")
    if "\r" in text:
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise not_a_table(path, columns, "the file is empty")
    if required:
        check_header(next(csv.reader([lines[first]]), []), path, columns, required=required)
    if max_rows is not None:
        n = sum(1 for ln in lines[first + 1:] if ln)
        check(max_rows[0], n, max_rows[1], source=path)
    if '"' in text:
        return _check_quoted(text, path, columns)
    counts = list(map(methodcaller("count", ","), lines))
    width = counts[first]
    row = 0
    for i in range(first + 1, len(lines)):
        if not lines[i]:
            continue
        row += 1
        if counts[i] != width:
            raise InstanceError(f"{path}: row {row}: has {counts[i] + 1} fields, the header has {width + 1} "
                                f"(line {i + 1})")
    return row


def _check_quoted(text: str, path, columns) -> int:
    """:func:`check_rows` for a file with quotes: the csv module finds the fields."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    width = None
    row = 0
    try:
        for fields in reader:
            if not fields:
                continue
            if any(("\n" in f or "\r" in f) for f in fields):
                if width is None:
                    raise not_a_table(path, columns, "a quoted field of the header holds a line break")
                raise InstanceError(f"{path}: row {row + 1}: a quoted field holds a line break (line "
                                    f"{reader.line_num}); one row must be one line")
            if width is None:
                width = len(fields)
                continue
            row += 1
            if len(fields) != width:
                raise InstanceError(f"{path}: row {row}: has {len(fields)} fields, the header has {width} "
                                    f"(line {reader.line_num})")
    except csv.Error as e:
        raise not_a_table(path, columns, f"malformed CSV near line {reader.line_num}: {str(e)[:60]}") from None
    return row


def check_header(names: list[str], path, columns, *, required=None) -> dict[str, int]:
    """Positions of the ``required`` columns (default: ``columns``) in a header (names
    stripped, compared case-insensitively). A missing column gives :func:`not_a_table` (the
    header itself is not shown); a duplicate names the column."""
    lower = [n.strip().lower() for n in names]
    pos = {}
    for c in (columns if required is None else required):
        if c not in lower:
            raise not_a_table(path, columns, f"no column {c!r} in the first line")
        if lower.count(c) > 1:
            raise InstanceError.at(path, "header", c, "duplicate column")
        pos[c] = lower.index(c)
    return pos


def strict_float(cell: str) -> float | None:
    """The value of a plain ASCII decimal (or nan/inf), else ``None``.

    >>> strict_float(" 1.5e3 "), strict_float("1_000"), strict_float("\\u0663"), strict_float("0x10")
    (1500.0, None, None, None)
    """
    s = cell.strip()
    if len(s) > _MAX_CELL or not NUMBER.fullmatch(s):
        return None
    return float(s)                      # 1e999 -> inf: reported as not finite by the callers
