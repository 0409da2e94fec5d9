"""The SQLite catalogue: header pass into tables, incremental re-index, queries, CLI."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from imagedata.catalog import Catalog, CatalogError, parse_date_range
from imagedata.cli import index as index_cli
from imagedata.cli import ls as ls_cli
from imagedata.testing import make_dicom_series
from tests.archive_maker import Archive, make_archive


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return make_archive(tmp_path)


def test_index_finds_every_series_with_counts(archive: Archive, tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = cat.index([archive.root])
        records = {r.SeriesInstanceUID: r for r in cat.series()}
        counts = cat.counts()
    assert set(records) == set(archive.series)
    for uid, truth in archive.series.items():
        rec = records[uid]
        assert rec.PatientID == truth.patient_id
        assert rec.StudyInstanceUID == truth.attributes.get(
            "StudyInstanceUID", truth.study_instance_uid
        )
        assert rec.Images == len(truth.files)
        assert rec.SeriesNumber == truth.attributes["SeriesNumber"]
        assert rec.SeriesDescription == truth.attributes["SeriesDescription"]
        assert rec.StudyDescription == truth.attributes["StudyDescription"]
    assert counts == {"patients": 3, "studies": 4, "series": 7, "instances": 20, "files": 21}
    # every file is counted once: 13 + 1 text file in folders, 7 members in the zip
    assert report.added == 21 and report.removed == 0 and report.unchanged == 0
    assert len(report.broken) == 1 and str(archive.broken_file) in report.broken[0]
    assert records[archive.broken_uid].Broken == 1
    assert sum(r.Broken for r in records.values()) == 1


def test_zip_members_and_common_folder(archive: Archive, tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as cat:
        cat.index([archive.root])
        p2 = cat.series(patient="P2")
        files = cat.files(p2[0].SeriesInstanceUID)
    assert len(p2) == 3
    zip_path = str(archive.zip_path)
    assert all(r.Folder.startswith(zip_path + "?s") for r in p2)
    assert all(f.path.startswith(zip_path + "?") for f in files)
    assert {f.size for f in files} == {os.path.getsize(zip_path)}


def test_queries(archive: Archive, tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.sqlite") as cat:
        cat.index([archive.root])
        assert len(cat.series(patient="P1")) == 3
        assert [r.Modality for r in cat.series(modality="ct")] == ["CT"]
        first_half = cat.series(date="2024-01-01:2024-03-31")
        assert {r.StudyDate for r in first_half} == {"20240110", "20240301"}
        assert {r.StudyDate for r in cat.series(date="2024-04-01:")} == {"20240415", "20240520"}
        assert cat.series(patient="P1", modality="CT") == []
        with pytest.raises(CatalogError, match="not YYYY-MM-DD"):
            cat.series(date="June")


def test_reindex_reads_only_changes(archive: Archive, tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    with Catalog(db) as cat:
        cat.index([archive.root])
    # a new series, a deleted file, a rewritten file
    new = make_dicom_series(archive.root / "P4", shape=(2, 8, 10), PatientID="P4")
    p1a = next(s for s in archive.series.values() if s.path.name == "a")
    gone, changed = sorted(p1a.files)[:2]
    gone.unlink()
    changed.write_bytes(changed.read_bytes())
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    with Catalog(db) as cat:
        report = cat.index([archive.root])
        rec = cat.series(uid=p1a.series_instance_uid)[0]
        p4 = cat.series(patient="P4")
    assert (report.added, report.removed, report.updated) == (2, 1, 1)
    assert report.unchanged == 21 - 1 - 1
    assert rec.Images == 2
    assert [r.SeriesInstanceUID for r in p4] == [new.series_instance_uid]


def test_reindex_of_a_changed_zip_rereads_it(archive: Archive, tmp_path: Path) -> None:
    import zipfile

    db = tmp_path / "c.sqlite"
    with Catalog(db) as cat:
        cat.index([archive.root])
    assert archive.zip_path is not None
    with zipfile.ZipFile(archive.zip_path) as zf:
        names = zf.namelist()
        keep = {n: zf.read(n) for n in names if not n.startswith("s3/")}
    with zipfile.ZipFile(archive.zip_path, "w") as zf:
        for n, data in keep.items():
            zf.writestr(n, data)
    with Catalog(db) as cat:
        report = cat.index([archive.root])
        assert [r.Modality for r in cat.series(patient="P2")] == ["MR", "MR"]
    assert report.updated == len(keep)


def test_a_file_that_is_not_a_catalogue(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(CatalogError, match="not a usable catalogue"):
        Catalog(bad).counts()


def test_tables_are_plain_sqlite(archive: Archive, tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    with Catalog(db) as cat:
        cat.index([archive.root])
    con = sqlite3.connect(db)
    try:
        (n,) = con.execute("SELECT COUNT(*) FROM instances WHERE patient_id = 'P1'").fetchone()
        kinds = dict(con.execute("SELECT kind, COUNT(*) FROM files GROUP BY kind").fetchall())
    finally:
        con.close()
    assert n == 10
    assert kinds == {"image": 19, "other": 1, "broken": 1}


def test_parse_date_range() -> None:
    assert parse_date_range("2024-01-01:2024-06-30") == ("20240101", "20240630")
    assert parse_date_range("20240101:") == ("20240101", "")


# --- command line --------------------------------------------------------------------------


def test_index_and_ls_json(archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    db = str(tmp_path / "c.sqlite")
    assert index_cli.main([str(archive.root), "--db", db]) == 0
    out, err = capsys.readouterr()
    assert "21 added" in out and "7 series" in out
    assert "truncated file" in err
    assert ls_cli.main(["--db", db, "--modality", "MR", "--date", "2024-01-01:2024-06-30"]) == 0
    text = capsys.readouterr().out
    assert "Patient P1" in text and "T2 / tra" in text and "Patient P2" in text
    assert ls_cli.main(["--db", db, "--patient", "P1", "--json"]) == 0
    series = json.loads(capsys.readouterr().out)
    assert len(series) == 3
    for s in series:
        for key in (
            "PatientID",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SeriesNumber",
            "SeriesDescription",
            "Modality",
            "Images",
            "Folder",
        ):
            assert key in s
        assert Path(s["Folder"]).is_dir()
    assert index_cli.main([str(archive.root), "--db", db]) == 0
    assert "0 added" in capsys.readouterr().out


def test_ls_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert ls_cli.main([]) == 2
    assert "PACS URL, or --db" in capsys.readouterr().err
    assert ls_cli.main(["--db", str(tmp_path / "missing.sqlite")]) == 1
    assert "imagedata index" in capsys.readouterr().err
    assert ls_cli.main(["--db", str(tmp_path / "x"), "--date", "soon"]) in (1, 2)
