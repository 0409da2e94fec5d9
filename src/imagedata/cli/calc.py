"""``imagedata calc 'EXPR' OUTPUT a=INPUT b=INPUT ...``: voxel-wise arithmetic over series.

The expression is parsed by :mod:`imagedata.cli._expr` (numbers, input names,
``+ - * / ** %``, comparisons, a whitelist of numpy functions); it is never given to
``eval``.  The result keeps the geometry and DICOM header of the first input (of the
input with the result's shape, when shapes differ) and gets a new series UID on write.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imagedata.cli import _common, _expr, _inputs
from imagedata.cli._common import FORMATS, UsageError
from imagedata.errors import GeometryError

if TYPE_CHECKING:
    from imagedata.series import Series

EPILOG = f"""examples:
  imagedata calc 'a * 2' doubled/ a=dicom_folder/
  imagedata calc '(a - b) / (a + b)' ratio.nii.gz a=post/ b=pre/ --dtype float32
  imagedata calc 'where(a > 100, 1, 0)' mask.nii.gz a=t1.nii.gz --dtype uint8
  imagedata calc 'mean(a) + 0 * a' flat/ a=dicom_folder/

functions: {", ".join(sorted(_expr.FUNCTIONS))}
constants: {", ".join(_expr.CONSTANTS)}
"""

DTYPES = _common.DTYPES


def build_parser() -> argparse.ArgumentParser:
    """The ``calc`` parser."""
    parser = _common.parser_for(
        "calc",
        "Compute a voxel-wise expression over input series and write the result. "
        "The result keeps the geometry and header of the first input.",
        EPILOG,
    )
    parser.add_argument("expression", metavar="EXPR", help="the expression, e.g. '(a - b) / b'")
    parser.add_argument("output", metavar="OUTPUT", help="output file or folder")
    parser.add_argument(
        "bindings", nargs="+", metavar="NAME=INPUT", help="input series bound to names used in EXPR"
    )
    parser.add_argument(
        "--to",
        metavar="FORMAT",
        help=f"output format: {', '.join(FORMATS)} (default: from OUTPUT's extension, else dicom)",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help="data type of the result (default: float32; uint8 for comparisons)",
    )
    _common.add_read_options(parser, series=False)
    parser.add_argument("--sernum", type=int, metavar="N", help="SeriesNumber of the result")
    parser.add_argument("--serdes", metavar="TEXT", help="SeriesDescription of the result")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    _common.add_iod_options(parser)
    return parser


def parse_bindings(bindings: Sequence[str]) -> dict[str, str]:
    """``['a=x/', 'b=y.nii']`` -> ``{'a': 'x/', 'b': 'y.nii'}``, checking every name.

    Examples
    --------
    >>> parse_bindings(["a=in/", "t1=t1.nii.gz"])
    {'a': 'in/', 't1': 't1.nii.gz'}
    """
    out: dict[str, str] = {}
    for item in bindings:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not path:
            raise UsageError(f"{item!r} is not NAME=INPUT (e.g. a=dicom_folder/)")
        if not name.isidentifier() or name.startswith("_"):
            raise UsageError(f"{name!r} is not a valid input name (use letters, digits, _)")
        if name in _expr.FUNCTIONS or name in _expr.CONSTANTS:
            raise UsageError(f"{name!r} is a function or constant name; bind the input to another")
        if name in out:
            raise UsageError(f"the name {name!r} is bound twice")
        out[name] = path
    return out


def _result_dtype(result: np.ndarray, requested: str | None) -> np.dtype[Any]:
    if requested:
        return np.dtype(requested)
    if result.dtype == bool:
        return np.dtype(np.uint8)
    if np.iscomplexobj(result):
        return np.dtype(np.complex64)
    return np.dtype(np.float32)


def compute(expression: str, inputs: dict[str, Series], dtype: str | None = None) -> Series:
    """Evaluate `expression` over `inputs` and wrap the result in the header of the first input.

    Raises
    ------
    ExpressionError
        If the expression is malformed, not allowed, or cannot be computed.
    GeometryError
        If the result's shape matches no input (inputs that do not broadcast).
    """
    from imagedata.series import as_series

    tree = _expr.parse(expression, inputs)
    unused = set(inputs) - _expr.used_names(tree)
    if unused:
        raise UsageError(f"the input(s) {', '.join(sorted(unused))} are not used in {expression!r}")
    # in float64 (complex128): unsigned integer inputs would wrap around on subtraction
    values = {
        name: np.asarray(si, dtype=np.complex128 if np.iscomplexobj(si) else np.float64)
        for name, si in inputs.items()
    }
    try:
        result = np.asarray(_expr.evaluate(tree, values))
    except ValueError as err:
        shapes = ", ".join(f"{n}: {tuple(si.shape)}" for n, si in inputs.items())
        raise GeometryError(f"the inputs cannot be combined ({shapes}): {err}") from err
    like = next(iter(inputs.values()))
    if result.shape != like.shape:
        result = np.broadcast_to(result, like.shape) if result.ndim == 0 else result
        like = next((si for si in inputs.values() if si.shape == result.shape), like)
    if result.shape != like.shape:
        shapes = ", ".join(f"{n}: {tuple(si.shape)}" for n, si in inputs.items())
        raise GeometryError(
            f"the result has shape {result.shape}, which matches no input ({shapes}); "
            "the result must have the shape of an input"
        )
    return as_series(_common.cast(result, _result_dtype(result, dtype)), like)


def calc(args: argparse.Namespace) -> int:
    """Run ``calc`` with parsed arguments."""
    bindings = parse_bindings(args.bindings)
    try:  # refuse a bad expression (a usage error) before reading anything
        _expr.parse(args.expression, bindings)
    except _expr.ExpressionError as err:
        raise UsageError(str(err)) from err
    _inputs.check_inputs(list(bindings.values()))
    inputs = {}
    for name, path in bindings.items():
        with _common.activity(f"reading {path}", quiet=args.quiet) as progress:
            inputs[name] = _inputs.read_one([path], order=args.order, progress=progress)
    result = compute(args.expression, inputs, args.dtype)
    if args.sernum is not None:
        result.setDicomAttribute("SeriesNumber", args.sernum)
    description = args.serdes if args.serdes is not None else f"imagedata calc {args.expression}"
    result.setDicomAttribute("SeriesDescription", description[:64])
    from pydicom.uid import generate_uid

    result.setDicomAttribute("SeriesInstanceUID", generate_uid())  # a new series
    from imagedata.cli.convert import _format_of, check_format

    fmt = check_format(args.to or _format_of(args.output))
    options: dict[str, Any] = {"overwrite": True} if args.overwrite else {}
    options.update(_common.iod_options(args, fmt))
    with _common.activity(f"writing {args.output}", quiet=args.quiet) as progress:
        _common.write_series(result, args.output, fmt, progress, **options)
    _common.say(args, f"{args.output}: {fmt}, shape {tuple(result.shape)} {result.dtype}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``imagedata calc``."""
    return _common.run(build_parser(), argv, calc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
