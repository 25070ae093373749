"""slopt.io.csvsafe: strict numbers, table shape, size and encoding checks, no file text in errors."""

from __future__ import annotations

import pytest

from slopt.errors import InstanceError
from slopt.io.csvsafe import check_header, check_rows, read_csv_text, strict_float

COLS = ("time", "load", "pv")


@pytest.mark.parametrize("cell,value", [
    ("1", 1.0), ("-2.5", -2.5), ("+3", 3.0), (" 4.0 ", 4.0), ("1e3", 1000.0), ("1.5E-2", 0.015), (".5", 0.5),
    ("5.", 5.0),
])
def test_plain_decimals_are_read(cell, value):
    assert strict_float(cell) == value


@pytest.mark.parametrize("cell", [
    "1_000",          # Python's float() takes it
    "\u0663",         # Arabic-Indic three: float() takes it
    "\uff13",         # full-width three
    "\u0967\u0968",   # Devanagari twelve
    "0x10", "1,5", "1e", "e5", "--1", "1.2.3", "", "one", "1 000", "true", "1j", "\u00bd",
    "1" * 2000,       # longer than any number
])
def test_everything_else_is_not_a_number(cell):
    assert strict_float(cell) is None


def test_python_float_is_more_lenient_than_a_csv_number():
    """The reason for strict_float: these are numbers to Python, typos or attacks in a CSV."""
    assert float("1_000") == 1000.0 and float("\u0663") == 3.0 and float("\uff13") == 3.0
    assert strict_float("1_000") is strict_float("\u0663") is strict_float("\uff13") is None


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_non_finite_spellings_are_numbers_for_the_callers_to_refuse(cell):
    x = strict_float(cell)
    assert x is not None and not (abs(x) < float("inf"))


def test_a_failed_match_is_linear():
    """A long digit run followed by junk (the classic backtracking trap) is rejected; the cell
    length bound keeps this cheap whatever the pattern does."""
    assert strict_float("1" * 999 + "x") is None


def test_rows_and_columns(tmp_path):
    text = "time,load,pv\n00:00,1,0\n\n00:15,1,0\n"
    assert check_rows(text, "f.csv", COLS, required=COLS) == 2
    with pytest.raises(InstanceError, match=r"^f.csv: row 2: has 2 fields, the header has 3 \(line 3\)$"):
        check_rows("time,load,pv\n00:00,1,0\n00:15,1\n", "f.csv", COLS)
    with pytest.raises(InstanceError, match=r"row 1: has 4 fields"):
        check_rows("time,load,pv\n00:00,1,0,9\n", "f.csv", COLS)
    with pytest.raises(InstanceError, match=r"row 1: a quoted field holds a line break"):
        check_rows('time,load,pv\n"00:00\n",1,0\n', "f.csv", COLS)
    assert check_rows('time,load,pv\n"00:00",1,"0"\n', "f.csv", COLS) == 1        # quotes without breaks are fine
    with pytest.raises(InstanceError, match=r"row 1: has 2 fields"):
        check_rows('time,load,pv\n"00:00,1",0\n', "f.csv", COLS)                   # a quoted comma is one field
    with pytest.raises(InstanceError, match="the file is empty"):
        check_rows("\n\n", "f.csv", COLS)
    assert check_rows("time,load,pv\r\n00:00,1,0\r\n", "f.csv", COLS) == 1      # CRLF files


def test_header_errors_never_show_the_first_line(tmp_path):
    secret = "hunter2:x:0:0:root:/root:/bin/bash"
    with pytest.raises(InstanceError) as e:
        check_rows(secret + "\nmore\n", "f.csv", COLS, required=COLS)
    assert str(e.value) == "f.csv: not a CSV table with columns time,load,pv (no column 'time' in the first line)"
    with pytest.raises(InstanceError, match=r"header = 'load': duplicate column"):
        check_header(["time", "load", "Load", "pv"], "f.csv", COLS)


def test_row_limit_is_checked_before_parsing(monkeypatch):
    monkeypatch.setenv("SLOPT_LIMITS", "batteries=2")
    text = "battery_id\nB1\nB2\nB3\n"
    with pytest.raises(InstanceError, match=r"fleet rows = 3: exceeds the limit batteries = 2"):
        check_rows(text, "f.csv", ("battery_id",), max_rows=("batteries", "fleet rows"))


def test_file_checks(tmp_path, monkeypatch):
    p = tmp_path / "f.csv"
    p.write_bytes(b"time,load,pv\n\x00\x01\x02\n")
    with pytest.raises(InstanceError, match=r"not a CSV table with columns time,load,pv \(binary data\)$"):
        read_csv_text(p, COLS)
    p.write_bytes(b"time,load,pv\n\xff\xfe\n")
    with pytest.raises(InstanceError, match=r"not UTF-8 text at byte 13"):
        read_csv_text(p, COLS)
    p.write_bytes(b"\xef\xbb\xbftime,load,pv\n")                                  # a BOM is fine
    assert read_csv_text(p, COLS).startswith("time")
    with pytest.raises(InstanceError, match="file not found"):
        read_csv_text(tmp_path / "nope.csv", COLS)
    with pytest.raises(InstanceError, match="is a folder"):
        read_csv_text(tmp_path, COLS)
    monkeypatch.setenv("SLOPT_LIMITS", "file_mb=0.00001")                       # 10 bytes
    p.write_text("time,load,pv\n00:00,1,0\n")
    with pytest.raises(InstanceError, match=r"file size \(MB\) = 2.3e-05: exceeds the limit file_mb"):
        read_csv_text(p, COLS)
