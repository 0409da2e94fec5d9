"""``imagedata stats INPUT``: voxel statistics per series (and per tag with ``--per-tag``).

min, max, mean, std, median and the voxel count, over the whole series or inside
``--mask`` (a series whose non-zero voxels select; it has the series' spatial
shape, or its full shape).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imagedata.cli import _common, _inputs
from imagedata.errors import GeometryError

if TYPE_CHECKING:
    from imagedata.series import Series

EPILOG = """examples:
  imagedata stats dicom_folder/
  imagedata stats dynamic/ --order time --per-tag
  imagedata stats t1.nii.gz --mask tumour.nii.gz --json
"""

COLUMNS = ("count", "min", "max", "mean", "std", "median")


def build_parser() -> argparse.ArgumentParser:
    """The ``stats`` parser."""
    parser = _common.parser_for("stats", "Voxel statistics per series.", EPILOG)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, archives")
    _common.add_read_options(parser)
    parser.add_argument("--mask", metavar="MASK", help="only voxels where MASK is non-zero")
    parser.add_argument("--per-tag", action="store_true", help="one row per tag (time, b ...)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    return parser


def statistics(values: np.ndarray) -> dict[str, float | int]:
    """count, min, max, mean, std and median of `values` (NaNs ignored).

    Examples
    --------
    >>> statistics(np.array([1.0, 2.0, 3.0, np.nan]))["median"]
    2.0
    """
    v = np.asarray(values)
    if np.iscomplexobj(v):
        v = np.abs(v)
    v = v[np.isfinite(v)] if v.dtype.kind == "f" else v.ravel()
    if v.size == 0:
        return {"count": 0, **{k: float("nan") for k in COLUMNS[1:]}}
    v64 = v.astype(np.float64)
    return {
        "count": int(v.size),
        "min": float(v64.min()),
        "max": float(v64.max()),
        "mean": float(v64.mean()),
        "std": float(v64.std()),
        "median": float(np.median(v64)),
    }


def fit_mask(mask: np.ndarray, si: Series, mask_name: str) -> np.ndarray:
    """A boolean mask with the spatial or full shape of `si`.

    Raises
    ------
    GeometryError
        If the mask's shape fits neither, naming both shapes.
    """
    m = np.asarray(mask) != 0
    spatial = tuple(si.shape[-3:]) if si.ndim >= 3 else tuple(si.shape)
    if m.shape == tuple(si.shape) or m.shape == spatial:
        return m
    if m.ndim > len(spatial) and m.shape[-len(spatial) :] == spatial and m.shape[0] == 1:
        return m.reshape(spatial)
    raise GeometryError(
        f"{mask_name}: mask shape {m.shape} fits neither the series shape {tuple(si.shape)} "
        f"nor its spatial shape {spatial}; use a mask drawn on this series"
    )


def _rows(si: Series, mask: np.ndarray | None, per_tag: bool) -> list[dict[str, Any]]:
    data = np.asarray(si)
    if not per_tag or si.ndim <= 3:
        selected = data if mask is None else data[np.broadcast_to(mask, data.shape)]
        return [{"tag": None, **statistics(selected)}]
    rows = []
    for t in range(si.shape[0]):
        part = data[t]
        m = None if mask is None else (mask[t] if mask.shape == data.shape else mask)
        selected = part if m is None else part[np.broadcast_to(m, part.shape)]
        rows.append({"tag": _tag_label(si, t), **statistics(selected)})
    return rows


def _tag_label(si: Series, t: int) -> str:
    from imagedata.viewer import tag_text

    return tag_text(si, t)


def stats(args: argparse.Namespace) -> int:
    """Run ``stats`` with parsed arguments."""
    with _common.activity(f"reading {args.inputs[0]}", quiet=args.quiet) as progress:
        series = _inputs.read_all(
            args.inputs, order=args.order, select=_inputs.selector(args.series), progress=progress
        )
    mask_data = None
    if args.mask:
        mask_data = np.asarray(_inputs.read_one([args.mask], order="none"))
    report = []
    for si in series:
        mask = None if mask_data is None else fit_mask(mask_data, si, args.mask)
        report.append(
            {
                "series_number": si.getDicomAttribute("SeriesNumber"),
                "series_description": str(si.getDicomAttribute("SeriesDescription") or ""),
                "shape": list(si.shape),
                "dtype": str(si.dtype),
                "rows": _rows(si, mask, args.per_tag),
            }
        )
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
    else:
        print_table(report)
    return 0


def print_table(report: list[dict[str, Any]]) -> None:
    """Print one header line per series and one table row per tag."""
    for entry in report:
        desc = f' "{entry["series_description"]}"' if entry["series_description"] else ""
        print(
            f"Series {entry['series_number']}{desc}  shape {tuple(entry['shape'])} {entry['dtype']}"
        )
        label_width = max([len(str(r["tag"] or "")) for r in entry["rows"]] + [3])
        print(f"  {'':<{label_width}} " + " ".join(f"{c:>12}" for c in COLUMNS))
        for row in entry["rows"]:
            cells = [f"{row['count']:>12d}"] + [f"{row[c]:>12.6g}" for c in COLUMNS[1:]]
            print(f"  {row['tag'] or 'all'!s:<{label_width}} " + " ".join(cells))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``imagedata stats``."""
    return _common.run(build_parser(), argv, stats)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
