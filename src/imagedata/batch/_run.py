"""Where the tasks of a batch run: this process, local worker processes, or Dask.

* :func:`run_serial`: one task after the other in this process (``workers=1``); the
  per-stage progress bars of the series being read can be shown.
* :func:`run_pool`: N local worker processes (:class:`concurrent.futures.
  ProcessPoolExecutor`, forkserver start), one task at a time each, so the memory of
  a worker is bounded by the largest series, not the archive.
* :func:`run_dask`: the same tasks on a ``dask.distributed`` cluster, an existing one
  (``tcp://host:port``) or a :class:`distributed.LocalCluster` (``"local"``).  The
  workers must be able to import imagedata and read the source paths (a shared file
  system); they write the outputs under the same OUT path.

Each calls `done(result)` in this process as results arrive, in completion order.
On Ctrl-C the pending tasks are cancelled and the interrupt is raised again after
the running ones stopped (their writers remove their temporary files).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager
from typing import Any

from imagedata._optional import import_optional
from imagedata.batch._task import ProgressCallback, Result, Task, run_task

logger = logging.getLogger(__name__)

#: How long to try to reach a Dask scheduler.
CONNECT_TIMEOUT = "10s"

#: ``stage_bars(label)``: a context manager yielding a progress callback (or None).
StageBars = Callable[[str], AbstractContextManager[ProgressCallback | None]]


@contextlib.contextmanager
def _no_bars(label: str) -> Iterator[None]:
    yield None


def run_serial(
    tasks: Sequence[Task], done: Callable[[Result], None], stage_bars: StageBars | None = None
) -> None:
    """Run the tasks one after the other in this process."""
    bars = stage_bars or _no_bars
    for task in tasks:
        with bars(task.label) as progress:
            result = run_task(task, progress if progress is not None else False)
        done(result)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def run_pool(tasks: Sequence[Task], workers: int, done: Callable[[Result], None]) -> None:
    """Run the tasks on `workers` local processes."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context())
    futures: dict[Future[Result], Task] = {}
    try:
        futures = {pool.submit(run_task, t): t for t in tasks}
        for fut in as_completed(futures):
            done(_outcome(fut, futures[fut]))
    except BaseException:
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _outcome(fut: Any, task: Task) -> Result:
    """The task's result, or a failed Result when the worker itself died."""
    try:
        result: Result = fut.result()
    except Exception as err:  # a worker killed (out of memory ...) or a lost connection
        return Result(task.key, "failed", error=f"the worker running it failed ({err!r})")
    return result


def _client(scheduler: str, workers: int) -> tuple[Any, Any]:
    """A dask.distributed Client for `scheduler` (and the LocalCluster it started)."""
    distributed = import_optional("distributed", "dask", "run on a Dask cluster")
    if scheduler == "local":
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        return distributed.Client(cluster), cluster
    try:
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT), None
    except OSError as err:
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {scheduler} ({err}); check the address "
            "and that 'dask scheduler' runs there"
        ) from err


def run_dask(
    tasks: Sequence[Task], scheduler: str, workers: int, done: Callable[[Result], None]
) -> None:
    """Run the tasks on a Dask cluster (`scheduler` an address, or 'local')."""
    distributed = import_optional("distributed", "dask", "run on a Dask cluster")
    client, cluster = _client(scheduler, workers)
    try:
        keys = [f"imagedata-{i}-{t.key}" for i, t in enumerate(tasks)]
        futures = client.map(run_task, tasks, key=keys, pure=False)
        by_future = dict(zip(futures, tasks))
        try:
            for fut in distributed.as_completed(futures):
                done(_outcome(fut, by_future[fut]))
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
