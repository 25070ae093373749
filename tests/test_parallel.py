"""slopt.parallel: the same seeds give the same results, in task order, on every backend."""

from __future__ import annotations

import logging
import sys
import time

import numpy as np
import pytest

from slopt.errors import InstanceError
from slopt.parallel import ParallelOptions, parse_backend, run_many

SEEDS = [11, 3, 7, 0, 42, 5]


# Module-level (picklable) task functions: everything random comes from the task's own seed.
def sweep_task(seed: int):
    """A miniature heuristic run: random population, a few numpy 'generations', best point."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5.0, 5.0, size=(40, 8))
    for _ in range(20):
        f = np.sum((x - 1.5) ** 2, axis=1)
        best = x[np.argmin(f)]
        x = best + 0.5 * rng.standard_normal(x.shape) * (x - best + 1e-3)
    f = np.sum((x - 1.5) ** 2, axis=1)
    return seed, float(f.min()), x[np.argmin(f)]


def failing_task(seed: int):
    if seed == 7:
        raise ValueError(f"bad seed {seed}")
    return sweep_task(seed)


def fast_fail_or_sleep(i: int):
    if i == 0:
        raise RuntimeError("task 0 failed")
    time.sleep(60)
    return i


def blas_threads(_):
    from threadpoolctl import threadpool_info

    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_process_workers_use_one_blas_thread():
    """Two workers x two BLAS threads oversubscribe two cores; each worker is limited to one."""
    per_worker = run_many(blas_threads, range(2), backend="processes", workers=2, progress=False)
    assert all(per_worker), per_worker  # numpy's BLAS is loaded in the worker
    assert all(n == 1 for threads in per_worker for n in threads), per_worker


def assert_same(results, expected):
    assert len(results) == len(expected)
    for (s1, f1, x1), (s2, f2, x2) in zip(results, expected):
        assert s1 == s2
        assert f1 == f2
        np.testing.assert_array_equal(x1, x2)


@pytest.fixture(scope="module")
def serial_results():
    return run_many(sweep_task, SEEDS, backend="serial", progress=False)


def test_serial_is_the_plain_map(serial_results):
    assert [r[0] for r in serial_results] == SEEDS
    assert_same(serial_results, [sweep_task(s) for s in SEEDS])
    # different seeds really differ (the task is stochastic)
    assert len({r[1] for r in serial_results}) == len(SEEDS)


def test_processes_match_serial_in_task_order(serial_results):
    res = run_many(sweep_task, SEEDS, backend="processes", workers=2, progress=False)
    assert_same(res, serial_results)


def test_progress_bar_and_options_run(serial_results):
    res = ParallelOptions(backend="serial").run(sweep_task, SEEDS, progress=True, description="sweep")
    assert_same(res, serial_results)


def test_empty_tasks_start_nothing():
    assert run_many(sweep_task, [], backend="processes", progress=False) == []
    assert run_many(sweep_task, iter(()), backend="dask", progress=False) == []


@pytest.mark.parametrize("backend", ["serial", "processes"])
def test_exception_names_its_task(backend):
    with pytest.raises(ValueError, match="bad seed 7") as info:
        run_many(failing_task, SEEDS, backend=backend, workers=2, progress=False)
    assert info.value.slopt_task_index == SEEDS.index(7)
    if sys.version_info >= (3, 11):
        assert any("task 2 of 6" in note for note in info.value.__notes__)


def test_processes_failure_cancels_the_rest():
    import psutil
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    with pytest.raises(RuntimeError, match="task 0 failed") as info:
        run_many(fast_fail_or_sleep, range(6), backend="processes", workers=2, progress=False)
    assert info.value.slopt_task_index == 0
    # the 60 s sleepers were terminated, not awaited: no worker process outlives the call
    left = [c for c in psutil.Process().children(recursive=True) if c.pid not in before and c.is_running()
            and c.status() != psutil.STATUS_ZOMBIE]
    assert left == []


def test_processes_refuse_unpicklable_functions():
    with pytest.raises(InstanceError, match="module level"):
        run_many(lambda s: s, [1, 2], backend="processes", workers=2, progress=False)


def test_invalid_backend_is_an_instance_error():
    with pytest.raises(InstanceError, match="'threads'") as info:
        run_many(sweep_task, SEEDS, backend="threads", progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(InstanceError, match="workers = 0"):
        run_many(sweep_task, SEEDS, backend="serial", workers=0)
    with pytest.raises(InstanceError, match="scheduler"):
        ParallelOptions(backend="processes", scheduler="tcp://127.0.0.1:8786")


@pytest.mark.parametrize("text, expected", [
    ("serial", ParallelOptions("serial")),
    (" Processes ", ParallelOptions("processes")),
    ("dask", ParallelOptions("dask")),
    ("tcp://10.0.0.5:8786", ParallelOptions("dask", scheduler="tcp://10.0.0.5:8786")),
    ("tls://sched.example:8786", ParallelOptions("dask", scheduler="tls://sched.example:8786")),
    ("localhost:8786", ParallelOptions("dask", scheduler="localhost:8786")),
])
def test_parse_backend(text, expected):
    assert parse_backend(text) == expected


def test_parse_backend_rejects_unknown_values():
    for bad in ["threads", "", "proc"]:
        with pytest.raises(InstanceError, match="backend = "):
            parse_backend(bad)
    assert parse_backend("processes", workers=3).workers == 3


def test_missing_dask_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(InstanceError, match=r"slopt\[dask\]"):
        run_many(sweep_task, SEEDS, backend="dask", progress=False)


# ------------------------------------------------------------------------------------ dask


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def test_dask_local_cluster_matches_serial(serial_results):
    pytest.importorskip("distributed")
    res = run_many(sweep_task, SEEDS, backend="dask", workers=2, progress=False)
    assert_same(res, serial_results)


def test_dask_client_and_address(serial_results, dask_client):
    assert_same(run_many(sweep_task, SEEDS, backend="dask", scheduler=dask_client, progress=False),
                serial_results)
    address = dask_client.scheduler.address
    assert_same(run_many(sweep_task, SEEDS, backend=address, progress=False), serial_results)
    assert_same(parse_backend(address).run(sweep_task, SEEDS, progress=False), serial_results)
    assert dask_client.status == "running"  # a client passed in is left open


def test_dask_exception_names_its_task(dask_client):
    with pytest.raises(ValueError, match="bad seed 7") as info:
        run_many(failing_task, SEEDS, backend="dask", scheduler=dask_client, progress=False)
    assert info.value.slopt_task_index == 2
