"""Run independent tasks serially, in local processes, or on a Dask cluster.

One function, :func:`run_many`, maps ``fn`` over a list of tasks and returns the results in
task order, whichever backend ran them::

    from slopt.parallel import run_many

    def one_run(seed):                       # module level, so that processes can import it
        rng = np.random.default_rng(seed)
        ...
        return best_cost

    costs = run_many(one_run, range(30))                         # processes, one per CPU
    costs = run_many(one_run, range(30), backend="serial")       # in this process
    costs = run_many(one_run, range(30), backend="dask")         # a LocalCluster for this call
    costs = run_many(one_run, range(30), backend="dask", scheduler="tcp://host:8786")

Backends:

``serial``
    a plain loop in the calling process (debugging, profiling, tiny sweeps).
``processes`` (default)
    :class:`concurrent.futures.ProcessPoolExecutor` with the ``forkserver`` start method
    (``spawn`` where forkserver is unavailable), never ``fork``: forking a process that runs
    threads (HiGHS, BLAS, rich's refresh thread) can deadlock. ``workers`` defaults to
    :func:`os.cpu_count`. Each worker limits BLAS/OpenMP to one thread (``threadpoolctl``):
    the workers already fill the cores, and N workers x N BLAS threads spin against each
    other (on 2 cores, a 2-worker sweep spent three quarters of its CPU time in the kernel).
``dask``
    a :class:`distributed.Client`. With ``scheduler=None`` a ``LocalCluster(n_workers=workers,
    threads_per_worker=1, processes=True)`` is started for the call and closed afterwards;
    with an address string (``"tcp://host:8786"``) the call connects to that scheduler; with
    a ``Client`` the call uses it and leaves it open.

Reproducibility: **tasks carry their own seeds**. ``fn`` must draw all its
randomness from ``np.random.default_rng(seed)`` (or a ``Generator`` in the task), never from
the global ``np.random`` / ``random`` state, which differs from worker to worker. Then the same
task gives the same result whatever the backend, the number of workers or the completion
order.

Errors: the first task that raises stops the run. Tasks not yet started are cancelled, local
workers are terminated, and the task's own exception (same type) is re-raised with a note
``slopt.parallel: raised by task i of n (backend)`` (``add_note``; the index is also in the
exception's ``slopt_task_index`` attribute).

Progress is a rich progress bar on stderr that advances as tasks complete (``progress=False``
turns it off).

:class:`ParallelOptions` bundles ``backend``, ``workers`` and ``scheduler`` for callers that
pass them through (benchmarks, the CLI); :func:`parse_backend` turns a command-line value such
as ``--backend processes|serial|dask|tcp://host:8786`` into one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TypeVar

from slopt.errors import InstanceError

__all__ = ["BACKENDS", "ParallelOptions", "parse_backend", "run_many"]

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("serial", "processes", "dask")
"""The backend names :func:`run_many` accepts (a scheduler address selects ``dask``)."""

_ADDRESS_SCHEMES = ("tcp://", "tls://", "ws://", "wss://", "inproc://", "ucx://")
_BACKEND_HELP = "must be serial, processes, dask or a Dask scheduler address such as tcp://host:8786"


# --------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class ParallelOptions:
    """Where :func:`run_many` runs its tasks.

    ``backend``: ``"serial"``, ``"processes"`` or ``"dask"``.
    ``workers``: number of worker processes (``processes``, or the LocalCluster of ``dask``);
    ``None`` means :func:`os.cpu_count`. Ignored when connecting to an existing scheduler.
    ``scheduler``: ``dask`` only; ``None`` (start a LocalCluster), an address string, or a
    ``distributed.Client``.
    """

    backend: str = "processes"
    workers: int | None = None
    scheduler: Any = None

    def __post_init__(self) -> None:
        backend = str(self.backend).strip().lower()
        if backend not in BACKENDS:
            raise InstanceError.at(None, "backend", self.backend, _BACKEND_HELP)
        object.__setattr__(self, "backend", backend)
        if self.workers is not None:
            if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
                raise InstanceError.at(None, "workers", self.workers, "must be a positive integer or None")
        if self.scheduler is not None and backend != "dask":
            raise InstanceError.at(None, "scheduler", self.scheduler,
                                   f"only the dask backend uses a scheduler (backend is {backend!r})")

    def run(self, fn: Callable[[T], R], tasks: Iterable[T], *, progress: bool = True,
            description: str = "running") -> list[R]:
        """``run_many(fn, tasks)`` with these options."""
        return run_many(fn, tasks, backend=self.backend, workers=self.workers,
                        scheduler=self.scheduler, progress=progress, description=description)


def parse_backend(text: str, workers: int | None = None) -> ParallelOptions:
    """Read a ``--backend`` value: ``serial``, ``processes``, ``dask`` or a scheduler address.

    A value that starts with a URL scheme (``tcp://``, ``tls://``, ...) or contains ``':'`` is
    the address of a running Dask scheduler (``dask`` backend). Anything else raises
    :class:`~slopt.errors.InstanceError` naming the value.
    """
    raw = "" if text is None else str(text).strip()
    if raw.lower().startswith(_ADDRESS_SCHEMES) or ":" in raw:
        return ParallelOptions(backend="dask", workers=workers, scheduler=raw)
    if raw.lower() in BACKENDS:
        return ParallelOptions(backend=raw.lower(), workers=workers)
    raise InstanceError.at(None, "backend", text, _BACKEND_HELP)


# --------------------------------------------------------------------------------- run_many


def run_many(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    *,
    backend: str = "processes",
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    description: str = "running",
) -> list[R]:
    """Return ``[fn(task) for task in tasks]``, computed on ``backend``, in task order.

    ``fn`` takes one task (use :func:`functools.partial` for fixed arguments, or make each
    task a tuple or small dataclass). For ``processes`` it must be importable by the workers,
    i.e. defined at module level (in a script, under ``if __name__ == "__main__":``). Each
    task must carry its own seed; see the module docstring.

    ``backend`` is ``"serial"``, ``"processes"`` or ``"dask"``; a scheduler address string
    (``"tcp://host:8786"``) is accepted as ``backend`` too. ``workers`` defaults to
    :func:`os.cpu_count` (never more than the number of tasks). ``scheduler`` (dask only) is
    ``None`` for a LocalCluster started and closed by this call, an address, or a
    ``distributed.Client`` (left open).

    The first exception raised by a task is re-raised, with its type kept and a note naming
    the task index; the remaining tasks are cancelled.
    """
    if isinstance(backend, str) and scheduler is None and backend.strip().lower() not in BACKENDS:
        opts = parse_backend(backend, workers)
    else:
        opts = ParallelOptions(backend=backend, workers=workers, scheduler=scheduler)
    items = list(tasks)
    if not items:
        return []
    n_workers = min(opts.workers or os.cpu_count() or 1, len(items))
    runner = {"serial": _run_serial, "processes": _run_processes, "dask": _run_dask}[opts.backend]
    with _progress_bar(progress, description, len(items)) as advance:
        return runner(fn, items, n_workers, opts.scheduler, advance)


# --------------------------------------------------------------------------------- backends


def _run_serial(fn, items, n_workers, scheduler, advance) -> list:
    results = []
    for i, task in enumerate(items):
        try:
            results.append(fn(task))
        except Exception as exc:
            _tag(exc, i, len(items), "serial")
            raise
        advance()
    return results


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _one_blas_thread() -> None:
    """Worker initializer: one BLAS/OpenMP thread per worker process (the pool fills the cores)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _run_processes(fn, items, n_workers, scheduler, advance) -> list:
    try:
        pickle.dumps(fn)
    except Exception as exc:  # lambdas, closures, notebook functions under spawn
        name = getattr(fn, "__qualname__", repr(fn))
        raise InstanceError(
            f"fn = {name}: cannot be sent to worker processes ({type(exc).__name__}); define it at "
            f"module level, or use backend='serial' or 'dask'"
        ) from exc
    n = len(items)
    results: list = [None] * n
    ctx = multiprocessing.get_context(_start_method())
    pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=_one_blas_thread)
    clean = False
    try:
        index = {pool.submit(fn, task): i for i, task in enumerate(items)}
        for future in as_completed(index):
            i = index[future]
            exc = future.exception()
            if exc is not None:
                raise _tag(exc, i, n, "processes")
            results[i] = future.result()
            advance()
        clean = True
        return results
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:  # an error or Ctrl-C: drop queued tasks and stop the running ones now
            _abort(pool)


def _abort(pool: ProcessPoolExecutor) -> None:
    """Cancel queued tasks, terminate the workers and join the pool's manager thread."""
    stop = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if stop is not None:
        try:
            stop()
            return
        except Exception:
            pass
    # Before 3.14: shutdown() forgets the processes, so take them first.
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        try:
            if proc.is_alive():
                proc.terminate()
        except Exception:
            pass
    if manager is not None:
        manager.join(timeout=30)


def _run_dask(fn, items, n_workers, scheduler, advance) -> list:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_as_completed
    except ImportError as exc:
        raise InstanceError(
            "backend = 'dask': dask.distributed is not installed; install slopt[dask] "
            "(pip install 'slopt[dask]')"
        ) from exc

    cluster = None
    client = None
    own_client = False
    try:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler is None:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
            client = Client(cluster, set_as_default=False)
            own_client = True
        else:
            try:
                client = Client(str(scheduler), set_as_default=False, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise InstanceError.at(None, "scheduler", str(scheduler),
                                       f"cannot connect to the Dask scheduler ({exc})") from exc
            own_client = True
        return _dask_map(client, dask_as_completed, fn, items, advance)
    finally:
        if own_client and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _dask_map(client, dask_as_completed, fn, items, advance) -> list:
    n = len(items)
    futures = client.map(fn, items, pure=False)  # pure=False: equal tasks still run apart
    index = {f.key: i for i, f in enumerate(futures)}
    results: list = [None] * n
    done_ok = False
    try:
        for f in dask_as_completed(futures, loop=client.loop):
            i = index[f.key]
            try:
                results[i] = f.result()  # re-raises the task's own exception (same type)
            except Exception as exc:
                _tag(exc, i, n, "dask")
                raise
            advance()
        done_ok = True
        return results
    finally:
        if not done_ok:
            client.cancel(futures)
        for f in futures:
            f.release()


# --------------------------------------------------------------------------------- helpers


def _tag(exc: BaseException, i: int, n: int, backend: str) -> BaseException:
    """Add the task index to ``exc`` (a note on 3.11+, else the message) and return it."""
    note = f"slopt.parallel: raised by task {i} of {n} ({backend} backend)"
    try:
        exc.slopt_task_index = i  # type: ignore[attr-defined]
    except Exception:
        pass
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    elif exc.args and isinstance(exc.args[0], str):  # Python 3.10
        exc.args = (f"{exc.args[0]} [{note}]",) + exc.args[1:]
    return exc


@contextmanager
def _progress_bar(enabled: bool, description: str, total: int) -> Iterator[Callable[[], None]]:
    """Yield a callable that advances a rich progress bar on stderr by one task."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=False)
    with bar:
        task_id = bar.add_task(description, total=total)
        yield lambda: bar.advance(task_id)
