"""``imagedata info``: the patient/study/series tree."""

from __future__ import annotations

import json

import pytest

from imagedata.cli import info

from .conftest import one_line, run_main, run_script


def test_tree_of_a_dicom_study(dicom_study, capsys):
    code, out, err = run_main(info.main, [dicom_study["root"]], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "Patient Synthetic^Patient (SYN0001), born 1970-01-01"
    studies = [line for line in lines if line.startswith("  Study ")]
    assert len(studies) == 2  # dyn + sag share a study; cor has its own
    assert studies[0].startswith('  Study 2024-02-29 120000 "Synthetic study"')
    assert studies[1].startswith("  Study 2024-03-01")
    text = "\n".join(lines)
    assert '    Series 3 "dyn"  MR' in text
    assert "      shape       (3, 5, 8, 10) uint16  (time, slice, row, column)" in text
    assert "      spacing     2 x 0.5 x 0.8 mm (slice, row, column)" in text
    assert "      orientation axial, slices -50 .. -42 mm" in text
    assert "      time: 0, 2.5, 5 s" in text
    assert "      orientation sagittal" in text and "      orientation coronal" in text
    # series in number order inside the first study
    assert text.index('Series 3 "dyn"') < text.index('Series 4 "sag T2"') < text.index("Series 5")


def test_json_output(dicom_study, capsys):
    code, out, _ = run_main(info.main, [dicom_study["root"], "--json"], capsys)
    assert code == 0
    patients = json.loads(out)
    assert [p["patient_id"] for p in patients] == ["SYN0001"]
    series = {s["series_number"]: s for st in patients[0]["studies"] for s in st["series"]}
    assert set(series) == {3, 4, 5}
    dyn = series[3]
    assert dyn["shape"] == [3, 5, 8, 10] and dyn["dtype"] == "uint16"
    assert dyn["axes"] == ["time", "slice", "row", "column"]
    assert dyn["spacing"] == [2.0, 0.5, 0.8]
    assert dyn["tags"]["time"] == pytest.approx([0.0, 2.5, 5.0])
    assert dyn["series_instance_uid"] == dicom_study["dyn"].series_instance_uid
    assert dyn["first_position"] == pytest.approx(list(dicom_study["dyn"].positions[0]))
    assert series[4]["orientation"] == "sagittal"
    assert series[4]["image_orientation_patient"] == [0, 1, 0, 0, 0, -1]


def test_nifti_and_dicom_inputs_together(nifti_input, dicom_study, capsys):
    path, _ = nifti_input
    code, out, _ = run_main(info.main, [dicom_study["sag"].path, path, "--json"], capsys)
    assert code == 0
    patients = {p["patient_id"]: p for p in json.loads(out)}
    assert set(patients) == {"SYN0001", "P123"}
    nifti = patients["P123"]["studies"][0]["series"][0]
    assert nifti["input_format"] == "nifti" and nifti["shape"] == [3, 5, 8, 10]


def test_series_selection(dicom_study, capsys):
    code, out, _ = run_main(info.main, [dicom_study["root"], "--series", "4"], capsys)
    assert code == 0
    assert 'Series 4 "sag T2"' in out and "Series 3" not in out


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("nope", None, "nope: no such file or folder"),
        ("notes.txt", b"hello\n" * 100, "notes.txt: not in a known format"),
        ("broken.nii", b"\x00" * 400, "broken.nii"),
        ("empty_folder", "dir", "no files found in"),
    ],
)
def test_bad_input_one_line_exit_1(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    code, out, err = run_main(info.main, [path], capsys)
    assert code == 1 and out == ""
    line = one_line(err)
    assert line.startswith("imagedata info: ") and expected in line


def test_console_script(dicom_study):
    done = run_script("imagedata", "info", dicom_study["sag"].path)
    assert done.returncode == 0, done.stderr
    assert 'Series 4 "sag T2"' in done.stdout and "orientation sagittal" in done.stdout
    bad = run_script("imagedata", "info", "--bogus")
    assert bad.returncode == 2 and one_line(bad.stderr).startswith("imagedata info: ")


def test_real_dynamic_series(testdata, capsys):
    code, out, err = run_main(info.main, [testdata / "dicom" / "time_all", "--json"], capsys)
    assert (code, err) == (0, "")
    (series,) = json.loads(out)[0]["studies"][0]["series"]
    assert series["shape"] == [3, 3, 192, 152]
    assert series["tags"]["time"] == pytest.approx([0.0, 2.9875, 5.975])
    assert series["orientation"] == "coronal"
    assert series["series_description"] == "fl3d_dynamic"
