"""The repository cites only what its users have.

Users get the repository, not the project's internal design notes or its private numbering of
the source papers. Papers are cited by the short names of ``docs/references.md`` (Yuan et al.
(2025), Kumar et al., Tang et al., the LiBat white paper) and topics by the repository's own
``docs/`` pages. This test walks every git-tracked text file and fails, naming ``file:line``, on a
pointer to the design notes, a numbered-paper reference, or a path outside the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()

#: What users cannot follow, each with the reason it is refused.
FORBIDDEN = {
    "design notes (DESIGN.md)": re.compile(r"DESIGN\.md"),
    "design-note section (DESIGN §x, DESIGN section x, DESIGN x)": re.compile(r"\bDESIGN\b"),
    "numbered source paper (seed 00x)": re.compile(r"(?i)\bseeds?[\s\-#*>]*00\d(?!\d)"),
    "path outside the repository (../shared)": re.compile(r"\.\./shared"),
    "path of the build machine (/work/)": re.compile(r"/work/"),
}

def _skipped(path: str) -> bool:
    return (path == THIS or path.startswith("tests/data/")
            or (path.startswith("benchmarks/results/") and path.endswith(".csv")))


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to list the tracked files")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode("utf-8").split("\0") if p and not _skipped(p)]


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary (NUL byte or not UTF-8) or missing file."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def find_violations(path: str, text: str) -> list[str]:
    """``file:line: what: line`` for every forbidden reference in ``text`` (matches may span lines)."""
    lines = text.splitlines()
    found = []
    for what, pattern in FORBIDDEN.items():
        for m in pattern.finditer(text):
            lineno = text.count("\n", 0, m.start()) + 1
            line = lines[lineno - 1].strip() if lineno <= len(lines) else ""
            found.append(f"{path}:{lineno}: {what}: {line[:120]}")
    return found


def test_patterns_catch_what_they_should_and_only_that():
    bad = ["see DESIGN §10", "(DESIGN section 7)", "DESIGN 5", "Format: DESIGN.md section 2",
           "seed 002 §4.2", "(Seed 003 Table 3)", "seeds 003, 000, 001", "seed\n  002's cost", "seed-002 figures",
           "../shared/seeds/002.txt", "/work/shared/DESIGN"]
    good = ["seed=0", "the same seed gives the same result", "seeds 0-9 of the shifted set", "seed 42",
            "no design choice used them", "by design", "Yuan et al. §4.2", "DESIGN_TABLE = 1", "shared machine",
            "rng = np.random.default_rng(2002)"]
    for s in bad:
        assert find_violations("x.md", s), s
    for s in good:
        assert not find_violations("x.md", s), s


def test_tracked_text_files_are_self_contained():
    files = _tracked_files()
    assert "README.md" in files and "docs/references.md" in files  # the walk sees the repository
    violations = []
    for path in files:
        text = _text(ROOT / path)
        if text is not None:
            violations += find_violations(path, text)
    assert not violations, ("references users cannot follow (cite docs/references.md short names and "
                            "docs/ pages instead):\n" + "\n".join(violations))
