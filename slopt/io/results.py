"""Writing result sets safely: staged in a temporary folder, swapped in whole, one writer at a time.

A command's result files (CSV, JSON, PNG) form one set. :func:`staged_output` gives the
writers a fresh temporary folder beside ``--out``; only when every file is written is the
folder swapped in for the old set (two renames on the same file system). An interrupted,
failed or infeasible run therefore leaves the previous set complete, never a mix of old and
new files. A lock file beside the folder serialises concurrent runs into one ``--out``.
Files are created with the process umask (no 0600 temporaries are left behind).

:func:`safe_name` turns an instance, fleet or battery name into a single path component, so
that no input field can place a file outside ``--out``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

from slopt.errors import OutputError

__all__ = ["staged_output", "safe_name", "check_output_dir", "install_signal_handlers", "atomic_write_bytes",
           "atomic_write_text"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(name: object, default: str = "result") -> str:
    """One harmless path component: letters, digits and ``._+-`` only; no leading dot; <= 100 chars.

    >>> safe_name("../escape"), safe_name("/etc/passwd"), safe_name("M-001"), safe_name("a/b")
    ('escape', 'etc_passwd', 'M-001', 'a_b')
    """
    s = _UNSAFE.sub("_", str(name)).strip("._")
    return (s or default)[:100]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, with
    the permissions of the umask (``mkstemp`` alone would leave 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def check_output_dir(out_dir: str | Path) -> Path:
    """Fail early (before any work) if ``out_dir`` cannot receive a result set.

    Raises :class:`OutputError` (exit 4) if it is an existing file, or if its nearest existing
    ancestor is not a writable folder.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: is an existing file, not a folder")
    anc = out if out.exists() else out.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir() or not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: {anc} is not a writable folder")
    return out


@contextlib.contextmanager
def staged_output(out_dir: str | Path):
    """Yield a temporary folder to write a result set into; swap it in for ``out_dir`` on success.

    On an exception (including ``KeyboardInterrupt`` and ``SystemExit`` from a signal) the
    temporary folder is removed and ``out_dir`` keeps its previous contents. OS errors (read-only
    folder, full disk) become :class:`OutputError`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with staged_output(root / "res") as tmp:
    ...     _ = (tmp / "a.csv").write_text("x\\n1\\n")
    >>> sorted(p.name for p in (root / "res").iterdir())
    ['a.csv']
    """
    out = check_output_dir(out_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        lock = open(out.parent / f".{out.name}.lock", "a+")
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    tmp = None
    try:
        _lock(lock)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        _swap(tmp, out)
        tmp = None
    except OSError as exc:
        code = errno.errorcode.get(exc.errno, "")
        raise OutputError(f"--out {out}: cannot write the result set ({exc.strerror or exc}{', ' + code if code else ''}); "
                          "the previous results are unchanged") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        _unlock(lock)
        lock.close()


def _lock(fh) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, the swap still keeps sets whole
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)       # a concurrent run waits for this one's swap


def _unlock(fh) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _swap(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` (two renames); the old set is removed only after the new one is in."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old.rmdir()
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        if old is not None:
            os.rename(old, out)                      # put the previous set back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def install_signal_handlers() -> None:
    """SIGTERM (and SIGHUP) end the process through ``SystemExit`` so that staged output is
    cleaned up, as SIGINT does through ``KeyboardInterrupt``."""
    def _exit(signum, frame):
        raise SystemExit(128 + signum)

    for sig in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, sig):
            with contextlib.suppress(ValueError, OSError):   # not the main thread
                signal.signal(getattr(signal, sig), _exit)
