"""Code lines per function (docstring, blank and comment lines not counted), longest first.

The working agreement asks for functions of at most about 80 code lines; this prints the
longest ones so a re-cut can be checked::

    python tools/function_lengths.py slopt/battery slopt/fleet          # the 15 longest
    python tools/function_lengths.py --top 40 slopt

``tests/test_function_length.py`` applies it to the battery and fleet layers.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def code_lines(lines: list, node) -> int:
    """Non-blank, non-comment lines of a function, its docstring excluded."""
    body = node.body
    doc = set()
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        doc = set(range(first.lineno, first.end_lineno + 1))
    n = 0
    for i in range(node.lineno, node.end_lineno + 1):
        s = lines[i - 1].strip()
        if i not in doc and s and not s.startswith("#"):
            n += 1
    return n


def function_lengths(paths) -> list:
    """``(code lines, "file:line", name)`` of every function under ``paths``, longest first."""
    rows = []
    for p in map(Path, paths):
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            src = f.read_text(encoding="utf-8")
            lines = src.splitlines()
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    rows.append((code_lines(lines, node), f"{f}:{node.lineno}", node.name))
    return sorted(rows, reverse=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)
    for n, where, name in function_lengths(args.paths)[:args.top]:
        print(f"{n:4d}  {where}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
