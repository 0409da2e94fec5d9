"""The command-line options of imagedata 3.x, for scripts that build their own parser.

A 3.x script adds the options to its parser and hands the parsed arguments to
``Series`` and ``write`` as ``opts``; both work unchanged::

    parser = argparse.ArgumentParser()
    parser.add_argument("indir")
    parser.add_argument("outdir")
    imagedata.cmdline.add_argparse_options(parser)
    args = parser.parse_args()
    si = Series(args.indir, opts=args)
    si.write(args.outdir, opts=args)

The destinations (``args.output_format``, ``args.input_order``, ...) and defaults are
those of 3.x.  Options that imagedata deliberately does not support (``--correct_acq``,
``--input_echo`` ...) parse, and raise :class:`~imagedata.errors.UnsupportedOptionError`
naming the replacement when used (see :mod:`imagedata._compat3`).  Values of
``--input_options key=value`` are parsed as numbers or booleans where they are one,
otherwise kept as text (never evaluated).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_argparse_options(p)
>>> a = p.parse_args(["--of", "nifti", "--order", "time", "--input_options", "ti=InversionTime"])
>>> a.output_format, a.input_order, a.input_options
(['nifti'], 'time', {'ti': 'InversionTime'})
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from imagedata import __version__
from imagedata._compat3 import DTYPES

#: 3.x output sort codes (``opts['output_sort']``): slices fastest, or tags fastest.
SORT_ON_SLICE, SORT_ON_TAG = 0, 1


def literal(text: str) -> Any:
    """``text`` as an int, float or bool where it is one, else the text itself.

    Examples
    --------
    >>> literal("3"), literal("2.5"), literal("True"), literal("TriggerTime")
    (3, 2.5, True, 'TriggerTime')
    """
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class DictAction(argparse.Action):
    """``--opt key=value`` into a dict (repeatable)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        key, sep, value = str(values).partition("=")
        if not sep:
            raise argparse.ArgumentError(self, f"expected key=value, got {values!r}")
        items = dict(getattr(namespace, self.dest, None) or {})
        items[key] = literal(value)
        setattr(namespace, self.dest, items)


class CommaSepAction(argparse.Action):
    """``--opt a,b,c`` into a list."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, str(values).split(","))


class OutputFormatAction(argparse.Action):
    """``--of FORMAT`` (repeatable): the first replaces the default, later ones add."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        seen = getattr(namespace, "_of_given", False)
        current = list(getattr(namespace, self.dest)) if seen else []
        if values not in current:
            current.append(str(values))
        setattr(namespace, self.dest, current)
        namespace._of_given = True


def _sort_code(text: str) -> int:
    if text not in ("slice", "tag"):
        raise argparse.ArgumentTypeError(f"expected 'slice' or 'tag', got {text!r}")
    return SORT_ON_SLICE if text == "slice" else SORT_ON_TAG


def add_argparse_options(parser: argparse.ArgumentParser) -> None:
    """Add the imagedata 3.x options to `parser` (same names, destinations and defaults)."""
    add = parser.add_argument
    add(
        "--of",
        dest="output_format",
        action=OutputFormatAction,
        default=["dicom"],
        help="output format [dicom|nifti|itk|nrrd|mat] (default: dicom); replaces %%p in "
        "the output path",
    )
    add(
        "--sort",
        dest="output_sort",
        type=_sort_code,
        default=SORT_ON_SLICE,
        metavar="{slice,tag}",
        help="sort output images on slice or tag (default: slice)",
    )
    add(
        "--order",
        dest="input_order",
        default="auto",
        help="how to sort the input: auto, none, time, b, fa, te, ti, or a DICOM keyword",
    )
    add(
        "--dtype",
        choices=sorted(DTYPES),
        default=None,
        type=str,
        help="output data type (default: keep the input's)",
    )
    add("--psopt", default=None, help="PostScript options (not supported by imagedata 4)")
    add(
        "--odir",
        dest="output_dir",
        choices=["single", "multi"],
        default="single",
        help="all images in one folder, or one folder per tag (default: single)",
    )
    add("--template", default=None, help="series to take the DICOM template from")
    add("--geometry", default=None, help="series to take the geometry from")
    add("--frame", help="set the DICOM FrameOfReferenceUID")
    add("--SOPClassUID", default=None, help="set the DICOM SOP Class UID")
    add("--sernum", type=int, help="set the DICOM SeriesNumber")
    add("--serdes", help="set the DICOM SeriesDescription")
    add("--input_serinsuid", default=None, help="read the series with this SeriesInstanceUID")
    add("--input_acquisition", default=None, help="(not supported: index the tag axis)")
    add("--input_echo", default=None, help="(not supported: index the 'te' axis)")
    add("--imagetype", action=CommaSepAction, help="set the DICOM ImageType (comma list)")
    add(
        "--input_options",
        action=DictAction,
        default={},
        help="input options key=value (e.g. ti=InversionTime)",
    )
    add("--calling_aet", default=None, help="calling AE title")
    add("--correct_acq", action="store_true", help="(not supported: see docs/migrating.md)")
    add("--headers_only", action="store_true", help="read headers only")
    add("--input_shape", default=None, help="(not supported: reshape after reading)")
    add(
        "--input_sort",
        type=_sort_code,
        default=SORT_ON_SLICE,
        metavar="{slice,tag}",
        help="(only 'slice': images are sorted by their attributes)",
    )
    add(
        "-d",
        "--debug",
        action="store_const",
        dest="loglevel",
        const=logging.DEBUG,
        default=logging.WARNING,
        help="log debugging messages",
    )
    add(
        "-v",
        "--verbose",
        action="store_const",
        dest="loglevel",
        const=logging.INFO,
        help="be verbose",
    )
    add("-V", "--version", action="version", version=f"%(prog)s {__version__}")


def dtype_of(args: argparse.Namespace) -> str | None:
    """The numpy dtype name ``--dtype`` asks for, or None."""
    name = getattr(args, "dtype", None)
    return None if name is None else DTYPES.get(str(name), str(name))


__all__ = ["SORT_ON_SLICE", "SORT_ON_TAG", "add_argparse_options", "dtype_of"]
