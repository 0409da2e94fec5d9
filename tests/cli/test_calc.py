"""``imagedata calc``: voxel-wise arithmetic with the restricted grammar, never eval."""

from __future__ import annotations

import numpy as np
import pytest

from imagedata.cli import calc
from imagedata.series import Series

from .conftest import one_line, run_main, run_script


def test_ratio_of_two_series_keeps_geometry_and_header_of_the_first(dicom_study, tmp_path, capsys):
    a = dicom_study["sag"]
    b_path = tmp_path / "b.nii.gz"
    b = Series(str(a.path)) * 2 + 1
    b.write(b_path, formats=["nifti"])
    out = tmp_path / "ratio.nii.gz"
    code, stdout, err = run_main(
        calc.main, ["(a - b) / (a + b)", out, f"a={a.path}", f"b={b_path}"], capsys
    )
    assert (code, err) == (0, "")
    assert stdout == f"{out}: nifti, shape (6, 8, 10) float32\n"
    result = Series(str(out))
    da, db = a.data.astype(np.float64), a.data * 2.0 + 1
    assert result.dtype == np.float32
    assert np.allclose(np.asarray(result), (da - db) / (da + db))
    assert np.allclose(result.affine, a.affine)
    assert result.patientID == a.patient_id
    assert result.studyInstanceUID == Series(str(a.path)).studyInstanceUID
    assert result.seriesInstanceUID != a.series_instance_uid
    assert result.seriesDescription == "imagedata calc (a - b) / (a + b)"


def test_dicom_output_with_dtype_sernum_and_serdes(dicom_study, tmp_path, capsys):
    a = dicom_study["dyn"]
    out = tmp_path / "mask"
    argv = [
        "where(a > 200, 1, 0)",
        out,
        f"a={a.path}",
        "--dtype",
        "uint8",
        "--sernum",
        "77",
        "--serdes",
        "bright",
        "--quiet",
    ]
    code, stdout, err = run_main(calc.main, argv, capsys)
    assert (code, stdout, err) == (0, "", "")
    result = Series(str(out))
    assert result.shape == a.data.shape
    assert np.array_equal(np.asarray(result), (a.data > 200).astype(np.uint8))
    assert (result.seriesNumber, result.seriesDescription) == (77, "bright")
    assert np.allclose(result.timeline, a.timeline)


def test_comparison_gives_uint8_and_clipping_warns(nifti_input, tmp_path, capsys):
    path, si = nifti_input
    assert (
        run_main(calc.main, ["a > 100", tmp_path / "m.nii.gz", f"a={path}", "-q"], capsys)[0] == 0
    )
    m = Series(str(tmp_path / "m.nii.gz"))
    assert m.dtype == np.uint8 and np.array_equal(np.asarray(m), np.asarray(si) > 100)
    code, _, err = run_main(
        calc.main,
        ["a * 1000", tmp_path / "c.nii.gz", f"a={path}", "--dtype", "int16"],
        capsys,
    )
    assert code == 0
    assert one_line(err).startswith("imagedata calc: warning: the data range 0 .. ")
    assert np.asarray(Series(str(tmp_path / "c.nii.gz"))).max() == 32767


def test_reductions_broadcast_back_to_the_input_shape(nifti_input, tmp_path, capsys):
    path, si = nifti_input
    assert (
        run_main(calc.main, ["a - mean(a)", tmp_path / "z.nii.gz", f"a={path}", "-q"], capsys)[0]
        == 0
    )
    z = np.asarray(Series(str(tmp_path / "z.nii.gz")))
    assert z.shape == si.shape and abs(float(z.mean())) < 1e-3


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("__import__('os').system('touch {tmp}/pwned')", "attribute access"),
        ("__import__('os')", "the function '__import__' is not allowed"),
        ("a.__class__.__bases__", "attribute access"),
        ("open('{tmp}/pwned', 'w')", "the function 'open' is not allowed"),
        ("a +* 2", "malformed expression"),
        ("a + c", "unknown name 'c'"),
        ("lambda: a", "lambda"),
        ("a[0]", "indexing"),
    ],
)
def test_forbidden_or_malformed_expressions_exit_2_before_reading(
    nifti_input, tmp_path, capsys, expression, expected
):
    path, _ = nifti_input
    out = tmp_path / "out.nii.gz"
    code, stdout, err = run_main(
        calc.main, [expression.format(tmp=tmp_path), out, f"a={path}"], capsys
    )
    assert code == 2 and stdout == ""
    line = one_line(err)
    assert line.startswith("imagedata calc: ") and expected in line
    assert not out.exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("bindings", "code", "expected"),
    [
        (["a"], 2, "'a' is not NAME=INPUT"),
        (["1a={path}"], 2, "'1a' is not a valid input name"),
        (["sqrt={path}"], 2, "is a function or constant name"),
        (["a={path}", "a={path}"], 2, "bound twice"),
        (["a={path}", "b={path}"], 2, "the input(s) b are not used"),
        (["a={tmp}/missing.nii.gz"], 1, "missing.nii.gz: no such file or folder"),
        (["a={tmp}/notes.txt"], 1, "notes.txt: not in a known format"),
        (["a={tmp}/bad.nii.gz"], 1, "bad.nii.gz"),
    ],
)
def test_bad_bindings_and_inputs(nifti_input, tmp_path, capsys, bindings, code, expected):
    path, _ = nifti_input
    (tmp_path / "notes.txt").write_text("hello\n" * 100)
    (tmp_path / "bad.nii.gz").write_bytes(b"\x1f\x8b\x08 broken")
    argv = ["a * 2", tmp_path / "o.nii.gz", *[b.format(path=path, tmp=tmp_path) for b in bindings]]
    got, _, err = run_main(calc.main, argv, capsys)
    assert got == code
    assert expected in one_line(err)


def test_inputs_that_do_not_fit(nifti_input, nifti_3d, tmp_path, capsys):
    path, _ = nifti_input
    other, _ = nifti_3d
    code, _, err = run_main(
        calc.main, ["a + b", tmp_path / "o.nii.gz", f"a={path}", f"b={other}"], capsys
    )
    assert code == 1
    assert "the inputs cannot be combined (a: (3, 5, 8, 10), b: (4, 6, 7))" in one_line(err)


def test_unknown_output_format_is_a_usage_error(nifti_input, tmp_path, capsys):
    path, _ = nifti_input
    code, _, err = run_main(calc.main, ["a", tmp_path / "o", f"a={path}", "--to", "png"], capsys)
    assert code == 2 and "unknown format 'png'" in one_line(err)


def test_console_script(nifti_input, tmp_path):
    path, si = nifti_input
    done = run_script("imagedata", "calc", "sqrt(a) * 2", tmp_path / "s.nii.gz", f"a={path}")
    assert done.returncode == 0, done.stderr
    assert np.allclose(np.asarray(Series(str(tmp_path / "s.nii.gz"))), np.sqrt(np.asarray(si)) * 2)
    bad = run_script("imagedata", "calc", "__import__('os').getcwd()", tmp_path / "x", f"a={path}")
    assert bad.returncode == 2
    assert one_line(bad.stderr).startswith("imagedata calc: attribute access")


def test_float_result_becomes_a_parametric_map_and_a_mask_a_seg(dicom_study, tmp_path, capsys):
    pytest.importorskip("highdicom", reason="Parametric Maps need highdicom (imagedata[derived])")
    import pydicom

    a = dicom_study["sag"]
    out = tmp_path / "ratio"
    code, _, err = run_main(calc.main, ["a / 7", out, f"a={a.path}", "--units", "1"], capsys)
    assert (code, err) == (0, "")
    files = sorted(out.iterdir())
    assert len(files) == 1
    assert pydicom.dcmread(files[0]).SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    back = Series(str(out))
    want = (a.data.astype(np.float64) / 7).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(back), want)  # no quantisation
    seg = tmp_path / "seg"
    argv = ["a > 100", seg, f"a={a.path}", "--iod", "seg", "--segment", "1=bright"]
    code, _, err = run_main(calc.main, argv, capsys)
    assert (code, err) == (0, "")
    ds = pydicom.dcmread(next(seg.iterdir()))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert ds.SegmentSequence[0].SegmentLabel == "bright"
    np.testing.assert_array_equal(np.asarray(Series(str(seg))) > 0, a.data > 100)


def test_iod_options_are_checked(dicom_study, tmp_path, capsys):
    a = dicom_study["sag"]
    argv = ["a / 7", tmp_path / "x.nii.gz", f"a={a.path}", "--iod", "parametric-map"]
    code, _, err = run_main(calc.main, argv, capsys)
    assert code != 0
    assert "only apply to DICOM output" in one_line(err)
    argv = ["a / 7", tmp_path / "y", f"a={a.path}", "--segment", "one=x"]
    code, _, err = run_main(calc.main, argv, capsys)
    assert code != 0
    assert "N=NAME" in one_line(err)
