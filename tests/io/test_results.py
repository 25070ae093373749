"""Result sets are swapped in whole: no mixed, partial or stray files, whatever happens."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from slopt.errors import OutputError
from slopt.io.results import atomic_write_text, check_output_dir, safe_name, staged_output

ROOT = Path(__file__).resolve().parents[2]


def _names(p: Path):
    return sorted(x.name for x in p.iterdir())


def _old_set(tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    for name in ("result.json", "sizing.csv", "power.png"):
        (out / name).write_text("old")
    return out


def test_new_set_replaces_the_old_one_whole(tmp_path):
    out = _old_set(tmp_path)
    with staged_output(out) as tmp:
        (tmp / "result.json").write_text("new")
        (tmp / "diagnosis.csv").write_text("new")
    assert _names(out) == ["diagnosis.csv", "result.json"]          # no stale sizing.csv or power.png
    assert (out / "result.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".res.") and not p.name.endswith(".lock")] == []


def test_failure_in_the_write_phase_keeps_the_old_set(tmp_path):
    out = _old_set(tmp_path)
    with pytest.raises(RuntimeError):
        with staged_output(out) as tmp:
            (tmp / "result.json").write_text("new")
            raise RuntimeError("plotting failed")
    assert _names(out) == ["power.png", "result.json", "sizing.csv"]
    assert all((out / n).read_text() == "old" for n in _names(out))
    assert not [p for p in tmp_path.iterdir() if ".new-" in p.name]


def test_full_disk_is_an_output_error_and_keeps_the_old_set(tmp_path):
    out = _old_set(tmp_path)
    with pytest.raises(OutputError, match="previous results are unchanged"):
        with staged_output(out) as tmp:
            (tmp / "result.json").write_text("new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert (out / "result.json").read_text() == "old"


def test_unwritable_targets_are_one_line_output_errors(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(OutputError, match="existing file"):
        check_output_dir(f)
    with pytest.raises(OutputError):
        with staged_output(Path("/sys/slopt-test/res")):    # read-only file system, even for root
            pass


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with staged_output(tmp_path / "res") as tmp:
            atomic_write_text(tmp / "a.csv", "x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "res" / "a.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "res").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("name,expected", [("../escape", "escape"), ("/etc/passwd", "etc_passwd"),
                                           ("a/b", "a_b"), ("..", "result"), ("M-001", "M-001"),
                                           ("x" * 300, "x" * 100)])
def test_safe_name_is_one_harmless_component(name, expected):
    s = safe_name(name)
    assert s == expected and "/" not in s and not s.startswith(".")


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from slopt.io.results import install_signal_handlers, staged_output
    install_signal_handlers()
    out = Path(sys.argv[1])
    with staged_output(out) as tmp:
        (tmp / "result.json").write_text(sys.argv[2])
        (tmp / "started").write_text("1")
        Path(sys.argv[1] + ".started").write_text("1")
        time.sleep(float(sys.argv[3]))
        (tmp / "sizing.csv").write_text(sys.argv[2])
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_in_the_write_phase_leaves_the_old_set(tmp_path, sig):
    out = _old_set(tmp_path)
    p = subprocess.Popen([sys.executable, "-c", _WRITER, str(out), "new", "30"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = Path(str(out) + ".started")
    for _ in range(300):
        if started.exists():
            break
        time.sleep(0.05)
    assert started.exists()
    p.send_signal(sig)
    p.wait(timeout=30)
    assert p.returncode != 0
    assert _names(out) == ["power.png", "result.json", "sizing.csv"]
    assert (out / "result.json").read_text() == "old"
    assert not [x for x in tmp_path.iterdir() if ".new-" in x.name or ".old-" in x.name]


def test_two_concurrent_writers_never_mix_their_sets(tmp_path):
    out = tmp_path / "res"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(out), tag, "1.0"], cwd=ROOT)
             for tag in ("first", "second")]
    for p in procs:
        assert p.wait(timeout=60) == 0
    contents = {(out / n).read_text() for n in ("result.json", "sizing.csv")}
    assert len(contents) == 1                                  # one writer's set, whole
    assert _names(out) == ["result.json", "sizing.csv", "started"]
