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

:class:`Workers` holds the pool or the Dask client for a whole batch: the header pass
of the catalogue runs on it first, then the tasks.

Each calls `done(result)` in this process as results arrive, in completion order.
On Ctrl-C the pending tasks are cancelled and the interrupt is raised again after
the running ones stopped (their writers remove their temporary files).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager
from dataclasses import replace
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


#: What a worker process imports to read headers and convert series (to NIfTI).
WORKER_MODULES = (
    "imagedata._catalog_scan",
    "imagedata.batch._task",
    "imagedata.formats.dicom.reader",
    "imagedata.series",
    "imagedata.loadsave",
    "imagedata.formats.nifti",
    "nibabel",  # imported by the NIfTI writer on first use; left out when not installed
)

#: Seconds between two checks of a worker that the process running the batch is alive.
WATCH_INTERVAL = 1.0


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def preload_workers() -> bool:
    """Have the forkserver import :data:`WORKER_MODULES` once, for all worker processes.

    Worker processes are forked from the forkserver of this process; each would
    otherwise import pydicom, numpy, nibabel and imagedata itself (about 0.7 s of CPU
    a worker, measured in bench/bench_batch.py).  This sets the forkserver's preload
    list (a setting of the whole process, effective when the forkserver starts, so
    the ``imagedata`` command calls it and a library call of ``convert_all`` does
    not); ``'__main__'``, the default, stays in the list.  Returns False where there
    is no forkserver.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    multiprocessing.get_context("forkserver").set_forkserver_preload(["__main__", *WORKER_MODULES])
    return True


def _watch(pid: int) -> None:  # pragma: no cover - runs in the worker processes
    """Worker initializer: end this worker when process `pid` (the batch) is gone.

    A worker waits for its next task on a pipe that it also holds open itself, so it
    would not notice a hard kill (kill -9) of the batch and would wait for ever.
    """
    import os
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            try:
                os.kill(pid, 0)  # signal 0: only asks whether the process exists
            except OSError:  # gone (or the number reused by another user's process)
                os._exit(1)

    threading.Thread(target=watch, name="imagedata-watch-batch", daemon=True).start()


class _DaskSubmitter:
    """``submit(fn, *args)`` on a Dask client (impure: every call runs).

    The calls go to the workers in turn (any other may take one over): quick calls
    would otherwise tend to queue on the first worker while the others idle.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.workers = sorted(client.scheduler_info().get("workers", {}))
        self.calls = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        options: dict[str, Any] = {"pure": False}
        if self.workers:
            options["workers"] = [self.workers[self.calls % len(self.workers)]]
            options["allow_other_workers"] = True
        self.calls += 1
        return self.client.submit(fn, *args, **options)


def _start_one(pool: ProcessPoolExecutor) -> None:
    """Start a worker process with a no-op task (a failure shows on the next submit)."""
    try:
        pool.submit(int)
    except Exception:  # a broken pool: the header pass's submit raises it again
        logger.debug("starting a worker process failed", exc_info=True)


class Workers:
    """Where a batch runs: this process, local worker processes, or a Dask cluster.

    The same workers read the headers (:attr:`executor`, for
    :meth:`imagedata.catalog.Catalog.index`) and then convert the series
    (:meth:`run`), so that worker processes start, and import what they need, once.
    Use as a context manager: leaving it stops the workers (cancelling what is left
    after an error or Ctrl-C).

    Parameters
    ----------
    workers
        Local worker processes (1: this process).
    scheduler
        A Dask scheduler address, or 'local' for a LocalCluster of `workers` processes.
    start
        Start the local worker processes now (they import what they need while this
        process walks the sources), not on the first task.
    """

    def __init__(self, workers: int, scheduler: str | None = None, start: bool = False) -> None:
        self.count = max(1, workers)
        self.scheduler = scheduler
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None
        self._cluster: Any = None
        self._used = False
        self._starter: threading.Thread | None = None
        if scheduler:
            self._client, self._cluster = _client(scheduler, self.count)
            self.count = max(1, len(self._client.scheduler_info().get("workers", {})))
        elif self.count > 1:
            self._pool = ProcessPoolExecutor(
                max_workers=self.count,
                mp_context=_context(),
                initializer=functools.partial(_watch, os.getpid()) if os.name == "posix" else None,
            )
            if start:  # a no-op task starts the first worker (and the forkserver), which
                # blocks until the forkserver imported its modules: in a thread, meanwhile
                # this process goes on
                self._starter = threading.Thread(
                    target=_start_one, args=(self._pool,), name="imagedata-start-workers"
                )
                self._starter.start()
                self._used = True

    def starting(self) -> bool:
        """True while the first local worker process is being started (see `start`)."""
        return self._starter is not None and self._starter.is_alive()

    @property
    def executor(self) -> Any:
        """Something with ``submit(fn, *args)`` for the header pass (None: this process)."""
        if self._client is not None:
            return _DaskSubmitter(self._client)
        if self._pool is not None:
            return self
        return None

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Submit to the local pool (its workers start: :meth:`run` uses them then)."""
        assert self._pool is not None
        self._used = True
        return self._pool.submit(fn, *args)

    def run(
        self,
        tasks: Sequence[Task],
        done: Callable[[Result], None],
        stage_bars: StageBars | None = None,
    ) -> None:
        """Run the tasks; call `done(result)` here as results arrive.

        One task runs in this process unless the local workers were started already.
        A worker process reads the pixel data of its series with one thread: the
        batch keeps every core busy with a series each (a thread pool per series cost
        a third of a small series' time).
        """
        if self._client is not None:
            run_dask([replace(t, threads=1) for t in tasks], self._client, done)
        elif self._pool is not None and (self._used or len(tasks) > 1):
            run_pool([replace(t, threads=1) for t in tasks], self._pool, done)
        else:
            run_serial(tasks, done, stage_bars)

    def close(self, cancel: bool = False) -> None:
        """Stop the workers (`cancel`: drop the tasks not started)."""
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close(cancel=kind is not None)


def run_pool(
    tasks: Sequence[Task], pool: ProcessPoolExecutor, done: Callable[[Result], None]
) -> None:
    """Run the tasks on a pool of local processes."""
    futures: dict[Future[Result], Task] = {}
    try:
        futures = {pool.submit(run_task, t): t for t in tasks}
        for fut in as_completed(futures):
            done(_outcome(fut, futures[fut]))
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise


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


def run_dask(tasks: Sequence[Task], client: Any, done: Callable[[Result], None]) -> None:
    """Run the tasks on the Dask cluster of `client`."""
    distributed = import_optional("distributed", "dask", "run on a Dask cluster")
    keys = [f"imagedata-{i}-{t.key}" for i, t in enumerate(tasks)]
    futures = client.map(run_task, tasks, key=keys, pure=False)
    by_future = dict(zip(futures, tasks))
    try:
        for fut in distributed.as_completed(futures):
            done(_outcome(fut, by_future[fut]))
    except BaseException:
        client.cancel(futures)
        raise
