"""The NIfTI writer writes header, extensions and voxels itself: the same file as nibabel.

``Series.write(..., formats=['nifti'])`` builds the nibabel header (``Nifti1Header``
or ``Nifti2Header``) and writes it, its extensions and the voxels directly, without
nibabel's image object and ``nibabel.save``.  Every file must equal what nibabel's
image (:func:`imagedata.formats.nifti.to_nibabel`, the previous write path) saves,
byte for byte (uncompressed content for ``.nii.gz``); the BIDS sidecar must equal the
one made with every value decoded by pydicom.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata import geometry
from imagedata.axis import Axis, tag_axis
from imagedata.errors import WriteError
from imagedata.formats import _bids, _output, _rawvalues
from imagedata.formats import nifti as nifti_module
from imagedata.series import Series
from tests.conftest import SHARED_DATA, read_dcm_qa
from tests.formats.test_conformance import synthetic

nib = pytest.importorskip("nibabel")

QA = SHARED_DATA / "dcm_qa"


def _nibabel_bytes(si: Series, nifti2: bool | None = None) -> bytes:
    """What nibabel's own image and save make of `si` (the previous write path)."""
    img = nifti_module._make_image(si, "ref", nifti2, True)
    buf = io.BytesIO()
    img.to_file_map(img.make_file_map({"image": buf, "header": buf}))
    return buf.getvalue()


def _written(si: Series, path: Path, **options: object) -> bytes:
    si.write(path, formats=["nifti"], **options)
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def _check(si: Series, path: Path, nifti2: bool | None = None) -> None:
    options = {} if nifti2 is None else {"nifti2": nifti2}
    assert _written(si, path, **options) == _nibabel_bytes(si, nifti2), path.name
    assert not [p for p in path.parent.iterdir() if ".imagedata-tmp-" in p.name]


@pytest.mark.parametrize("folder", ["dcm_qa_nih", "dcm_qa_ts", "dcm_qa_enh", "dcm_qa_ge_dwi"])
def test_real_series_same_file_as_nibabel(tmp_path: Path, folder: str) -> None:
    series = read_dcm_qa(f"{folder}/In")
    for i, (_key, si) in enumerate(series):
        _check(si, tmp_path / f"s{i}.nii")
    _check(series[0][1], tmp_path / "gz.nii.gz")
    _check(series[0][1], tmp_path / "two.nii", nifti2=True)


@pytest.mark.parametrize(
    ("dtype", "order"),
    [
        (np.int16, "time"),
        (np.float32, "b"),
        (np.float64, "te"),
        (">i2", "time"),  # big endian voxels: written in the header's (native) order
        (np.complex64, "time"),
        (np.bool_, "time"),  # written as uint8
        (np.float16, "time"),  # written as float32
    ],
)
def test_synthetic_4d_types_same_file_as_nibabel(tmp_path: Path, dtype: str, order: str) -> None:
    si = synthetic(tmp_path / "src", (3, 4, 5, 6), order=order, tag_values=[0.0, 2.5, 5.0])
    si = Series(np.asarray(si).astype(dtype), template=si)
    _check(si, tmp_path / "a.nii")
    _check(si, tmp_path / "b.nii.gz")
    _check(si, tmp_path / "c.nii", nifti2=True)


def test_rgb_and_2d_same_file_as_nibabel(tmp_path: Path) -> None:
    spatial = [Axis("slice"), Axis("row"), Axis("column")]
    data = np.arange(2 * 5 * 7 * 3, dtype=np.uint8).reshape(2, 5, 7, 3)
    rgb = Series(data, axes=[*spatial, Axis("rgb")])
    _check(rgb, tmp_path / "rgb.nii")
    _check(rgb, tmp_path / "rgbz.nii.gz")
    timed = Series(
        np.zeros((3, 2, 5, 7, 3), dtype=np.uint8),
        axes=[tag_axis("time", [0.0, 1.0, 2.0]), *spatial, Axis("rgb")],
    )
    _check(timed, tmp_path / "rgbt.nii")
    flat = Series(np.arange(35, dtype=np.int32).reshape(5, 7))
    _check(flat, tmp_path / "flat.nii")


def test_no_embedded_header_same_file_as_nibabel(tmp_path: Path) -> None:
    si = synthetic(tmp_path / "src", (4, 5, 6))
    si.write(tmp_path / "x.nii", formats=["nifti"], embed_header=False)
    img = nifti_module._make_image(si, "ref", None, False)
    buf = io.BytesIO()
    img.to_file_map(img.make_file_map({"image": buf, "header": buf}))
    assert (tmp_path / "x.nii").read_bytes() == buf.getvalue()


def test_64_bit_integers_refused_naming_the_file(tmp_path: Path) -> None:
    si = Series(np.zeros((3, 4, 5), dtype=np.int64))
    with pytest.raises(WriteError, match=r"x\.nii.*int64.*astype"):
        si.write(tmp_path / "x.nii", formats=["nifti"])
    assert list(tmp_path.iterdir()) == []


def test_shape_too_large_for_nifti1_is_a_write_error(tmp_path: Path) -> None:
    si = Series(np.zeros((1, 2, 40000), dtype=np.uint8))
    with pytest.raises(WriteError, match=r"x\.nii"):
        si.write(tmp_path / "x.nii", formats=["nifti"], nifti2=False)
    assert list(tmp_path.iterdir()) == []
    si.write(tmp_path / "y.nii", formats=["nifti"])  # NIfTI-2 chosen: it fits
    assert nib.load(tmp_path / "y.nii").header["sizeof_hdr"] == 540


def test_existing_target_left_alone_and_overwrite_replaces(tmp_path: Path) -> None:
    si = synthetic(tmp_path / "src", (4, 5, 6))
    target = tmp_path / "out" / "x.nii"
    si.write(target, formats=["nifti"])
    before = target.read_bytes()
    with pytest.raises(WriteError, match="exists"):
        Series(np.ones((4, 5, 6), dtype=np.int16)).write(target, formats=["nifti"])
    assert target.read_bytes() == before
    Series(np.ones((4, 5, 6), dtype=np.int16)).write(target, formats=["nifti"], overwrite=True)
    assert target.read_bytes() != before
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json", "x.nii"]


def test_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    si = synthetic(tmp_path / "src", (4, 5, 6))

    make_tmpfile = _output._make_tmpfile

    class DiskFull(io.BufferedWriter):
        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    def broken_sidecars(target: Path, token: str | None = None) -> tuple[Path, io.BufferedWriter]:
        path, fp = make_tmpfile(target, token)
        if target.suffix != ".json":
            return path, fp
        fp.close()
        return path, DiskFull(open(path, "ab"))

    monkeypatch.setattr(_output, "_make_tmpfile", broken_sidecars)
    with pytest.raises(WriteError, match="No space left"):
        si.write(tmp_path / "out" / "x.nii", formats=["nifti"])
    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_writes_write_through_the_created_files(tmp_path: Path) -> None:
    """The open files are the hidden temporary files (not opened again, so not truncated)."""
    targets = [tmp_path / "sub" / "a.nii", tmp_path / "sub" / "a.json"]
    with _output.atomic_writes(targets) as files:
        for (path, fp), content in zip(files, [b"nifti", b"{}"]):
            assert path.name.startswith(".a.") and ".imagedata-tmp-" in path.name
            assert os.fstat(fp.fileno()).st_ino == path.stat().st_ino
            fp.write(content)
        assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(
            p.name for p, _ in files
        )
    assert [t.read_bytes() for t in targets] == [b"nifti", b"{}"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.json", "a.nii"]
    with pytest.raises(WriteError, match="file exists"), _output.atomic_writes(targets):
        pass
    with _output.atomic_writes(targets, overwrite=True) as files:
        files[0][1].write(b"new")
    assert [t.read_bytes() for t in targets] == [b"new", b""]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.json", "a.nii"]


def test_atomic_writes_failure_leaves_targets_as_they_were(tmp_path: Path) -> None:
    targets = [tmp_path / "a.nii", tmp_path / "a.json"]
    targets[0].write_bytes(b"old")
    with pytest.raises(RuntimeError), _output.atomic_writes(targets, overwrite=True) as files:
        files[0][1].write(b"half")
        raise RuntimeError("writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii"]
    assert targets[0].read_bytes() == b"old"


def test_atomic_renames_temporary_files_are_hidden_and_cleaned(tmp_path: Path) -> None:
    seen: list[str] = []
    targets = [tmp_path / "a.nii", tmp_path / "a.json"]
    with pytest.raises(RuntimeError), _output.atomic_renames(targets) as tmps:
        seen = [p.name for p in tmps]
        tmps[0].write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert all(n.startswith(".a.") and ".imagedata-tmp-" in n for n in seen)
    assert list(tmp_path.iterdir()) == []


def test_batch_removes_leftover_temporary_files(tmp_path: Path) -> None:
    """A hard kill can leave a hidden temporary file beside a target; a batch run removes it."""
    from imagedata.batch import _remove_leftovers

    (tmp_path / "P1").mkdir()
    leftover = tmp_path / "P1" / ".s.nii.gz.imagedata-tmp-k2j4x9"
    leftover.write_bytes(b"partial")
    kept = tmp_path / "P1" / "s.nii.gz"
    kept.write_bytes(b"done")
    assert _remove_leftovers(tmp_path) == 1
    assert not leftover.exists() and kept.exists()


# --- the BIDS sidecar: plain raw values decoded without pydicom ---------------------------


def _sidecars_agree(template: pydicom.Dataset, where: str) -> None:
    affine = geometry.default_affine()
    times = [1.0, 2.0, 3.0]
    ours = _bids.sidecar(copy.deepcopy(template), affine, times=times, software_version="x")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            _rawvalues,
            "element_value",
            lambda ds, tag, elem, keyword, default=None: ds.get(keyword, default),
        )
        ref = _bids.sidecar(copy.deepcopy(template), affine, times=times, software_version="x")
    assert json.dumps(ours) == json.dumps(ref), where


def test_sidecar_same_as_pydicom_decoding_real_series() -> None:
    checked = 0
    for folder in ["dcm_qa_nih", "dcm_qa_12bit", "dcm_qa_enh", "dcm_qa_ge_dwi", "dcm_qa_ts"]:
        for key, si in read_dcm_qa(f"{folder}/In"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _sidecars_agree(si.header.template, f"{folder} {key}")
            checked += 1
    assert checked >= 20


def test_sidecar_same_as_pydicom_decoding_pydicom_files() -> None:
    import pydicom.data

    files = sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm"))
    if len(files) < 20:
        pytest.skip("pydicom's test files are not installed")
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in files:
            try:
                ds = pydicom.dcmread(name, force=True)
            except Exception:  # files pydicom itself cannot read
                continue
            _sidecars_agree(ds, name.name)
            checked += 1
    assert checked > 20


def test_raw_values_decoded_here_or_by_pydicom() -> None:
    ds = pydicom.Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.EchoTime = "2.5"
    ds.SeriesDescription = "t1 mprage "
    ds.InstitutionName = "Klinikum Straße"  # not ASCII: pydicom decodes it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's note on the invalid value
        ds.Modality = "mr"  # not a valid CS (lower case): left to pydicom
    buf = pydicom.filebase.DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    ds.SpecificCharacterSet = "ISO_IR 100"
    pydicom.filewriter.write_dataset(buf, ds)
    read = pydicom.filereader.read_dataset(io.BytesIO(buf.getvalue()), False, True)
    assert _rawvalues.get(read, "ImageType") == ["ORIGINAL", "PRIMARY"]
    assert _rawvalues.get(read, "SeriesDescription") == "t1 mprage"
    assert float(_rawvalues.get(read, "EchoTime")) == 2.5
    assert _rawvalues.get(read, "InstitutionName") == "Klinikum Straße"
    assert _rawvalues.get(read, "Modality") == "mr"
    assert _rawvalues.get(read, "PatientID", "none") == "none"
    # only the elements pydicom had to decode are decoded in the dataset
    raw = {int(t) for t, e in read._dict.items() if isinstance(e, pydicom.dataelem.RawDataElement)}
    assert {0x00080008, 0x00180081, 0x0008103E} <= raw


def test_voxels_written_in_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Voxels larger than one piece (made small here) are written piece by piece, unchanged."""
    monkeypatch.setattr(nifti_module, "_CHUNK", 1000)
    rng = np.random.default_rng(1)
    si = Series(rng.integers(0, 1000, size=(3, 17, 19), dtype=np.int16))
    _check(si, tmp_path / "a.nii")
    _check(si, tmp_path / "b.nii.gz")


def test_written_files_get_the_mode_of_new_files(tmp_path: Path) -> None:
    """The temporary files renamed into place are not private: 0666 less the umask."""
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    synthetic(tmp_path / "src", (4, 5, 6)).write(tmp_path / "x.nii", formats=["nifti"])
    for name in ("x.nii", "x.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
