"""``imagedata convert INPUT... OUTPUT``: convert series between formats.

Also installed as ``image_data``, the imagedata 3.x command, which keeps the 3.x
argument order ``image_data OUTPUT INPUT...`` and accepts ``--of FORMAT``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagedata.cli import _common, _inputs
from imagedata.cli._common import FORMATS, UsageError

if TYPE_CHECKING:
    from imagedata.series import Series

logger = logging.getLogger(__name__)

EPILOG = """examples:
  imagedata convert dicom_folder/ out.nii.gz
  imagedata convert dicom_folder/ nifti_out/ --to nifti
  imagedata convert study.zip sorted/ --to nifti        (one sub-folder per series)
  imagedata convert mask.nii.gz mask_dicom/ --template dicom_folder/ --serdes "Tumour mask"
  imagedata convert export/ nifti/ --recursive --to nifti --workers 4   (whole archives, see below)
  imagedata convert export/ bids/ --recursive --bids
  imagedata convert --db catalog.sqlite nifti/ --modality MR --scheduler tcp://10.0.0.5:8786
"""

#: File name extensions of each output format (for naming one file per series).
_EXTENSIONS = {
    "nifti": (".nii.gz", ".nii"),
    "itk": (".mha", ".mhd"),
    "nrrd": (".nrrd", ".nhdr"),
    "mat": (".mat",),
    "dicom": (".zip",),
}


def build_parser(legacy: bool = False) -> argparse.ArgumentParser:
    """The ``convert`` parser; `legacy` gives the ``image_data`` (3.x) argument order."""
    parser = _common.parser_for(
        "convert" if not legacy else "convert (image_data)",
        "Read series from INPUT (files, folders, archives, globs) and write them to OUTPUT. "
        "Several series in the input are written one sub-folder (or file) each, named "
        "<SeriesNumber>_<SeriesDescription>.",
        EPILOG,
    )
    if legacy:
        parser.prog = "image_data"
        parser.add_argument("output", metavar="OUTPUT", help="output file or folder")
        parser.add_argument("inputs", nargs="+", metavar="INPUT", help="input files or folders")
    else:
        parser.usage = "%(prog)s [options] INPUT [INPUT ...] OUTPUT"
        parser.add_argument(
            "paths",
            nargs="+",
            metavar="PATH",
            help="input files, folders, archives or globs, then the output file or folder",
        )
    parser.add_argument(
        "--to",
        metavar="FORMAT",
        action="append" if legacy else "store",
        help=f"output format: {', '.join(FORMATS)} (default: from OUTPUT's extension, else dicom)",
    )
    if legacy:
        parser.add_argument(
            "--of",
            dest="to",
            action="append",
            help="output format (imagedata 3.x name of --to)",
        )
    _common.add_read_options(parser)
    if legacy:
        from imagedata.cli import _convert3

        _convert3.add_options(parser)
    parser.add_argument(
        "--template", metavar="T", help="series whose patient/study attributes the output takes"
    )
    parser.add_argument(
        "--geometry",
        metavar="G",
        help="series whose geometry (affine, slice positions) the output takes",
    )
    parser.add_argument("--sernum", type=int, metavar="N", help="SeriesNumber of the output")
    parser.add_argument("--serdes", metavar="TEXT", help="SeriesDescription of the output")
    parser.add_argument(
        "--dtype",
        choices=_common.DTYPES if not legacy else _dtype_choices(),
        help="convert the voxels to this type (integers are rounded and clipped)",
    )
    parser.add_argument(
        "--keep-uid",
        action="store_true",
        help="keep the input's UIDs (DICOM output) instead of new ones",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output file or folder"
    )
    parser.add_argument(
        "--compression-level",
        type=int,
        choices=range(1, 10),
        metavar="1-9",
        help=".nii.gz compression: 1 fastest (default) .. 9 smallest",
    )
    if not legacy:
        from imagedata.cli import _batch

        _batch.add_options(parser)
        _common.add_iod_options(parser)
    return parser


def _dtype_choices() -> list[str]:
    from imagedata.cli._convert3 import dtype_choices

    return dtype_choices()


def _split(args: argparse.Namespace) -> tuple[list[str], str, list[str]]:
    """(inputs, output, formats) from parsed arguments."""
    if hasattr(args, "paths"):
        if len(args.paths) < 2:
            raise UsageError("give at least one INPUT and the OUTPUT")
        inputs, output = list(args.paths[:-1]), str(args.paths[-1])
        formats = [args.to] if args.to else []
    else:
        inputs, output = list(args.inputs), str(args.output)
        formats = list(dict.fromkeys(args.to or []))
    if not formats:
        formats = [_format_of(output)]
    formats = [check_format(f) for f in formats]
    if len(formats) > 1 and "%p" not in output:
        raise UsageError("several output formats need '%p' in OUTPUT (replaced by the format)")
    return inputs, output, formats


def _format_of(output: str) -> str:
    """The format OUTPUT's extension names (builtin or registered plugins); dicom for folders."""
    low = output.lower()
    for fmt, exts in _EXTENSIONS.items():
        if fmt != "dicom" and low.endswith(exts):
            return fmt
    from imagedata import formats

    try:
        plugin = formats.by_extension(output)
    except ImportError:  # a builtin plugin that is not installed claims no extension here
        plugin = None
    return "dicom" if plugin is None else plugin.name


def check_format(name: str) -> str:
    """Return `name` if a format plugin of that name exists; a usage error otherwise."""
    from imagedata import formats
    from imagedata.errors import UnknownFormatError

    try:
        formats.get(name)
    except UnknownFormatError as err:
        raise UsageError(str(err)) from err
    except ImportError:  # builtin, but its module is missing: the writer will say what to install
        pass
    return name


def _check_not_input(output: Path, inputs: Sequence[str]) -> None:
    """Refuse an OUTPUT that is, or holds, one of the inputs (it would be replaced)."""
    out = output.resolve()
    for s in inputs:
        if "://" in s:
            continue
        p = Path(s.split("?", 1)[0]).resolve()
        if p == out or out in p.parents:
            raise UsageError(f"OUTPUT {output} is or holds the input {s}; choose another OUTPUT")


def read_reference(path: str | None, option: str) -> Series | None:
    """Read the headers of a ``--template``/``--geometry`` series (one series only)."""
    from imagedata.errors import MultipleSeriesError

    if path is None:
        return None
    try:
        return _inputs.read_one([path], headers_only=True)
    except MultipleSeriesError as err:
        first = str(err).split(";")[0]
        raise MultipleSeriesError(
            f"{option} {path}: {first}; give the folder or file of one series"
        ) from err


def _prepare(
    si: Series, args: argparse.Namespace, template: Series | None, geometry: Series | None
) -> Series:
    """Apply --template, --geometry, --dtype, --sernum and --serdes."""
    from imagedata.series import Series as _Series

    if template is not None or geometry is not None:
        si = _Series(si, template=template, geometry=geometry)
    if args.dtype is not None:
        si = _common.cast(si, args.dtype)
    if args.sernum is not None:
        si.setDicomAttribute("SeriesNumber", args.sernum)
    if args.serdes is not None:
        si.setDicomAttribute("SeriesDescription", args.serdes)
    return si


def _targets(output: str, fmt: str, series: Sequence[Series]) -> list[Path]:
    """One output path per series: OUTPUT itself, or a sub-folder/file per series."""
    out = output.replace("%p", fmt)
    if len(series) == 1:
        return [Path(out)]
    labels = _unique([_inputs.series_label(si) for si in series])
    low = out.lower()
    ext = next((e for e in _EXTENSIONS.get(fmt, ()) if low.endswith(e)), None)
    if ext is None:
        return [Path(out) / label for label in labels]
    stem = Path(out[: -len(ext)])
    return [stem.parent / f"{stem.name}_{label}{ext}" for label in labels]


def _unique(labels: list[str]) -> list[str]:
    """Make labels unique by appending _2, _3, ... to repeats."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}_{seen[label]}")
    return out


def _write_options(fmt: str, args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.overwrite:
        options["overwrite"] = True
    if fmt == "dicom" and args.keep_uid:
        options["keep_uid"] = True
    if fmt == "nifti" and getattr(args, "compression_level", None) is not None:
        options["compression_level"] = args.compression_level
    if hasattr(args, "input_options"):  # image_data, the 3.x command
        from imagedata.cli._convert3 import write_options

        options.update(write_options(fmt, args))
        if fmt == "dicom":
            options.setdefault("iod", "image")  # what imagedata 3.x wrote
    else:
        options.update(_common.iod_options(args, fmt))
    return options


def convert(args: argparse.Namespace) -> int:
    """Run ``convert`` with parsed arguments."""
    if getattr(args, "recursive", False) or getattr(args, "db", None):
        from imagedata.cli import _batch

        if args.to:
            check_format(args.to)
        return _batch.convert_batch(args)
    if hasattr(args, "recursive"):
        from imagedata.cli import _batch

        _batch.check_single(args)
    inputs, output, formats = _split(args)
    legacy = hasattr(args, "input_options")  # image_data, the 3.x command
    if legacy:
        from imagedata.cli import _convert3

        renames = _convert3.prepare(args)
    _inputs.check_inputs(inputs)
    for fmt in formats:
        _check_not_input(Path(output.replace("%p", fmt)), inputs)
    with _common.activity(f"reading {inputs[0]}", quiet=args.quiet) as progress:
        series = _inputs.read_all(
            inputs, order=args.order, select=_inputs.selector(args.series), progress=progress
        )
    if legacy:
        series = [_convert3.after_read(si, renames, args) for si in series]
    if len(series) > 1 and (args.sernum is not None or args.keep_uid):
        raise UsageError(
            f"the input holds {len(series)} series; --sernum and --keep-uid need one "
            "(pick it with --series)"
        )
    template = read_reference(args.template, "--template")
    geometry = read_reference(args.geometry, "--geometry")
    series = [_prepare(si, args, template, geometry) for si in series]
    written = 0
    for fmt in formats:
        targets = _targets(output, fmt, series)
        steps = _common.progress(  # a bar over the series when there are several
            list(zip(series, targets)), desc=f"writing {fmt}", quiet=args.quiet or len(series) < 2
        )
        for si, target in steps:
            logger.info("writing %s series %s to %s", fmt, _inputs.series_label(si), target)
            with _common.activity(f"writing {target}", quiet=args.quiet) as progress:
                options = _write_options(fmt, args)
                files = _common.write_series(si, target, fmt, progress, **options)
            written += len(files)
            _common.say(args, f"{target}: {fmt}, shape {tuple(si.shape)}")
    logger.info("%d files written", written)
    return 0


def main(argv: Sequence[str] | None = None, *, legacy: bool | None = None) -> int:
    """Entry point of ``imagedata convert`` (and of ``image_data``).

    Parameters
    ----------
    argv
        Arguments after the subcommand; default ``sys.argv[1:]``.
    legacy
        Use the imagedata 3.x argument order (OUTPUT first).  Default: when started
        as the ``image_data`` console script.
    """
    if legacy is None:
        legacy = argv is None and Path(sys.argv[0]).name.startswith("image_data")
    parser = build_parser(legacy=legacy)
    return _common.run(parser, argv, convert)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
