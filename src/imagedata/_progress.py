"""Progress reporting of the readers, writers and network transports.

A ``progress=`` option takes the same values as the network transports
(:class:`imagedata.transports._base.Progress`), with one difference: file reads and
writes are quiet by default.

* ``False`` (default): quiet;
* ``True``: a tqdm bar on stderr (nothing if tqdm is not installed);
* ``None``: a tqdm bar only when stderr is a terminal;
* a callable ``f(done, total, stage)``: called with the number of files (header pass)
  or images (decoding, writing) done so far, the number expected (``None`` when not
  known) and the stage: ``"headers"`` (the header pass), ``"pixels"`` (decoding) or
  ``"write"`` (writing files).

The callable is called at most every 1 % or every 50 items, whichever comes first,
always with ``done == total`` at the end of a stage.  It may be called from a worker
thread while pixel data are decoded, but never from two threads at once.

Examples
--------
>>> calls = []
>>> report = Reporter(lambda *a: calls.append(a), 250, "pixels")
>>> for _ in range(250):
...     report.advance()
>>> len(calls), calls[0], calls[-1]
(84, (3, 250, 'pixels'), (250, 250, 'pixels'))
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

logger = logging.getLogger(__name__)

#: ``f(done, total, stage)``.
ProgressCallback = Callable[[int, int | None, str], None]

#: What a ``progress=`` option accepts.
ProgressOption = bool | None | ProgressCallback

#: Most items between two calls of the callback.
MAX_STEP = 50

STAGES = ("headers", "pixels", "write")


class Reporter:
    """Count the items of one stage and call the callback now and then (thread-safe).

    Parameters
    ----------
    callback
        ``f(done, total, stage)``.
    total
        Number of items expected, or None.
    stage
        Name of the stage.
    """

    def __init__(self, callback: ProgressCallback, total: int | None, stage: str) -> None:
        self.callback = callback
        self.total = total
        self.stage = stage
        self.done = 0
        self.step = MAX_STEP if not total else max(1, min(MAX_STEP, -(-total // 100)))
        self.reported = 0
        self._lock = threading.Lock()

    def advance(self, n: int = 1) -> None:
        """Count `n` more items; call the callback when a step is passed or all are done."""
        with self._lock:
            self.done += n
            if self.done - self.reported >= self.step or self.done == self.total:
                self.reported = self.done
                self.callback(self.done, self.total, self.stage)

    def finish(self) -> None:
        """Call the callback for the last items if the last call did not report them."""
        with self._lock:
            if self.done != self.reported or self.done == 0:
                self.reported = self.done
                self.callback(self.done, self.total, self.stage)


def reporter(callback: ProgressCallback | None, total: int | None, stage: str) -> Reporter | None:
    """A :class:`Reporter` for `callback`, or None when there is no callback."""
    return None if callback is None else Reporter(callback, total, stage)


class StageBars:
    """A callback drawing one tqdm bar per stage on stderr (the stage is its label).

    Parameters
    ----------
    desc
        Text before the stage in the bar's label (e.g. the file name).
    """

    #: How a stage is named in a bar's label (others by their own name).
    labels: ClassVar[Mapping[str, str]] = {}

    def __init__(self, desc: str = "") -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.desc = desc
        self.stage: str | None = None
        self.bar: Any = None
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int | None = None, stage: str = "") -> None:
        """Show `done` of `total` in the bar of `stage` (a new bar when the stage changes)."""
        with self._lock:
            if self.bar is None or stage != self.stage:
                self._close_bar()
                stage_label = self.labels.get(stage, stage)
                label = (
                    f"{self.desc} ({stage_label})"
                    if self.desc and stage_label
                    else self.desc or stage_label
                )
                unit = "file" if stage == "headers" else "img"
                self.bar = self._tqdm(
                    total=total, desc=label, unit=unit, leave=False, file=sys.stderr
                )
                self.stage = stage
            if total is not None and self.bar.total != total:
                self.bar.total = total
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        """Remove the current bar."""
        self._close_bar()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def is_terminal(stream: Any = None) -> bool:
    """True when `stream` (default stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def resolved(progress: Any, desc: str = "") -> Iterator[ProgressCallback | None]:
    """The callback for a ``progress=`` value (see the module docstring); bars close at exit.

    Raises
    ------
    TypeError
        If `progress` is neither a bool, None nor a callable.
    """
    if callable(progress):
        yield progress
        return
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(
            f"progress={progress!r}: pass True (a bar), False (quiet), None (a bar on a "
            "terminal) or a callable f(done, total, stage)"
        )
    if progress is False or (progress is None and not is_terminal()):
        yield None
        return
    try:
        bars = StageBars(desc)
    except ImportError:
        logger.debug("tqdm not installed; no progress bar")
        yield None
        return
    try:
        yield bars
    finally:
        bars.close()
