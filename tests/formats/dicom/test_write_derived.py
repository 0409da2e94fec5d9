"""Parametric Maps and SEGs: written with highdicom, checked by dciodvfy and highdicom."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata.errors import WriteError
from imagedata.formats.dicom._derived import IOD, source_references
from imagedata.formats.dicom._parametric import units_of
from imagedata.formats.dicom._seg import segment_names
from imagedata.formats.dicom.writer import build_datasets
from imagedata.series import Series
from imagedata.testing import make_dicom_series
from tests.formats.dicom._helpers import dciodvfy

hd = pytest.importorskip("highdicom", reason="highdicom (imagedata[derived]) is not installed")

PM = "1.2.840.10008.5.1.4.1.1.30"
SEG = "1.2.840.10008.5.1.4.1.1.66.4"


def _source(tmp: Path, shape: tuple[int, ...] = (4, 6, 8), **kw: object) -> Series:
    truth = make_dicom_series(tmp / "src", shape, **kw)  # type: ignore[arg-type]
    return Series(truth.path)


def _only(folder: Path) -> pydicom.Dataset:
    files = sorted(folder.rglob("*.dcm"))
    assert len(files) == 1, files
    return pydicom.dcmread(files[0])


def _referenced_uids(ds: pydicom.Dataset) -> set[str]:
    return {
        str(inst.ReferencedSOPInstanceUID)
        for series in ds.ReferencedSeriesSequence
        for inst in series.ReferencedInstanceSequence
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("orientation", ["axial", "oblique", "sagittal"])
def test_parametric_map_round_trip_is_bit_exact(
    tmp_path: Path, dtype: type, orientation: str
) -> None:
    src = _source(tmp_path, orientation=orientation)
    adc = (src.astype(dtype) * dtype(1.234e-5)).astype(dtype)
    adc[0, 0, 0] = dtype(np.pi)  # a value no 16-bit rescale holds with the others
    adc.write(tmp_path / "pm", formats=["dicom"], iod="parametric-map", units="mm2/s", serdes="ADC")
    ds = _only(tmp_path / "pm")
    assert ds.SOPClassUID == PM
    assert ("FloatPixelData" if dtype == np.float32 else "DoubleFloatPixelData") in ds
    assert dciodvfy(tmp_path / "pm" / "Image_00000.dcm") == []
    assert ds.PatientID == src.header.template.PatientID
    assert ds.StudyInstanceUID == src.header.template.StudyInstanceUID
    assert ds.FrameOfReferenceUID == src.header.template.FrameOfReferenceUID
    assert ds.SeriesInstanceUID != src.header.template.SeriesInstanceUID
    assert ds.SeriesDescription == "ADC"
    assert _referenced_uids(ds) == {
        str(r.SOPInstanceUID) for r in source_references(src.header.template)[0]
    }
    # highdicom reads it and finds the units and the values
    pm = hd.pm.ParametricMap.from_dataset(ds)
    unit = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert unit.MeasurementUnitsCodeSequence[0].CodeValue == "mm2/s"
    assert pm.NumberOfFrames == src.shape[0]
    back = Series(tmp_path / "pm")
    assert back.dtype == dtype
    assert back.shape == adc.shape
    np.testing.assert_array_equal(np.asarray(back), np.asarray(adc))  # bit-exact
    np.testing.assert_allclose(back.affine, src.affine, atol=1e-6)
    assert units_of(back.header.template) == "mm2/s"


def test_parametric_map_of_a_cropped_map_references_its_slices_only(tmp_path: Path) -> None:
    src = _source(tmp_path, (5, 6, 8))
    part = (src.astype(np.float32) / 3)[1:3]
    ds = next(build_datasets(part, iod="parametric-map"))
    refs, positions = source_references(src.header.template)
    want = {
        str(r.SOPInstanceUID)
        for r, p in zip(refs, positions)
        if np.any(np.linalg.norm(part.header.slice_positions() - p, axis=1) < 0.01)
    }
    assert len(want) == 2
    assert _referenced_uids(ds) == want


def test_parametric_map_from_a_4d_series_references_every_tag(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "src", (3, 4, 6, 8), order="b", tag_values=[0, 500, 1000])
    dwi = Series(truth.path, input_order="b")
    adc = (np.log(dwi[0].astype(np.float64) + 1) - np.log(dwi[2].astype(np.float64) + 1)) / 1000
    ds = next(build_datasets(adc, iod="parametric-map", units="mm2/s"))
    assert len(_referenced_uids(ds)) == 12  # 3 b-values x 4 slices lie on the map's planes


def test_auto_chooses_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = _source(tmp_path)
    caplog.set_level(logging.INFO, logger="imagedata.formats.dicom._iod")
    cases = [
        (src.astype(np.float32) / 7, PM, "cannot hold exactly"),
        (src.astype(np.float32), "1.2.840.10008.5.1.4.1.1.4", "hold exactly"),  # whole numbers
        (src, "1.2.840.10008.5.1.4.1.1.4", "uint16 data"),
        (src > 100, "1.2.840.10008.5.1.4.1.1.4", "bool data"),
        (Series(np.asarray(src, np.float32) / 7), "1.2.840.10008.5.1.4.1.1.7", "without source"),
    ]
    for si, sop_class, why in cases:
        caplog.clear()
        with np.errstate(all="ignore"), pytest.warns() if "without source" in why else _nothing():
            first = next(build_datasets(si))
        assert first.SOPClassUID == sop_class, why
        assert why in caplog.text


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_parametric_map_needs_its_source(tmp_path: Path) -> None:
    bare = Series(np.random.default_rng(0).random((3, 4, 5)).astype(np.float32))
    with pytest.raises(WriteError, match="source="):
        next(build_datasets(bare, iod="parametric-map"))
    # source= names the series it came from: all its images are referenced (no plane matches)
    src = _source(tmp_path, (3, 4, 5))
    ds = next(build_datasets(bare, iod="parametric-map", source=src))
    assert len(_referenced_uids(ds)) == 3
    assert ds.PatientID == src.header.template.PatientID


def test_parametric_map_refuses_tag_axes_and_complex(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "src", (2, 3, 4, 5), order="time")
    four = Series(truth.path, input_order="time").astype(np.float32) / 3
    with pytest.raises(WriteError, match="si\\[0\\]"):
        next(build_datasets(four, iod="parametric-map"))
    with pytest.raises(ValueError, match="iod='nope'"):
        next(build_datasets(four, iod="nope"))


def test_parametric_map_to_zip(tmp_path: Path) -> None:
    src = _source(tmp_path)
    m = src.astype(np.float32) / 7
    written = m.write(tmp_path / "pm.zip", formats=["dicom"], iod="pm", units="ms")
    assert written == [str(tmp_path / "pm.zip")]
    assert zipfile.ZipFile(tmp_path / "pm.zip").namelist() == ["Image_00000.dcm"]
    back = Series(tmp_path / "pm.zip")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(m))


@pytest.mark.parametrize("orientation", ["axial", "sagittal", "oblique"])
def test_seg_label_round_trip_on_source_geometry(tmp_path: Path, orientation: str) -> None:
    src = _source(tmp_path, (5, 6, 8), orientation=orientation)
    labels = np.zeros(src.shape, np.uint8)
    labels[1:3, 2:4, 2:5] = 1
    labels[2, 4, 5:7] = 2  # slices 0 and 4 stay empty: still written
    lab = Series(labels, template=src, geometry=src)
    lab.write(
        tmp_path / "seg",
        formats=["dicom"],
        iod="seg",
        segments={1: "tumour", 2: ("oedema", "around the tumour")},
    )
    ds = _only(tmp_path / "seg")
    assert ds.SOPClassUID == SEG
    assert dciodvfy(tmp_path / "seg" / "Image_00000.dcm") == []
    assert ds.NumberOfFrames == 10  # 5 planes x 2 segments
    assert [s.SegmentLabel for s in ds.SegmentSequence] == ["tumour", "oedema"]
    assert ds.SegmentSequence[1].SegmentDescription == "around the tumour"
    seg = hd.seg.Segmentation.from_dataset(ds)
    assert list(seg.segment_numbers) == [1, 2]
    assert _referenced_uids(ds) == {
        str(r.SOPInstanceUID) for r in source_references(src.header.template)[0]
    }
    back = Series(tmp_path / "seg")
    assert back.shape == src.shape
    np.testing.assert_array_equal(np.asarray(back), labels)
    np.testing.assert_allclose(back.affine, src.affine, atol=1e-5)
    assert segment_names(back.header.template) == {1: "tumour", 2: "oedema"}


def test_seg_mask_and_fractional(tmp_path: Path) -> None:
    src = _source(tmp_path)
    mask = src > float(np.median(src))
    mask.write(tmp_path / "mask", formats=["dicom"], iod="seg", serdes="liver")
    assert dciodvfy(tmp_path / "mask" / "Image_00000.dcm") == []
    back = Series(tmp_path / "mask")
    assert back.dtype == bool
    np.testing.assert_array_equal(np.asarray(back), np.asarray(mask))
    assert segment_names(back.header.template) == {1: "liver"}
    prob = (src.astype(np.float32) / float(src.max())).astype(np.float32)
    prob.write(tmp_path / "prob", formats=["dicom"], iod="seg")
    ds = _only(tmp_path / "prob")
    assert ds.SegmentationType == "FRACTIONAL"
    assert dciodvfy(tmp_path / "prob" / "Image_00000.dcm") == []
    back = Series(tmp_path / "prob")
    assert np.abs(np.asarray(back) - np.asarray(prob)).max() <= 0.5 / 255 + 1e-6


def test_seg_refuses_what_it_cannot_hold(tmp_path: Path) -> None:
    src = _source(tmp_path)
    lab = Series(np.ones(src.shape, np.int16), template=src, geometry=src)
    with pytest.raises(WriteError, match=r"labels 1\.\.1"):
        next(build_datasets(lab, iod="seg", segments={3: "x"}))
    lab[0, 0, 0] = -1
    with pytest.raises(WriteError, match=">= 0"):
        next(build_datasets(lab, iod="seg"))
    with pytest.raises(WriteError, match="\\[0, 1\\]"):
        next(build_datasets(src.astype(np.float32) * 2, iod="seg"))
    with pytest.raises(WriteError, match="enhanced"):
        next(build_datasets(src > 3, iod="seg", enhanced=True))


def test_iod_parse() -> None:
    assert IOD.parse("Parametric_Map") is IOD.PARAMETRIC_MAP
    assert IOD.parse(IOD.SEG) is IOD.SEG
    with pytest.raises(ValueError, match="one of"):
        IOD.parse("rtstruct")


def test_real_dwi_adc_and_mask(testdata: Path, tmp_path: Path) -> None:
    """An ADC map and a mask computed from a real Siemens DWI series, written and read back."""
    dwi = Series(testdata / "dicom" / "dwi", input_order="b")
    assert dwi.shape[0] == 3
    s50 = dwi[0].astype(np.float64)
    s800 = dwi[2].astype(np.float64)
    mask = s50 > 0.2 * float(s50.max())
    adc = (np.log(np.maximum(s50, 1) / np.maximum(s800, 1)) / 750.0 * mask).astype(np.float32)
    adc.write(tmp_path / "adc", formats=["dicom"], units="mm2/s", serdes="ADC")  # auto
    ds = _only(tmp_path / "adc")
    assert ds.SOPClassUID == PM
    assert dciodvfy(tmp_path / "adc" / "Image_00000.dcm") == []
    assert len(_referenced_uids(ds)) == 90
    back = Series(tmp_path / "adc")
    np.testing.assert_array_equal(np.asarray(back), np.asarray(adc))
    np.testing.assert_allclose(back.affine, dwi.affine, atol=1e-4)
    mask.write(tmp_path / "mask", formats=["dicom"], iod="seg", segments={1: "tissue"})
    assert dciodvfy(tmp_path / "mask" / "Image_00000.dcm") == []
    m = Series(tmp_path / "mask")
    np.testing.assert_array_equal(np.asarray(m), np.asarray(mask))
    np.testing.assert_allclose(m.affine, dwi.affine, atol=1e-4)


def test_a_mask_read_from_a_seg_is_written_again_with_its_references(tmp_path: Path) -> None:
    src = _source(tmp_path)
    (src > 100).write(tmp_path / "seg", formats=["dicom"], iod="seg")
    mask = Series(tmp_path / "seg")
    grown = mask | np.roll(np.asarray(mask), 1, axis=2)
    ds = next(build_datasets(grown, iod="seg", segments={1: "grown"}))
    assert _referenced_uids(ds) == {
        str(r.SOPInstanceUID) for r in source_references(src.header.template)[0]
    }
    assert ds.StudyInstanceUID == src.header.template.StudyInstanceUID


def test_float_zero_one_is_a_binary_seg_and_lost_options_warn(tmp_path: Path) -> None:
    src = _source(tmp_path)
    ones = (src > 100).astype(np.float32)
    ds = next(build_datasets(ones, iod="seg"))
    assert ds.SegmentationType == "BINARY"
    with pytest.warns(UserWarning, match="units= apply to Parametric Maps"):
        next(build_datasets(src, units="ms"))
    with pytest.raises(TypeError, match="headers_only=True"):
        next(build_datasets(src.astype(np.float32) / 3, iod="pm", source="/some/path"))


def test_a_study_holds_source_map_and_seg(tmp_path: Path) -> None:
    from imagedata.collections import Study

    src = _source(tmp_path / "study")
    (src.astype(np.float32) / 7).write(tmp_path / "study" / "pm", formats=["dicom"], sernum=20)
    (src > 100).write(tmp_path / "study" / "seg", formats=["dicom"], iod="seg", sernum=21)
    study = Study(tmp_path / "study", strict=True)
    by_number = {int(si.getDicomAttribute("SeriesNumber")): si for si in study.values()}
    assert sorted(by_number) == [3, 20, 21]
    assert by_number[20].dtype == np.float32
    np.testing.assert_array_equal(np.asarray(by_number[21]), np.asarray(src > 100))


def test_identity_of_derived_objects(tmp_path: Path) -> None:
    src = _source(tmp_path)
    f = src.astype(np.float32) / 7
    pm = next(build_datasets(f, iod="pm", keep_uid=True))
    seg = next(build_datasets(src > 100, iod="seg", keep_uid=True))
    assert pm.SeriesInstanceUID == seg.SeriesInstanceUID == src.header.template.SeriesInstanceUID
    assert pm.SOPInstanceUID != seg.SOPInstanceUID
    assert next(build_datasets(f, iod="pm", keep_uid=True)).SOPInstanceUID == pm.SOPInstanceUID
    assert pm.Manufacturer == "imagedata"  # the equipment that made the map
    ds = next(build_datasets(f[2], iod="pm"))  # one slice: the slice it came from
    assert ds.NumberOfFrames == 1
    assert len(_referenced_uids(ds)) == 1
    measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SliceThickness) == 2.0


def test_parametric_map_of_unsigned_integers(tmp_path: Path) -> None:
    src = _source(tmp_path)
    src.write(tmp_path / "pm", formats=["dicom"], iod="parametric-map", units="{ratio}")
    assert dciodvfy(tmp_path / "pm" / "Image_00000.dcm") == []
    back = Series(tmp_path / "pm")
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(back), np.asarray(src))
    with pytest.raises(WriteError, match="float32, float64, uint8 or uint16"):
        next(build_datasets(src.astype(np.int32), iod="pm"))
