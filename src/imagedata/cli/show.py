"""``imagedata show INPUT``: look at a series.

Opens the interactive viewer (:func:`imagedata.viewer.show`), or writes a PNG montage
with orientation labels and a caption when ``--output`` is given or no display is
present (then the PNG is named after the input, in the current folder).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from imagedata.cli import _common, _inputs
from imagedata.cli._common import UsageError

EPILOG = """examples:
  imagedata show dicom_folder/                       (interactive window)
  imagedata show dicom_folder/ --output montage.png  (PNG, no display needed)
  imagedata show dynamic/ --order time --tag 3 --slice 10 --output t3.png
  imagedata show ct/ --window 40 400 --output brain.png
  imagedata show dynamic/ --order time --curve tumour_seg/ --output curve.png
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``show`` parser."""
    parser = _common.parser_for("show", "Look at a series: a viewer, or a PNG montage.", EPILOG)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, archives")
    _common.add_read_options(parser)
    parser.add_argument("-o", "--output", metavar="FILE.png", help="write a PNG montage here")
    parser.add_argument(
        "--slice", metavar="K", help="slice index, or a comma-separated list (default: all slices)"
    )
    parser.add_argument(
        "--tag",
        type=int,
        default=0,
        metavar="T",
        help="tag index (time point, b-value ...) of a 4D series (default 0)",
    )
    parser.add_argument(
        "--window",
        nargs=2,
        type=float,
        metavar=("C", "W"),
        help="window center and width (default: 0.5-99.5 percentiles)",
    )
    parser.add_argument("--colormap", default="gray", help="matplotlib colour map (default gray)")
    parser.add_argument("--columns", type=int, metavar="N", help="tiles per row of the montage")
    parser.add_argument("--no-labels", action="store_true", help="no orientation labels")
    parser.add_argument(
        "--curve",
        metavar="ROI",
        help="plot the mean over the mask ROI (a mask series: SEG, NIfTI ...) along the "
        "tag axis (time, b, te) instead of a montage",
    )
    return parser


def parse_slices(text: str | None) -> list[int] | None:
    """``"3"`` -> [3]; ``"0,4,8"`` -> [0, 4, 8]; ``"2:10:2"`` -> [2, 4, 6, 8].

    Examples
    --------
    >>> parse_slices("2:10:2")
    [2, 4, 6, 8]
    """
    if text is None:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            if ":" in part:
                bounds = [int(v) if v.strip() else None for v in part.split(":")]
                if len(bounds) > 3 or bounds[1] is None:
                    raise ValueError(part)
                out.extend(range(*[b if b is not None else d for b, d in zip(bounds, (0, 0, 1))]))
            else:
                out.append(int(part))
    except ValueError as err:
        raise UsageError(f"--slice {text!r}: expected K, K1,K2,... or START:STOP[:STEP]") from err
    if not out:
        raise UsageError(f"--slice {text!r} selects no slices")
    return out


def default_output(inputs: Sequence[str]) -> Path:
    """The PNG name used without ``--output`` and without a display: after the first input."""
    name = Path(inputs[0].rstrip("/").split("?", 1)[0]).name or "series"
    for ext in (
        ".nii.gz",
        ".zip",
        ".tar.gz",
        ".tgz",
        ".tar",
        ".nii",
        ".mha",
        ".mhd",
        ".nrrd",
        ".mat",
        ".dcm",
    ):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return Path(f"{_inputs.safe_name(name) or 'series'}.png")


def _curve(args: argparse.Namespace, si: object) -> int:
    """``--curve ROI``: the mean over the mask along the tag axis, as a plot."""
    from imagedata import _curves, viewer

    with _common.activity(f"reading {args.curve}", quiet=args.quiet) as progress:
        roi = _inputs.read_one([args.curve], order="none", progress=progress)
    output = Path(args.output) if args.output else None
    if output is None and viewer.is_headless():
        output = Path(default_output(args.inputs).stem + "-curve.png")
        _common.say(args, "no display: writing the curve as PNG instead of opening a window")
    if output is not None and output.suffix.lower() != ".png":
        raise UsageError(f"--output {output}: the curve is written as PNG; name it *.png")
    try:
        c = _curves.plot_curve(si, roi, path=output)
    except ValueError as err:
        raise UsageError(f"--curve {args.curve}: {err}") from err
    values = ", ".join(f"{x:g}: {y:.6g}" for x, y in zip(c.x, c.y))
    where = f"{output}: " if output is not None else ""
    _common.say(args, f"{where}mean over {c.voxels} voxels by {c.xlabel}: {values}")
    return 0


def show(args: argparse.Namespace) -> int:
    """Run ``show`` with parsed arguments."""
    from imagedata import viewer

    slices = parse_slices(args.slice)
    if args.columns is not None and args.columns < 1:
        raise UsageError("--columns must be at least 1")
    with _common.activity(f"reading {args.inputs[0]}", quiet=args.quiet) as progress:
        si = _inputs.read_one(
            args.inputs, order=args.order, select=_inputs.selector(args.series), progress=progress
        )
    if args.curve:
        return _curve(args, si)
    window = tuple(args.window) if args.window else None
    output = Path(args.output) if args.output else None
    if output is None and viewer.is_headless():
        output = default_output(args.inputs)
        _common.say(args, "no display: writing a PNG montage instead of opening a window")
    if output is None:
        first = slices[0] if slices else None
        viewer.show(si, window=window, colormap=args.colormap, slice=first, tag=args.tag)
        return 0
    if output.suffix.lower() != ".png":
        raise UsageError(f"--output {output}: the montage is written as PNG; name it *.png")
    result = viewer.render(
        si,
        output,
        slices=slices,
        tag=args.tag if si.ndim > 3 else None,
        window=window,
        colormap=args.colormap,
        columns=args.columns,
        labels=not args.no_labels,
    )
    height, width = result.size
    n = len(result.layout.slices)
    _common.say(args, f"{output}: {n} slice{'s' if n != 1 else ''}, {width}x{height} pixels")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``imagedata show``."""
    return _common.run(build_parser(), argv, show)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
