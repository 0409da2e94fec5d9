"""``imagedata stats``: voxel statistics per series, per tag, inside a mask."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imagedata.cli import stats
from imagedata.series import Series

from .conftest import one_line, run_main, run_script


def expected(values):
    v = np.asarray(values, dtype=np.float64).ravel()
    return {
        "count": v.size,
        "min": v.min(),
        "max": v.max(),
        "mean": v.mean(),
        "std": v.std(),
        "median": float(np.median(v)),
    }


def test_json_statistics_per_series(dicom_study, capsys):
    code, out, err = run_main(stats.main, [dicom_study["root"], "--json"], capsys)
    assert (code, err) == (0, "")
    report = {entry["series_number"]: entry for entry in json.loads(out)}
    assert set(report) == {3, 4, 5}
    for number, key in ((3, "dyn"), (4, "sag"), (5, "cor")):
        (row,) = report[number]["rows"]
        assert row == pytest.approx({"tag": None, **expected(dicom_study[key].data)})


def test_per_tag_rows(dicom_study, capsys):
    truth = dicom_study["dyn"]
    code, out, _ = run_main(stats.main, [truth.path, "--per-tag", "--json"], capsys)
    assert code == 0
    (entry,) = json.loads(out)
    assert [r["tag"] for r in entry["rows"]] == ["time 0 s", "time 2.5 s", "time 5 s"]
    for t, row in enumerate(entry["rows"]):
        assert {k: v for k, v in row.items() if k != "tag"} == pytest.approx(
            expected(truth.data[t])
        )


def test_table_output(dicom_study, capsys):
    code, out, _ = run_main(stats.main, [dicom_study["dyn"].path, "--per-tag"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == 'Series 3 "dyn"  shape (3, 5, 8, 10) uint16'
    assert lines[1].split() == ["count", "min", "max", "mean", "std", "median"]
    assert lines[3].split()[:5] == ["time", "2.5", "s", "400", "97"]


def test_mask_3d_on_4d_series(dicom_study, tmp_path, capsys):
    truth = dicom_study["dyn"]
    si = Series(str(truth.path))
    mask = np.zeros(si.shape[1:], dtype=np.uint8)
    mask[1:3, 2:5, 3:7] = 1
    mask_path = tmp_path / "mask.nii.gz"
    Series(mask, geometry=si[0]).write(mask_path, formats=["nifti"])
    code, out, err = run_main(
        stats.main, [truth.path, "--mask", mask_path, "--per-tag", "--json"], capsys
    )
    assert (code, err) == (0, ""), err
    rows = json.loads(out)[0]["rows"]
    for t, row in enumerate(rows):
        assert row["count"] == 2 * 3 * 4
        assert row["mean"] == pytest.approx(truth.data[t][mask > 0].mean())


def test_mask_of_the_wrong_shape(dicom_study, tmp_path, capsys):
    mask_path = tmp_path / "small.nii.gz"
    Series(np.ones((2, 3, 4), dtype=np.uint8)).write(mask_path, formats=["nifti"])
    code, _, err = run_main(stats.main, [dicom_study["sag"].path, "--mask", mask_path], capsys)
    assert code == 1
    line = one_line(err)
    assert "small.nii.gz: mask shape (2, 3, 4) fits neither the series shape (6, 8, 10)" in line


@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        (["nope"], 1, "nope: no such file or folder"),
        (["{tmp}/notes.txt"], 1, "not in a known format"),
        (["{tmp}/bad.nii.gz"], 1, "bad.nii.gz: not a readable NIfTI file"),
        (["{sag}", "--mask", "{tmp}/nomask.nii"], 1, "nomask.nii: no such file or folder"),
        ([], 2, "required"),
    ],
)
def test_bad_input(dicom_study, tmp_path, capsys, argv, code, expected):
    (tmp_path / "notes.txt").write_text("hello\n" * 100)
    (tmp_path / "bad.nii.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    argv = [a.format(tmp=tmp_path, sag=dicom_study["sag"].path) for a in argv]
    got, out, err = run_main(stats.main, argv, capsys)
    assert got == code and out == ""
    assert expected in one_line(err)


def test_console_script(dicom_study):
    done = run_script("imagedata", "stats", dicom_study["sag"].path, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["rows"][0]["count"] == 6 * 8 * 10
