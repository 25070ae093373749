"""docs/equations.md names real functions and real tests (the map stays honest as code moves)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "equations.md").read_text(encoding="utf-8")


def _defs(path: Path) -> set:
    """Names defined in a module or package: functions, classes (and their methods), assignments."""
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    names = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return names


def test_every_cited_test_exists():
    refs = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", DOC)
    last = None
    for path, name in refs:
        assert (ROOT / path).exists(), path
        assert name in _defs(ROOT / path), f"{path}::{name}"
    # "`::test_x`" continues the file named just before it in the same cell
    for cell in re.findall(r"\|([^|\n]*`tests/[^|\n]*)\|", DOC):
        for m in re.finditer(r"`(tests/[\w/]+\.py)::\w+`|`::(\w+)`", cell):
            if m.group(1):
                last = m.group(1)
            else:
                assert last and m.group(2) in _defs(ROOT / last), f"{last}::{m.group(2)}"
    assert len(refs) >= 60


def test_every_cited_function_exists():
    for path, names in re.findall(r"`(slopt/[\w/]+(?:\.py|/))(?:::|`: `)?([\w.`, ]*)", DOC):
        target = ROOT / path
        assert target.exists(), path
        for name in re.findall(r"[A-Za-z_]\w*", names.split("`")[0]):
            assert name.split(".")[0] in _defs(target), f"{path}::{name}"


def test_listed_names_after_a_module_exist():
    # "`slopt/x.py::a`, `b`" and "`slopt/x.py`: `a`, `b`" list several names of one module
    n = 0
    for path, first, rest in re.findall(r"`(slopt/[\w/]+\.py)(?:::([\w.]+))?`((?:(?::|,) `[\w.]+`)*)", DOC):
        for name in ([first] if first else []) + re.findall(r"`([\w.]+)`", rest):
            assert name.split(".")[0] in _defs(ROOT / path), f"{path}::{name}"
            n += 1
    assert n >= 50


def test_every_source_equation_is_mapped():
    yuan = ["Eq. 1a-1f", "Eq. 2", "Eq. 3a", "Eq. 3b", "Eq. 4", "Eq. 5", "Eq. 6", "Eq. 7a", "Eq. 7b", "Eq. 7c",
            "Eq. 8", "Eq. 9", "Eq. 10a", "Eq. 10b", "Eq. 10c", "Eq. 11a", "Eq. 11b", "Eq. 11c",
            "Table 1", "Table 2", "Table 3", "Table 4", "Table 5", "Algorithm 1"]
    section = DOC.split("## Yuan")[1].split("## Xue")[0]
    for item in yuan:
        assert f"| {item} |" in section, item
    dbo = DOC.split("## Xue")[1].split("## Hou")[0]
    for k in range(1, 8):
        assert f"| Eq. {k} |" in dbo, k
    kumar = DOC.split("## Kumar")[1].split("## Tang")[0]
    for k in range(1, 7):
        assert f"| Table {k} |" in kumar, k
    tang = DOC.split("## Tang")[1].split("## LiBat")[0]
    for k in range(1, 6):
        assert f"| Table {k}" in tang, k
