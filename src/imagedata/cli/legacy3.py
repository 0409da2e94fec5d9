"""The imagedata 3.x commands ``image_calculator``, ``image_statistics`` and ``timeline``.

Each takes the 3.x arguments and the 3.x options of
:func:`imagedata.cmdline.add_argparse_options` (``--order``, ``--of``, ``--dtype``,
``--serdes``, ``--input_options`` ...).  They run on the library and the ``imagedata``
subcommands' machinery: one-line errors on stderr, exit code 1 (2 for usage errors).

Differences from 3.x (see docs/migrating.md): ``image_calculator`` parses the
expression with :mod:`imagedata.cli._expr` (never ``eval``), so only arithmetic,
comparisons and the listed numpy functions are allowed; an existing output is refused
as in 3.x.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagedata.cli import _common
from imagedata.cli._common import UsageError

if TYPE_CHECKING:
    from imagedata.series import Series

#: Names bound to the inputs of ``image_calculator``, in order (as 3.x).
NAMES = "abcdefghijklmnopqrstuvwxyz"


def _parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    from imagedata.cmdline import add_argparse_options

    parser = _common._Parser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_argparse_options(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no messages")
    return parser


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None, body: Any) -> int:
    """Run through :func:`imagedata.cli._common.run` (3.x uses -d for --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    args = ["--debug" if a == "-d" else a for a in args]
    return _common.run(_Compat(parser), args, body)


class _Compat(argparse.ArgumentParser):
    """Wraps a 3.x parser: gives the ``verbose``/``quiet`` attributes ``run`` reads."""

    def __init__(self, inner: argparse.ArgumentParser) -> None:
        self.inner = inner
        self.prog = inner.prog

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        ns = self.inner.parse_args(args, namespace)
        ns.verbose = ns.loglevel is not None and ns.loglevel <= 20
        return ns


def _read(path: str, args: argparse.Namespace) -> Series:
    from imagedata.series import Series

    return Series(path, args.input_order, opts=args)


# --- image_calculator -----------------------------------------------------------------------


def calculator_parser() -> argparse.ArgumentParser:
    """The ``image_calculator OUTDIR EXPRESSION [INPUT ...]`` parser."""
    parser = _parser(
        "image_calculator",
        "Image calculator: compute EXPRESSION over the inputs, bound to a, b, c, ...",
        "expression examples:\n  1   : new image, same shape, all ones\n"
        "  a*2 : multiply the first input by 2\n  a+b : add the first and second inputs",
    )
    parser.add_argument("outdir", help="output directory")
    parser.add_argument("expression", help="expression")
    parser.add_argument("indirs", nargs="*", help="inputs, bound to a, b, c, ...")
    return parser


def calculator(args: argparse.Namespace) -> int:
    """Run ``image_calculator``."""
    from imagedata.cli import _expr
    from imagedata.cli.calc import compute
    from imagedata.cmdline import dtype_of
    from imagedata.series import Series

    if Path(args.outdir).exists():
        raise UsageError(f"output {args.outdir} already exists; aborted (choose another)")
    if len(args.indirs) > len(NAMES):
        raise UsageError(f"at most {len(NAMES)} inputs")
    names = {NAMES[i]: p for i, p in enumerate(args.indirs)}
    try:
        _expr.parse(args.expression, names)
    except _expr.ExpressionError as err:
        raise UsageError(str(err)) from err
    inputs = {k: _read(p, args) for k, p in names.items()}
    for k, si in inputs.items():
        _common.say(args, f"{k} = {names[k]} {si.shape} {si.dtype}")
    if inputs:
        result = compute(args.expression, inputs, dtype_of(args))
    else:
        value = _expr.evaluate(_expr.parse(args.expression, {}), {})
        template = None if args.template is None else Series(args.template, headers_only=True)
        geometry = None if args.geometry is None else Series(args.geometry, headers_only=True)
        shape = geometry.shape if geometry is not None else np.shape(value)
        data = np.broadcast_to(np.asarray(value, dtype=dtype_of(args) or np.float32), shape)
        result = Series(data.copy(), template=template, geometry=geometry)
    _common.say(args, f"{args.outdir} = {args.expression} {result.shape} {result.dtype}")
    result.write(args.outdir, opts=args)
    return 0


# --- image_statistics -----------------------------------------------------------------------


def statistics_parser() -> argparse.ArgumentParser:
    """The ``image_statistics [--mask M] [--bash] INPUT`` parser."""
    parser = _parser("image_statistics", "Voxel statistics of every series in the input.")
    parser.add_argument("--mask", default=None, help="image mask (voxels > 0 are used)")
    parser.add_argument("--bash", action="store_true", help="print bash variable assignments")
    parser.add_argument("in_dirs", help="input directories and files")
    return parser


def statistics(args: argparse.Namespace) -> int:
    """Run ``image_statistics``: the 3.x listing, patient by patient."""
    from imagedata.collections import Cohort
    from imagedata.series import Series

    cohort = Cohort(args.in_dirs, input_order=args.input_order)
    mask = None if args.mask is None else np.asarray(Series(args.mask)) > 0
    print(f"Cohort: {args.in_dirs}")
    for patient in cohort.values():
        print("  " + str(patient).splitlines()[0])
        for study in patient.values():
            print("    " + str(study).splitlines()[0])
            for si in sorted(study.values(), key=lambda s: s.seriesNumber or 0):
                _print_statistics(si, mask, args)
    return 0


def _print_statistics(si: Series, mask: np.ndarray | None, args: argparse.Namespace) -> None:
    from imagedata.cli.stats import fit_mask
    from imagedata.cli.stats import statistics as stats_of

    sel = np.asarray(si) if mask is None else np.asarray(si)[fit_mask(mask, si, args.mask)]
    s = stats_of(sel)
    print(
        f"      Series [{si.seriesNumber}] {si.modality}: {si.seriesDescription or ''}, "
        f"shape: {'x'.join(map(str, si.shape))}, dtype: {si.dtype}, "
        f"input order: {si.input_order}"
    )
    if args.bash:
        print("\n".join(f"{k}={s[k]}" for k in ("min", "max", "mean", "std", "median")))
        print("export min max mean std median")
    else:
        print(
            f"        Min: {s['min']}, max: {s['max']}, mean: {s['mean']} +/- {s['std']}, "
            f"median: {s['median']}"
        )


# --- timeline -------------------------------------------------------------------------------


def timeline_parser() -> argparse.ArgumentParser:
    """The ``timeline [-1] INPUT ...`` parser."""
    parser = _parser("timeline", "Print the timeline (seconds from the first time point).")
    parser.add_argument("-1", "--one", action="store_true", help="single column")
    parser.add_argument("in_dirs", nargs="+", help="input directories and files")
    return parser


def timeline(args: argparse.Namespace) -> int:
    """Run ``timeline``."""
    from imagedata.series import Series

    si = Series(args.in_dirs, args.input_order, opts=args)
    if args.one:
        print("t [s]")
        for t in si.timeline:
            print(t)
    else:
        print(f"Timeline:\n{si.timeline}")
    return 0


def calculator_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``image_calculator``."""
    return _run(calculator_parser(), argv, calculator)


def statistics_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``image_statistics``."""
    return _run(statistics_parser(), argv, statistics)


def timeline_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``timeline``."""
    return _run(timeline_parser(), argv, timeline)
