"""What every ``imagedata`` subcommand shares: options, error handling, output.

Every subcommand builds its parser with :func:`parser_for` and runs its body through
:func:`run`, which gives the same behaviour everywhere:

* an error prints one line on stderr, ``imagedata <cmd>: <message>``, and exits 1;
* a usage error (bad or missing arguments) prints one line too and exits 2;
* ``--debug`` prints the traceback as well and logs at debug level;
* ``--quiet`` silences progress bars and informational output;
* progress bars (tqdm) appear only when stderr is a terminal.

Reading the inputs and naming the outputs are in :mod:`._inputs`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

import numpy as np

from imagedata._progress import StageBars, is_terminal
from imagedata.errors import ImageDataError

if TYPE_CHECKING:
    from imagedata.series import Series

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Output formats the command line knows by name (``--to``).
FORMATS = ("dicom", "nifti", "itk", "nrrd", "mat")

#: Data types ``--dtype`` accepts.
DTYPES = ("uint8", "int16", "uint16", "int32", "float32", "float64")

#: Exit codes.
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line arguments: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parser_for(
    command: str, description: str, epilog: str | None = None
) -> argparse.ArgumentParser:
    """Return a parser for ``imagedata <command>`` with the common options.

    Parameters
    ----------
    command
        The subcommand name, used in ``prog`` and error messages.
    description
        One paragraph for ``--help``.
    epilog
        Examples shown at the end of ``--help``.
    """
    parser = _Parser(
        prog=f"imagedata {command}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_argument_group("common options")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")
    group.add_argument("-v", "--verbose", action="store_true", help="log what is done")
    group.add_argument("--debug", action="store_true", help="log everything; traceback on error")
    return parser


def add_read_options(parser: argparse.ArgumentParser, series: bool = True) -> None:
    """Add ``--order`` (and ``--series``) to a parser."""
    parser.add_argument(
        "--order",
        default="auto",
        metavar="ORDER",
        help="how to sort images into tag axes: auto (default), none, time, b, te, fa, ti, "
        "triggertime, or a DICOM keyword",
    )
    if series:
        parser.add_argument(
            "--series",
            metavar="SELECT",
            help="pick one series by SeriesNumber, SeriesInstanceUID or SeriesDescription",
        )


# --- running a subcommand ----------------------------------------------------------------


def error_message(err: BaseException) -> str:
    """One line describing `err`, naming the file where the exception knows it.

    Examples
    --------
    >>> error_message(FileNotFoundError(2, "No such file or directory", "x.dcm"))
    'x.dcm: No such file or directory'
    """
    if isinstance(err, OSError) and not isinstance(err, ImageDataError) and err.filename:
        text = f"{err.filename}: {err.strerror or err}"
    elif isinstance(err, (ImageDataError, UsageError, ValueError, OSError, IndexError)):
        text = str(err) or type(err).__name__
    else:
        text = f"internal error ({type(err).__name__}: {err}); run with --debug for the traceback"
    return " ".join(text.split())


@contextlib.contextmanager
def _logging_to_stderr(level: int) -> Iterator[None]:
    """Send imagedata's log records to stderr while a command runs."""
    package = logging.getLogger("imagedata")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    old = package.level
    package.addHandler(handler)
    package.setLevel(level)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(old)


#: Most warnings shown without ``--verbose`` (a messy export can warn once per file).
MAX_WARNINGS = 10


@contextlib.contextmanager
def _one_line_warnings(prog: str, *, quiet: bool, limit: int | None) -> Iterator[None]:
    """Show Python warnings as ``prog: warning: text`` lines on stderr (none with `quiet`).

    After `limit` warnings the rest are counted, and the count is reported at the end.
    """
    hidden = 0
    shown = 0

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        nonlocal hidden, shown
        if limit is not None and shown >= limit:
            hidden += 1
            return
        shown += 1
        text = " ".join(str(message).split())
        print(f"{prog}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if quiet else "default")
        warnings.showwarning = show  # restored by catch_warnings
        try:
            yield
        finally:
            if hidden:
                print(
                    f"{prog}: warning: {hidden} more warnings not shown (see them with -v)",
                    file=sys.stderr,
                )


def run(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace], int | None],
) -> int:
    """Parse `argv` and run `body(args)`, turning every error into one line and an exit code.

    Returns
    -------
    int
        0 on success, 1 on an error, 2 on a usage error.
    """
    prog = parser.prog
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        args = parser.parse_args(args_list)
    except UsageError as err:
        print(f"{prog}: {error_message(err)} (see '{prog} --help')", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    level = logging.DEBUG if debug else logging.INFO if args.verbose else logging.WARNING
    limit = None if args.verbose or debug else MAX_WARNINGS
    with _logging_to_stderr(level), _one_line_warnings(prog, quiet=args.quiet, limit=limit):
        try:
            return int(body(args) or 0)
        except UsageError as err:
            print(f"{prog}: {error_message(err)} (see '{prog} --help')", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # e.g. `imagedata info scan/ | head`: stop quietly
            _silence_stdout()
            return EXIT_ERROR
        except Exception as err:
            if debug:
                traceback.print_exc(file=sys.stderr)
            print(f"{prog}: {error_message(err)}", file=sys.stderr)
            return EXIT_ERROR


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that flushing at exit raises no second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture stdout)
        pass


# --- output helpers ----------------------------------------------------------------------


def progress(
    items: Iterable[T], *, desc: str, total: int | None = None, quiet: bool = False
) -> Iterable[T]:
    """Wrap `items` in a tqdm progress bar on a terminal; plain `items` otherwise."""
    if quiet or not is_terminal():
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, total=total, leave=False, file=sys.stderr)


IODS = ("auto", "image", "parametric-map", "seg")


def add_iod_options(parser: argparse.ArgumentParser) -> None:
    """``--iod``, ``--units`` and ``--segment`` (DICOM output)."""
    parser.add_argument(
        "--iod",
        choices=IODS,
        help="DICOM object to write: auto (default: a Parametric Map for float values that "
        "16-bit images cannot hold exactly, else images), image, parametric-map, or seg "
        "(a Segmentation of a mask or label image)",
    )
    parser.add_argument(
        "--units", metavar="UCUM", help="units of a Parametric Map's values, e.g. ms, mm2/s"
    )
    parser.add_argument(
        "--segment",
        action="append",
        default=[],
        metavar="N=NAME",
        help="name of label N in a SEG (repeat for each label), e.g. --segment 1=tumour",
    )


def iod_options(args: argparse.Namespace, fmt: str) -> dict[str, Any]:
    """The writer options of ``--iod``, ``--units`` and ``--segment``."""
    given = [f"--{n}" for n in ("iod", "units") if getattr(args, n, None)]
    given += ["--segment"] if getattr(args, "segment", None) else []
    if not given:
        return {}
    if fmt != "dicom":
        raise UsageError(f"{', '.join(given)} only apply to DICOM output, not {fmt}")
    options: dict[str, Any] = {}
    if args.iod:
        options["iod"] = args.iod
    if args.units:
        options["units"] = args.units
    segments: dict[int, str] = {}
    for item in args.segment:
        number, sep, name = item.partition("=")
        if not sep or not number.strip().isdigit() or not name.strip():
            raise UsageError(f"--segment {item!r}: give N=NAME, e.g. --segment 1=tumour")
        segments[int(number)] = name.strip()
    if segments:
        options["segments"] = segments
    return options


def write_series(
    si: Series, target: Any, fmt: str, progress: ProgressCallback | None = None, **options: Any
) -> list[str]:
    """Write `si`; a refused overwrite names the command-line option, not the keyword.

    `progress` (from :func:`activity`) is passed on; None writes quietly.
    """
    from imagedata.errors import WriteError

    try:
        return si.write(target, formats=[fmt], progress=_progress_value(progress), **options)
    except WriteError as err:
        text = str(err).replace("pass overwrite=True", "use --overwrite")
        raise WriteError(text.replace("overwrite=True", "--overwrite")) from err


class _Activity(StageBars):
    """What :func:`activity` shows: an elapsed-time line, then one tqdm bar per stage.

    Calling it is a progress callback ``f(done, total, stage)``, as the readers,
    writers and network transports call theirs.
    """

    labels: ClassVar[Mapping[str, str]] = {"write": "images", "": "transfer"}

    def __init__(self, desc: str) -> None:
        super().__init__(desc)
        self.bar = self._tqdm(
            total=None, desc=desc, bar_format="{desc}: {elapsed}", leave=False, file=sys.stderr
        )
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._done.wait(0.2):
            with self._lock:
                self.bar.refresh()

    def close(self) -> None:
        """Stop the clock and remove the bar."""
        if not self._done.is_set():
            self._done.set()
            self._thread.join()
        super().close()


#: A progress callback as the readers and writers take it: ``f(done, total, stage)``.
ProgressCallback = Callable[..., None]


@contextlib.contextmanager
def activity(desc: str, *, quiet: bool = False) -> Iterator[ProgressCallback | None]:
    """Show progress on a terminal while a long read or write runs; yield the callback.

    Pass the yielded callback as ``progress=`` to the reader or writer (see
    :func:`read_one`, :func:`write_series`): readers and writers that report progress
    (DICOM: files read in stage "headers", images decoded in "pixels", images written
    in "write"; the network transports) turn the line into a tqdm bar labelled with
    the stage, e.g. ``reading scan/ (headers)``.  Until the first report, and for
    formats that report nothing (single NIfTI, MetaImage ... files), it is a live
    elapsed-time line, ``desc: 00:03``.  Nothing at all (and None yielded) when not on
    a terminal or with `quiet`; everything is removed when the work is done.
    """
    if quiet or not is_terminal():
        yield None
        return
    try:
        shown = _Activity(desc)
    except ImportError:  # no tqdm
        yield None
        return
    try:
        yield shown
    finally:
        shown.close()


def cast(data: Any, dtype: Any) -> Any:
    """Cast to `dtype`; integer types are rounded and clipped, with a warning when clipped.

    Examples
    --------
    >>> cast(np.array([1.4, 2.6]), np.dtype("uint8")).tolist()
    [1, 3]
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        return data.astype(dtype)
    info = np.iinfo(dtype)
    values = np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0)
    if values.size and (values.min() < info.min or values.max() > info.max):
        warnings.warn(
            f"the data range {values.min():g} .. {values.max():g}, outside {dtype.name} "
            f"({info.min} .. {info.max}); values were clipped (choose another --dtype)",
            stacklevel=2,
        )
    out = np.clip(np.round(values), info.min, info.max).astype(dtype)
    return _like(data, out)


def _like(data: Any, out: Any) -> Any:
    """`out` with the header of `data` when `data` is a Series."""
    from imagedata.series import Series, as_series

    return as_series(out, data) if isinstance(data, Series) and data._header is not None else out


def say(args: argparse.Namespace, text: str) -> None:
    """Print an informational line on stdout unless ``--quiet``."""
    if not getattr(args, "quiet", False):
        print(text)


def _progress_value(progress: ProgressCallback | None) -> ProgressCallback | bool:
    """The ``progress=`` value for a reader or writer: the callback, or False (quiet)."""
    return False if progress is None else progress
