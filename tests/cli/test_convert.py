"""``imagedata convert`` and its 3.x alias ``image_data``."""

from __future__ import annotations

import numpy as np
import pytest

from imagedata.cli import convert
from imagedata.series import Series

from .conftest import one_line, run_main, run_script


def test_convert_nifti_to_metaimage_keeps_voxels_geometry_and_tags(nifti_input, tmp_path, capsys):
    path, si = nifti_input
    out = tmp_path / "out.mha"
    code, stdout, err = run_main(convert.main, [path, out], capsys)
    assert (code, err) == (0, "")
    assert f"{out}: itk" in stdout
    back = Series(str(out))
    assert np.array_equal(np.asarray(back), np.asarray(si))
    assert np.allclose(back.affine, si.affine)
    assert np.allclose(back.timeline, si.timeline)


def test_convert_to_replaces_the_format_and_names_the_file_in_a_folder(
    nifti_input, tmp_path, capsys
):
    path, si = nifti_input
    out = tmp_path / "nrrd_out"
    code, _, err = run_main(convert.main, [path, out, "--to", "nrrd", "--quiet"], capsys)
    assert (code, err) == (0, "")
    files = sorted(p.name for p in out.iterdir() if p.name.endswith((".nrrd", ".nhdr")))
    assert len(files) == 1
    assert np.array_equal(np.asarray(Series(str(out / files[0]))), np.asarray(si))


def test_convert_sets_series_number_and_description(nifti_input, tmp_path, capsys):
    path, _ = nifti_input
    out = tmp_path / "renamed.nii.gz"
    code, _, _ = run_main(
        convert.main, [path, out, "--sernum", "42", "--serdes", "Motion corrected"], capsys
    )
    assert code == 0
    back = Series(str(out))
    assert back.seriesNumber == 42
    assert back.seriesDescription == "Motion corrected"
    assert back.patientName == "Doe^Jane"


def test_convert_with_template_and_geometry(nifti_input, nifti_3d, tmp_path, capsys):
    path, _ = nifti_input
    sag_path, sag = nifti_3d
    plain = Series(np.ones(sag.shape, dtype=np.int16))
    plain_path = tmp_path / "plain.nii.gz"
    plain.write(plain_path, formats=["nifti"])
    out = tmp_path / "derived.nii.gz"
    code, _, err = run_main(
        convert.main, [plain_path, out, "--template", path, "--geometry", sag_path], capsys
    )
    assert (code, err) == (0, "")
    back = Series(str(out))
    assert back.patientID == "P123"  # from the template
    assert np.allclose(back.affine, sag.affine)  # from the geometry


def test_existing_output_needs_overwrite(nifti_input, tmp_path, capsys):
    path, _ = nifti_input
    out = tmp_path / "out.nii.gz"
    assert run_main(convert.main, [path, out, "-q"], capsys)[0] == 0
    code, _, err = run_main(convert.main, [path, out], capsys)
    assert code == 1
    line = one_line(err)
    assert line.startswith("imagedata convert: ") and str(out) in line and "overwrite" in line
    assert run_main(convert.main, [path, out, "--overwrite", "-q"], capsys)[0] == 0


def test_output_that_is_the_input_is_refused(nifti_input, capsys):
    path, _ = nifti_input
    code, _, err = run_main(convert.main, [path, path.parent, "--overwrite"], capsys)
    assert code == 2
    assert "is or holds the input" in one_line(err)
    assert path.exists()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing_folder", "missing_folder: no such file or folder"),
        (lambda d: _write(d / "broken.nii.gz", b"\x1f\x8b not really gzip"), "broken.nii.gz"),
        (lambda d: _write(d / "notes.txt", b"just some text, not an image\n" * 20), "notes.txt"),
        (lambda d: _write(d / "empty.mha", b""), "empty.mha"),
    ],
    ids=["missing", "corrupt", "unknown-format", "empty-file"],
)
def test_bad_inputs_give_one_line_naming_the_file(tmp_path, capsys, make, expected):
    bad = make(tmp_path)
    code, _, err = run_main(convert.main, [bad, tmp_path / "out.nii.gz"], capsys)
    assert code == 1
    line = one_line(err)
    assert line.startswith("imagedata convert: ") and expected in line
    assert "Traceback" not in err


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "required"),
        (["only_one"], "give at least one INPUT and the OUTPUT"),
        (["in", "out", "--to", "jpeg"], "unknown format 'jpeg'"),
        (["in", "out", "--sernum", "x"], "invalid int value"),
        (["in", "out", "--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, expected):
    code, _, err = run_main(convert.main, argv, capsys)
    assert code == 2
    assert expected in one_line(err)


def test_image_data_legacy_order_output_first(nifti_input, tmp_path, capsys):
    path, si = nifti_input
    out = tmp_path / "legacy_%p"
    code = convert.main([str(out), str(path), "--of", "nifti", "--of", "itk", "-q"], legacy=True)
    assert code == 0, capsys.readouterr().err
    for fmt, ext in (("nifti", ".nii.gz"), ("itk", ".mha")):
        files = [f for f in (tmp_path / f"legacy_{fmt}").iterdir() if f.name.endswith(ext)]
        assert len(files) == 1  # beside a possible JSON sidecar
        assert np.array_equal(np.asarray(Series(str(files[0]))), np.asarray(si))


def test_several_formats_need_a_placeholder(nifti_input, tmp_path, capsys):
    path, _ = nifti_input
    code = convert.main(
        [str(tmp_path / "o"), str(path), "--of", "nifti", "--of", "itk"], legacy=True
    )
    assert code == 2
    assert "%p" in one_line(capsys.readouterr().err)


def test_console_scripts_imagedata_convert_and_image_data(nifti_input, tmp_path):
    path, si = nifti_input
    done = run_script("imagedata", "convert", path, tmp_path / "a.mha")
    assert done.returncode == 0, done.stderr
    legacy = run_script("image_data", tmp_path / "b.nii", path, "--of", "nifti")
    assert legacy.returncode == 0, legacy.stderr
    for name in ("a.mha", "b.nii"):
        assert np.array_equal(np.asarray(Series(str(tmp_path / name))), np.asarray(si))
    bad = run_script("imagedata", "convert", tmp_path / "nope", tmp_path / "c.mha")
    assert bad.returncode == 1
    assert (
        one_line(bad.stderr)
        == f"imagedata convert: {tmp_path / 'nope'}: no such file or folder; check the path"
    )
    usage = run_script("image_data")
    assert usage.returncode == 2 and one_line(usage.stderr).startswith("image_data: ")


# --- DICOM input with several series -------------------------------------------------------


def test_several_series_go_to_one_sub_folder_each(dicom_study, tmp_path, capsys):
    out = tmp_path / "sorted"
    code, stdout, err = run_main(convert.main, [dicom_study["root"], out, "--to", "nifti"], capsys)
    assert (code, err) == (0, "")
    assert sorted(p.name for p in out.iterdir()) == ["3_dyn", "4_sag_T2", "5_cor"]
    for name, key in (("3_dyn", "dyn"), ("4_sag_T2", "sag"), ("5_cor", "cor")):
        truth = dicom_study[key]
        back = Series(str(next((out / name).glob("*.nii.gz"))))
        assert np.array_equal(np.asarray(back), truth.data), name
        assert np.allclose(back.affine, truth.affine), name
    assert len(stdout.splitlines()) == 3


def test_several_series_to_files_named_after_output(dicom_study, tmp_path, capsys):
    code, _, err = run_main(convert.main, [dicom_study["root"], tmp_path / "x.mha"], capsys)
    assert (code, err) == (0, "")
    names = sorted(p.name for p in tmp_path.glob("x_*.mha"))
    assert names == ["x_3_dyn.mha", "x_4_sag_T2.mha", "x_5_cor.mha"]


def test_series_option_picks_one(dicom_study, tmp_path, capsys):
    out = tmp_path / "sag.nii.gz"
    argv = [dicom_study["root"], out, "--series", "sag T2", "-q"]
    assert run_main(convert.main, argv, capsys)[0] == 0
    assert np.array_equal(np.asarray(Series(str(out))), dicom_study["sag"].data)
    code, _, err = run_main(convert.main, [dicom_study["root"], out, "--series", "99"], capsys)
    assert code == 1
    assert "no series matches series=99" in one_line(err) and "--series" in err


def test_dicom_to_dicom_keep_uid_and_new_uid(dicom_study, tmp_path, capsys):
    truth = dicom_study["sag"]
    keep, new = tmp_path / "keep", tmp_path / "new"
    assert run_main(convert.main, [truth.path, keep, "--keep-uid", "-q"], capsys)[0] == 0
    assert run_main(convert.main, [truth.path, new, "--sernum", "40", "-q"], capsys)[0] == 0
    kept, renewed = Series(str(keep)), Series(str(new))
    assert kept.seriesInstanceUID == truth.series_instance_uid
    assert renewed.seriesInstanceUID != truth.series_instance_uid
    assert renewed.seriesNumber == 40
    assert np.array_equal(np.asarray(kept), truth.data)
    assert renewed.patientID == truth.patient_id


def test_sernum_with_several_series_is_a_usage_error(dicom_study, tmp_path, capsys):
    code, _, err = run_main(
        convert.main, [dicom_study["root"], tmp_path / "o", "--sernum", "9"], capsys
    )
    assert code == 2
    assert "holds 3 series" in one_line(err)


def test_dtype_rounds_and_clips_with_a_warning(nifti_input, tmp_path, capsys):
    path, si = nifti_input
    out = tmp_path / "u8.nii.gz"
    code, _, err = run_main(convert.main, [path, out, "--dtype", "uint8"], capsys)
    assert code == 0
    assert one_line(err).startswith("imagedata convert: warning: the data range 0 .. ")
    back = Series(str(out))
    assert back.dtype == np.uint8
    assert np.array_equal(np.asarray(back), np.clip(np.asarray(si), 0, 255))
    assert np.allclose(back.affine, si.affine) and back.seriesDescription == "dyn"


def test_template_holding_several_series_is_refused(nifti_input, dicom_study, tmp_path, capsys):
    path, _ = nifti_input
    argv = [path, tmp_path / "o.nii.gz", "--template", dicom_study["root"]]
    code, _, err = run_main(convert.main, argv, capsys)
    assert code == 1
    line = one_line(err)
    assert line.startswith(f"imagedata convert: --template {dicom_study['root']}: ")
    assert "holds 3 series" in line and "give the folder or file of one series" in line


def test_convert_iod_image_keeps_images_and_iod_pm_writes_a_map(dicom_study, tmp_path, capsys):
    pytest.importorskip("highdicom", reason="Parametric Maps need highdicom (imagedata[derived])")
    import pydicom

    src = Series(str(dicom_study["sag"].path))
    f = src.astype(np.float32) / 3
    nii = tmp_path / "f.nii.gz"
    pytest.importorskip("nibabel", reason="NIfTI needs nibabel (imagedata[nifti])")
    f.write(nii, formats=["nifti"])  # the embedded header keeps the source record
    code, _, err = run_main(
        convert.main, [str(nii), str(tmp_path / "pm"), "--to", "dicom", "--iod", "pm"], capsys
    )
    assert code != 0  # argparse choices: 'pm' is not one of them
    code, _, err = run_main(
        convert.main,
        [
            str(nii),
            str(tmp_path / "pm"),
            "--to",
            "dicom",
            "--iod",
            "parametric-map",
            "--units",
            "ms",
        ],
        capsys,
    )
    assert (code, err) == (0, "")
    ds = pydicom.dcmread(next((tmp_path / "pm").iterdir()))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    assert ds.PatientID == src.header.template.PatientID
    np.testing.assert_array_equal(np.asarray(Series(str(tmp_path / "pm"))), np.asarray(f))
    code, _, err = run_main(
        convert.main, [str(nii), str(tmp_path / "img"), "--to", "dicom", "--iod", "image"], capsys
    )
    assert code == 0
    assert "quantised" in err
    assert len(list((tmp_path / "img").iterdir())) == src.shape[0]


def test_image_data_writes_images_as_3x_did(dicom_study, tmp_path, capsys):
    """``image_data`` keeps 3.x output (images) where ``imagedata convert`` writes a map."""
    pytest.importorskip("highdicom", reason="Parametric Maps need highdicom (imagedata[derived])")
    pytest.importorskip("nibabel", reason="NIfTI needs nibabel (imagedata[nifti])")
    import pydicom

    src = Series(str(dicom_study["sag"].path))
    nii = tmp_path / "f.nii.gz"
    (src.astype(np.float32) / 3).write(nii, formats=["nifti"])  # keeps the source record
    code = convert.main([str(tmp_path / "old"), str(nii), "--of", "dicom", "-q"], legacy=True)
    assert code == 0
    files = sorted((tmp_path / "old").rglob("*.dcm"))
    assert len(files) == src.shape[0]
    assert pydicom.dcmread(files[0]).SOPClassUID == "1.2.840.10008.5.1.4.1.1.4"
    code, _, _ = run_main(convert.main, [str(nii), str(tmp_path / "new"), "--to", "dicom"], capsys)
    assert code == 0
    files = sorted((tmp_path / "new").rglob("*.dcm"))
    assert [pydicom.dcmread(f).SOPClassUID for f in files] == ["1.2.840.10008.5.1.4.1.1.30"]
