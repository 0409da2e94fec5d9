"""The imagedata 3.x options of ``image_data`` beyond those ``imagedata convert`` has.

``image_data`` (the 3.x command, :func:`imagedata.cli.convert.main` with
``legacy=True``) accepts ``--odir``, ``--sort``, ``--imagetype``, ``--frame``,
``--SOPClassUID``, ``--input_options``, ``--input_serinsuid``, the 3.x ``--dtype``
names and, so that 3.x command lines parse, the options imagedata does not support
(which then fail with a message naming the replacement).  Translation is that of
:mod:`imagedata._compat3`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from imagedata import _compat3
from imagedata.cli._common import DTYPES
from imagedata.cmdline import CommaSepAction, DictAction, _sort_code

if TYPE_CHECKING:
    from imagedata.series import Series

#: Options of 3.x ``add_argparse_options`` that parse but are not supported.
UNSUPPORTED = ("psopt", "input_acquisition", "input_echo", "input_shape", "calling_aet")


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the 3.x-only options to the ``image_data`` parser."""
    add = parser.add_argument
    add(
        "--odir",
        dest="output_dir",
        choices=["single", "multi"],
        default=None,
        help="DICOM output: all images in one folder, or one folder per tag (default: single)",
    )
    add(
        "--sort",
        dest="output_sort",
        type=_sort_code,
        default=None,
        metavar="{slice,tag}",
        help="DICOM output: slices fastest (slice, default) or tags fastest (tag)",
    )
    add("--imagetype", action=CommaSepAction, help="set ImageType (comma list)")
    add("--frame", help="set FrameOfReferenceUID")
    add("--SOPClassUID", default=None, help="set SOP Class UID")
    add(
        "--input_options",
        action=DictAction,
        default={},
        help="input options key=value, e.g. ti=InversionTime (a tag name -> DICOM keyword)",
    )
    add("--input_serinsuid", default=None, help="read the series with this SeriesInstanceUID")
    add("--correct_acq", action="store_true", help="(not supported; see docs/migrating.md)")
    add("--headers_only", action="store_true", help="(not supported by image_data)")
    add("--input_sort", type=_sort_code, default=0, metavar="{slice,tag}", help="(only 'slice')")
    for name in UNSUPPORTED:
        add(f"--{name}", default=None, help="(not supported; see docs/migrating.md)")


def dtype_choices() -> list[str]:
    """``--dtype`` values of ``image_data``: imagedata's and 3.x's names."""
    return sorted(set(DTYPES) | set(_compat3.DTYPES))


def prepare(args: argparse.Namespace) -> dict[str, str]:
    """Check the 3.x options, fold them into `args`; return tag axis renames."""
    opts = {k: v for k, v in vars(args).items() if k != "dtype"}
    opts.update(args.input_options or {})
    if args.headers_only:
        raise _compat3.UnsupportedOptionError(
            "image_data --headers_only: headers alone cannot be converted; use imagedata info"
        )
    _compat3.read_options(opts)  # raises for the unsupported options that are set
    if args.input_serinsuid and not args.series:
        args.series = args.input_serinsuid
    if args.dtype is not None:
        args.dtype = _compat3.DTYPES.get(args.dtype, args.dtype)
    order, renames = _compat3._order_names(args.order, opts)
    args.order = order
    return renames


def after_read(si: Series, renames: dict[str, str], args: argparse.Namespace) -> Series:
    """Set --imagetype/--frame/--SOPClassUID.

    Tag axes keep the DICOM keyword --input_options maps them to (not the 3.x name), so
    that the written files carry the tag values.
    """
    return _compat3._prepared(
        si, {k: getattr(args, k) for k in ("imagetype", "frame", "SOPClassUID")}
    )


def write_options(fmt: str, args: argparse.Namespace) -> dict[str, Any]:
    """DICOM write options from --odir and --sort."""
    opts = {"output_dir": args.output_dir, "output_sort": args.output_sort}
    return _compat3.write_options({k: v for k, v in opts.items() if v is not None}, fmt)
