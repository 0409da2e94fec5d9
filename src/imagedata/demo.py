"""The main job on a built-in sample: ``python -m imagedata.demo [OUTPUT_DIR]``.

A realistic synthetic DICOM series (4 time points x 12 oblique-free axial slices,
row spacing != column spacing, shuffled file names) is made with
:mod:`imagedata.testing`, loaded as a :class:`~imagedata.series.Series`,
summarised, written as DICOM, NIfTI and MHA, read back and compared, and shown
with ``imagedata info`` and a PNG montage.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from imagedata.series import Series
from imagedata.testing import make_dicom_series


def _summary(si: Series, title: str) -> str:
    lines = [
        f"{title}:",
        f"  shape {si.shape} dtype {si.dtype} axes {[a.name for a in si.axes]}",
        f"  spacing {np.round(si.spacing, 4).tolist()}  orientation {si.orientation.tolist()}",
        f"  sliceLocations {np.round(si.sliceLocations[:4], 3).tolist()} ...",
    ]
    if "time" in si.header.axis_names:
        lines.append(f"  timeline {si.timeline.tolist()} s")
    lines.append(
        f"  patient {si.patientName!s} ({si.patientID}), series {si.seriesNumber} "
        f"{si.seriesDescription!r}"
    )
    return "\n".join(lines)


def _check(original: Series, back: Series, name: str) -> str:
    same_values = np.array_equal(np.asarray(original), np.asarray(back))
    same_geometry = np.allclose(original.affine, back.affine, atol=1e-4)
    ok = same_values and same_geometry and original.shape == back.shape
    return (
        f"  {name:<6} read back: shape {back.shape}, values "
        f"{'identical' if same_values else 'DIFFER'}, geometry "
        f"{'identical' if same_geometry else 'DIFFERS'} -> {'OK' if ok else 'FAILED'}"
    )


def run(output: Path) -> int:
    """Run the demo into `output`; return 0 when every round trip matched."""
    from imagedata.cli import info, show

    output.mkdir(parents=True, exist_ok=True)
    truth = make_dicom_series(
        output / "sample_dicom",
        shape=(4, 12, 48, 64),
        order="time",
        tag_values=[0.0, 2.5, 5.0, 7.5],
        pixel_spacing=(0.9, 1.1),
        slice_spacing=3.0,
        SeriesDescription="Dynamic sample",
    )
    si = Series(str(truth.path))
    print(_summary(si, f"Read {len(truth.files)} DICOM files from {truth.path}"))
    print("  sorted like the truth:", np.array_equal(np.asarray(si), truth.data))
    slice5 = si[:, 5, ...]
    print(f"  si[:, 5] lies at sliceLocation {slice5.sliceLocations.tolist()}")

    results = []
    for fmt, dest in (("dicom", "out_dicom"), ("nifti", "out_nifti"), ("itk", "out_itk")):
        written = si.write(str(output / dest), formats=[fmt], overwrite=True)
        back = Series(str(output / dest))
        print(f"Wrote {fmt}: {len(written)} file(s) in {output / dest}")
        line = _check(si, back, fmt)
        print(line)
        results.append(line.endswith("OK"))
        if fmt == "nifti":
            print(f"  patient kept through NIfTI: {back.patientName!s} ({back.patientID})")

    print("\n$ imagedata info", output / "out_dicom")
    info.main([str(output / "out_dicom")])
    png = output / "montage.png"
    print(f"\n$ imagedata show {output / 'out_dicom'} --tag 0 --output {png}")
    show.main([str(output / "out_dicom"), "--tag", "0", "--output", str(png)])
    print(f"montage written to {png}")
    return 0 if all(results) else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m imagedata.demo [OUTPUT_DIR]`` (default: demo_output/)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    output = Path(args[0]) if args else Path("demo_output")
    if args and args[0] == "--tmp":
        output = Path(tempfile.mkdtemp(prefix="imagedata-demo-"))
    return run(output)


if __name__ == "__main__":
    raise SystemExit(main())
