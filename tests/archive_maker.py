"""A generated multi-patient DICOM archive for the catalogue and batch tests.

Layout (``make_archive(root)``)::

    root/export/P1/a/...    P1, study 20240110 "Head", series 1 "T1 axial" (3x8x10)
    root/export/P1/b/...    P1, study 20240110 "Head", series 2 "T2 / tra" (4x8x10)
    root/export/P1/c/...    P1, study 20240520 "Head FU", series 1 "T1 axial" (3x8x10)
    root/export/P3/...      P3, study 20240415, series 5 "broken" (one file truncated)
    root/export/notes.txt   not DICOM
    root/export/P2.zip      P2, study 20240301, two series numbered 3 named "dup"
                            (same name, different UIDs), and one CT series 4
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from imagedata.testing import SyntheticSeries, make_dicom_series


@dataclass
class Archive:
    """Where the archive is and the truth about its series (by SeriesInstanceUID)."""

    root: Path
    series: dict[str, SyntheticSeries] = field(default_factory=dict)
    broken_uid: str = ""
    broken_file: Path | None = None
    zip_path: Path | None = None

    def uid(self, patient: str, number: int) -> list[str]:
        """UIDs of the series of `patient` with SeriesNumber `number`."""
        return [
            u
            for u, s in self.series.items()
            if s.patient_id == patient and s.attributes.get("SeriesNumber") == number
        ]


def _study(patient: str, date: str, desc: str) -> dict[str, object]:
    return {"PatientID": patient, "StudyDate": date, "StudyDescription": desc}


def make_archive(root: Path) -> Archive:
    """Write the archive described in the module docstring under ``root/export``."""
    export = root / "export"
    out = Archive(export)

    def add(folder: Path, shape: tuple[int, ...], number: int, desc: str, **kw: object) -> str:
        s = make_dicom_series(
            folder, shape=shape, SeriesNumber=number, SeriesDescription=desc, **kw
        )
        out.series[s.series_instance_uid] = s
        return s.series_instance_uid

    a = add(export / "P1" / "a", (3, 8, 10), 1, "T1 axial", **_study("P1", "20240110", "Head"))
    study1 = out.series[a].study_instance_uid
    add(
        export / "P1" / "b",
        (4, 8, 10),
        2,
        "T2 / tra",
        StudyInstanceUID=study1,
        **_study("P1", "20240110", "Head"),
    )
    add(export / "P1" / "c", (3, 8, 10), 1, "T1 axial", **_study("P1", "20240520", "Head FU"))
    bad = add(export / "P3", (3, 8, 10), 5, "broken", **_study("P3", "20240415", "Spine"))
    out.broken_uid = bad
    victim = sorted(out.series[bad].files)[0]
    victim.write_bytes(victim.read_bytes()[:-50])  # pixel data cut short
    out.broken_file = victim
    (export / "notes.txt").write_text("not a DICOM file\n")
    staging = root / "staging"
    d1 = add(staging / "s1", (2, 8, 10), 3, "dup", **_study("P2", "20240301", "Abdomen"))
    study2 = out.series[d1].study_instance_uid
    p2 = _study("P2", "20240301", "Abdomen")
    add(staging / "s2", (3, 8, 10), 3, "dup", StudyInstanceUID=study2, **p2)
    add(staging / "s3", (2, 8, 10), 4, "CT", StudyInstanceUID=study2, modality="CT", **p2)
    out.zip_path = export / "P2.zip"
    with zipfile.ZipFile(out.zip_path, "w") as zf:
        for f in sorted(staging.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(staging).as_posix())
    shutil.rmtree(staging)
    return out
