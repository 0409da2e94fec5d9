"""``imagedata convert SOURCE... OUT --recursive``: whole archives (:mod:`imagedata.batch`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from imagedata.cli import _catalog, _common
from imagedata.cli._common import UsageError

#: Single-series options that have no meaning for a batch.
_SINGLE_ONLY = {
    "template": "--template",
    "geometry": "--geometry",
    "sernum": "--sernum",
    "serdes": "--serdes",
    "dtype": "--dtype",
    "series": "--series",
}


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of the whole-archive mode to the ``convert`` parser."""
    group = parser.add_argument_group(
        "whole archives (--recursive or --db)",
        "Convert every series found, one output per series named by --layout; a bad series "
        "is reported and the others go on; a re-run skips what is finished and unchanged "
        "(manifest in OUT); the report is OUT/imagedata-report.json.",
    )
    group.add_argument(
        "-r", "--recursive", action="store_true", help="convert every series in the inputs"
    )
    group.add_argument(
        "--layout",
        metavar="PATTERN",
        help="output path per series, from DICOM attributes (default "
        "'{PatientID}/{StudyDate}_{StudyDescription}/{SeriesNumber:03d}_{SeriesDescription}'; "
        "ending in .nii.gz etc.: a file)",
    )
    group.add_argument(
        "--bids", action="store_true", help="BIDS-like layout (sub-/ses-/datatype) with sidecars"
    )
    group.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: CPUs)"
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster: tcp://host:port, or 'local' to start one (imagedata[dask])",
    )
    group.add_argument(
        "--db", metavar="FILE", help="catalogue (imagedata index): update it, convert its series"
    )
    group.add_argument(
        "--force", action="store_true", help="redo every series, even finished unchanged ones"
    )
    _catalog.add_query_options(parser)


#: Whole-archive options (dest -> option) that need --recursive or --db.
_BATCH_ONLY = {
    "layout": "--layout",
    "bids": "--bids",
    "workers": "--workers",
    "scheduler": "--scheduler",
    "force": "--force",
    "patient": "--patient",
    "modality": "--modality",
    "date": "--date",
}


def check_single(args: argparse.Namespace) -> None:
    """Refuse whole-archive options in single-series mode (they would be ignored)."""
    for dest, option in _BATCH_ONLY.items():
        if getattr(args, dest, None) not in (None, False):
            raise UsageError(f"{option} needs --recursive (or --db)")


def _check(args: argparse.Namespace) -> tuple[list[str], Path, str]:
    """(sources, OUT, format) of a batch; usage errors for options that do not apply."""
    for dest, option in _SINGLE_ONLY.items():
        if getattr(args, dest, None) is not None:
            raise UsageError(f"{option} applies to one series, not to --recursive/--db")
    if args.overwrite:
        raise UsageError(
            "--overwrite does not apply to --recursive: outputs get distinct names and "
            "finished series are skipped (use --force to redo them)"
        )
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers needs a number >= 1")
    if args.scheduler and args.workers is not None and args.scheduler != "local":
        raise UsageError("--workers applies to local processes; the cluster has its own workers")
    if args.bids and args.layout:
        raise UsageError("give --bids or --layout, not both")
    if len(args.paths) < 2 and not args.db:
        raise UsageError("give at least one SOURCE and the OUTPUT folder")
    sources, out = list(args.paths[:-1]), Path(args.paths[-1])
    fmt = args.to or "nifti"
    if args.bids and fmt != "nifti":
        raise UsageError("--bids writes NIfTI; leave out --to or give --to nifti")
    _check_sources(sources)
    return sources, out, fmt


def _check_sources(sources: Sequence[str]) -> None:
    """Fail early, naming the path, when a source does not exist or cannot be read.

    Unlike :func:`._inputs.check_inputs` this imports no reader (the workers read):
    the sources of a batch are folders, files and archives, never URLs or patterns.
    """
    for s in sources:
        p = Path(s)
        if not p.exists():
            raise FileNotFoundError(2, "no such file or folder; check the path", s)
        if p.is_file() and not os.access(p, os.R_OK):
            raise PermissionError(13, "cannot read this file (permission denied)", s)


class _SeriesBar:
    """One tqdm bar over the series, with done/failed/skipped counts (terminal only)."""

    def __init__(self, quiet: bool) -> None:
        self.bar: Any = None
        self.quiet = quiet

    def start(self, total: int, skipped: int) -> None:
        if self.quiet or not _common.is_terminal():
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, desc="series", initial=skipped, file=sys.stderr)

    def __call__(self, result: Any, label: str, counts: dict[str, int]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(counts, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextlib.contextmanager
def _stage_bars(label: str, quiet: bool) -> Iterator[Any]:
    with _common.activity(f"{label}", quiet=quiet) as progress:
        yield progress


def convert_batch(args: argparse.Namespace) -> int:
    """Run the whole-archive mode of ``imagedata convert`` (``--to`` already checked)."""
    from imagedata.batch import BatchOptions, convert_all, preload_workers

    sources, out, fmt = _check(args)
    write_options: dict[str, Any] = {}
    if fmt == "nifti" and args.compression_level is not None:
        write_options["compression_level"] = args.compression_level
    if fmt == "dicom" and args.keep_uid:
        write_options["keep_uid"] = True
    bar = _SeriesBar(args.quiet)
    serial = args.workers == 1 and not args.scheduler
    if not serial and not args.scheduler:  # this command owns its process: set it up
        preload_workers()
    options = BatchOptions(
        fmt=fmt,
        layout=args.layout,
        bids=args.bids,
        input_order=args.order,
        write_options=write_options,
        workers=args.workers,
        scheduler=args.scheduler,
        force=args.force,
        stage_bars=(lambda label: _stage_bars(label, args.quiet)) if serial else None,
        on_plan=bar.start,
        on_result=bar,
    )
    try:
        report = convert_all(sources, out, options, db=args.db, query=_catalog.query_of(args))
    finally:
        bar.close()
    if not (report.done or report.failed or report.skipped):
        where = ", ".join(sources) if sources else args.db
        warnings.warn(f"no DICOM series selected in {where}; nothing converted", stacklevel=2)
    for item in report.failed:
        print(f"imagedata convert: failed: {item['label']}: {item['error']}", file=sys.stderr)
    _common.say(
        args,
        f"{out}: {len(report.done)} series converted, {len(report.failed)} failed, "
        f"{len(report.skipped)} unchanged (skipped); report {out / 'imagedata-report.json'}",
    )
    return 0 if report.ok else _common.EXIT_ERROR
