"""NIfTI-1 and NIfTI-2 (``.nii``, ``.nii.gz``) through nibabel.

Geometry (GEOMETRY.md): the NIfTI array is the Series array transposed to
(column, row, slice[, tag]); the RAS affine is
``diag(-1, -1, 1, 1) . [dc*X | dr*Y | t | S_0]``
(:func:`imagedata.geometry.nifti_from_affine`).  Both sform and qform are written
from it with code 1 (scanner); a sheared (gantry tilt) affine goes exactly into the
sform and the qform gets the nearest rotation, with a warning.  Reading follows
nibabel: sform if its code > 0, else qform if its code > 0, else pixdim only.

The DICOM header travels in the file (see :mod:`._headerio`): a NIfTI extension
with code 2 (``dicom``) holds the DICOM template as a binary little endian
explicit VR dataset (what nibabel exposes as a pydicom Dataset), and an extension
with code 6 (``comment``) holds the imagedata header as JSON (tag axes with their
values, exact slice positions, and ``"template_in": "dicom"``: the template is the
code-2 extension, stored once, with its length).  Files whose JSON holds the template
itself (DICOM JSON model, the version 1 layout) are read too.  Beside the file go a
dcm2niix-compatible BIDS sidecar (``.json``) and, for diffusion series, FSL
``.bval``/``.bvec``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from imagedata import _gzip, geometry
from imagedata._optional import import_optional
from imagedata.axis import Axis, tag_axis
from imagedata.errors import MultipleSeriesError, ReadError, WriteError
from imagedata.formats import _bids, _headerio, _limits, _output, _paths

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from imagedata.archives import Member
    from imagedata.header import Header, SeriesLike

logger = logging.getLogger(__name__)

EXTENSIONS = (".nii", ".nii.gz")
DEFAULT_EXTENSION = ".nii.gz"
#: NIfTI extension codes used for the embedded header.
ECODE_DICOM = 2
ECODE_COMMENT = 6
_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}
#: Tag axes whose uniform step is written as pixdim[4], with their NIfTI time unit.
_STEP_UNITS = {"time": "sec", "triggertime": "msec"}
_NIFTI1_MAX_DIM = 32767
#: Voxel bytes handed to the file (or the gzip stream) at once.
_CHUNK = 1 << 24


def _nib() -> Any:
    return import_optional("nibabel", "nifti", "read and write NIfTI files")


# --- Series -> nibabel ------------------------------------------------------------------


def _file_dtype(data: np.ndarray, target: str) -> np.ndarray:
    if data.dtype == np.bool_:
        return data.astype(np.uint8)
    if data.dtype == np.float16:
        return data.astype(np.float32)
    if data.dtype.kind not in "iufc":
        raise WriteError(
            f"{target}: NIfTI cannot hold {data.dtype} voxels; convert to a number type"
        )
    return data


def _tag_zoom(vol: _headerio.Volume) -> tuple[float, str, float]:
    """(pixdim[4], time unit, toffset) of the innermost tag axis (NIfTI dimension 4)."""
    if not vol.tag_axes:
        return 1.0, "unknown", 0.0
    axis = vol.tag_axes[-1]
    unit = _STEP_UNITS.get(axis.name)
    step = _headerio.uniform_step(axis.values)
    if unit is None or axis.values is None:
        return 0.0, "unknown", 0.0
    first = float(np.asarray(axis.values, dtype=np.float64)[0])
    if step is None:
        return 0.0, unit, first
    return step, unit, first


def _nifti_affine(vol: _headerio.Volume, target: str) -> npt.NDArray[np.float64]:
    a = vol.affine.copy()
    if np.linalg.norm(a[:3, 0]) < 1e-12:
        a[:3, 0] = geometry.normal(a) * float(vol.header.template.get("SliceThickness", 1.0) or 1.0)
    if geometry.is_tilted(a):
        warnings.warn(
            f"{target}: the slices are sheared (gantry tilt); the exact affine is in the sform, "
            "the qform holds the nearest rotation (tools that use the qform misplace voxels)",
            stacklevel=4,
        )
    return geometry.nifti_from_affine(a)


#: NIfTI's RGB24 voxel type as nibabel spells it.
RGB24 = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])


def _rgb24(data: np.ndarray, target: str) -> np.ndarray:
    """(..., 3) uint8 samples as one RGB24 voxel per pixel, shape (...)."""
    if data.dtype != np.uint8:
        raise WriteError(
            f"{target}: NIfTI colour (RGB24) holds 8-bit samples, not {data.dtype}; "
            "convert first, e.g. si.astype(np.uint8), or write a tag axis instead of rgb"
        )
    return np.ascontiguousarray(data).view(RGB24).reshape(data.shape[:-1])


def _from_rgb24(raw: np.ndarray, source: str) -> np.ndarray:
    """RGB24 voxels (...) as uint8 samples (..., 3)."""
    if raw.dtype.names != RGB24.names:
        raise ReadError(
            f"{source}: NIfTI voxel type {raw.dtype} is not supported (RGB24 is; RGBA32 is not)"
        )
    return np.ascontiguousarray(raw).view(np.uint8).reshape(*raw.shape, 3)


def _file_data(vol: _headerio.Volume, target: str) -> np.ndarray:
    """The voxels as the file holds them, in (tag..., slice, row, column) order."""
    return _rgb24(vol.data, target) if vol.rgb else _file_dtype(vol.data, target)


def _make_image(si: SeriesLike, target: str, nifti2: bool | None, embed: bool) -> Any:
    nib = _nib()
    vol = _headerio.volume(si, target, max_tags=4, rgb=True)
    data = _file_data(vol, target)
    arr = np.transpose(data, tuple(range(data.ndim - 1, -1, -1)))
    m = _nifti_affine(vol, target)
    if nifti2 is None:
        nifti2 = max(arr.shape) > _NIFTI1_MAX_DIM
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    img = cls(arr, m)
    _fill_header(img.header, vol, m, arr.dtype, embed, nibabel_qform=True)
    return img


def _fill_header(
    hdr: Any, vol: _headerio.Volume, m: Any, dtype: np.dtype, embed: bool, *, nibabel_qform: bool
) -> None:
    """Voxel type, sform/qform (code 1), zooms, units, toffset, description, extensions.

    The qform by nibabel's ``set_qform`` (`nibabel_qform`: the reference, for
    :func:`to_nibabel`) or by :func:`_set_qform` (the writer: the same fields, faster).
    """
    ndim = len(hdr.get_data_shape())
    hdr.set_data_dtype(dtype)
    hdr.set_sform(m, code=1)
    if nibabel_qform:
        hdr.set_qform(m, code=1)
    else:
        _set_qform(hdr, m)
    step, unit, toffset = _tag_zoom(vol)
    zooms = [*np.linalg.norm(m[:3, :3], axis=0), *([step] if vol.tag_axes else [])]
    zooms += [0.0] * (ndim - len(zooms))
    hdr.set_zooms(zooms[:ndim])
    hdr.set_xyzt_units("mm", unit)
    hdr["toffset"] = toffset
    description = str(vol.header.template.get("SeriesDescription", "") or "")
    hdr["descrip"] = description.encode("ascii", "replace")[:79]
    if embed:
        _add_extensions(hdr, vol.header)


def _set_qform(hdr: Any, m: npt.NDArray[np.float64]) -> None:
    """``hdr.set_qform(m, code=1)``: the same header fields, from :func:`geometry.nifti_qform`.

    An affine whose decomposition fails goes to nibabel, which raises its own error.
    """
    try:
        quat, qfac, zooms = geometry.nifti_qform(m)
    except np.linalg.LinAlgError:
        hdr.set_qform(m, code=1)
        return
    hdr["qform_code"] = 1
    hdr["qoffset_x"], hdr["qoffset_y"], hdr["qoffset_z"] = m[:3, 3]
    pixdim = hdr["pixdim"]  # a view of the header's field
    pixdim[0] = qfac
    pixdim[1:4] = zooms
    hdr["quatern_b"], hdr["quatern_c"], hdr["quatern_d"] = quat


def _add_extensions(hdr: Any, header: Header) -> None:
    """The DICOM template (code 2) and the imagedata JSON referring to it (code 6).

    A template pydicom cannot encode goes into the JSON instead (the version 1 layout).
    """
    nib = _nib()
    try:
        dicom = _headerio.template_to_dicom_bytes(header.template)
    except (TypeError, ValueError, AttributeError, OverflowError) as err:
        logger.warning("DICOM template not stored as a NIfTI dicom extension: %s", err)
        text = _headerio.header_to_json(header)
    else:
        hdr.extensions.append(nib.nifti1.Nifti1Extension(ECODE_DICOM, dicom))
        text = _headerio.header_to_json(
            header, template_in=_headerio.TEMPLATE_IN_DICOM, template_bytes=len(dicom)
        )
    hdr.extensions.append(nib.nifti1.Nifti1Extension(ECODE_COMMENT, text.encode("ascii")))


def to_nibabel(si: SeriesLike, *, nifti2: bool | None = None, embed_header: bool = True) -> Any:
    """Return a :class:`nibabel.Nifti1Image` (or Nifti2Image) of `si`.

    The image holds the voxels transposed to (column, row, slice[, tag]), sform and
    qform (code 1) from the Series affine, the tag step in pixdim[4], and the embedded
    DICOM/imagedata header as NIfTI extensions.

    Examples
    --------
    >>> import numpy as np
    >>> from imagedata import Series
    >>> img = to_nibabel(Series(np.zeros((3, 4, 5), dtype=np.int16)))
    >>> img.shape, int(img.header["sform_code"]), int(img.header["qform_code"])
    ((5, 4, 3), 1, 1)
    """
    return _make_image(si, "nibabel image", nifti2, embed_header)


# --- nibabel -> Series ------------------------------------------------------------------


def _raw_content(ext: Any) -> bytes | None:
    """The raw bytes of a NIfTI extension (nibabel >= 5.3: ``content``; older: ``_content``)."""
    raw = getattr(ext, "content", None)
    if not isinstance(raw, bytes):
        raw = getattr(ext, "_content", None)
    return raw if isinstance(raw, bytes) else None


def _embedded(hdr: Any, source: str) -> _headerio.Embedded | None:
    """The embedded header: the imagedata JSON (code 6) and/or the DICOM template (code 2)."""
    comment = dicom = None
    for ext in getattr(hdr, "extensions", []):
        code = int(ext.get_code())
        raw = _raw_content(ext)
        if raw is None:
            continue
        if code == ECODE_COMMENT and comment is None and _headerio.is_embedded_header(raw):
            comment = raw
        elif code == ECODE_DICOM and dicom is None:
            dicom = raw

    def stored(length: int | None = None) -> Dataset | None:
        return None if dicom is None else _dicom_template(dicom, source, length)

    if comment is not None:
        text = comment.rstrip(b"\0").decode("ascii")
        return _headerio.header_from_json(text, source, stored)
    template = stored()
    if template is None:
        return None
    return _headerio.Embedded((), None, (), "none", None, template)


def _has_embedded(hdr: Any, source: str) -> bool:
    """True when :func:`_embedded` finds a header (the JSON is looked for, not parsed)."""
    for ext in getattr(hdr, "extensions", []):
        raw = _raw_content(ext)
        if int(ext.get_code()) == ECODE_COMMENT and raw and _headerio.is_embedded_header(raw):
            return True
    return _embedded(hdr, source) is not None


def _dicom_template(raw: bytes, source: str, length: int | None = None) -> Dataset | None:
    """The template in a NIfTI dicom extension, or None (logged) when it cannot be read.

    nibabel strips trailing NUL bytes from extension contents, which may cut the last
    element's value or length field: they are put back, up to `length` (the size the
    imagedata JSON records), else 16 of them (files from other tools).
    """
    data = raw + b"\0" * 16 if length is None else raw.ljust(length, b"\0")
    try:
        return _headerio.template_from_dicom_bytes(data)
    except Exception as err:
        logger.warning("%s: NIfTI dicom extension not readable (%s); ignored", source, err)
        return None


def _tag_axis_from_file(hdr: Any, n: int, diffusion: tuple[Any, Any] | None) -> Axis:
    if diffusion is not None:
        bvals, gradients = diffusion
        if gradients is not None and np.any(gradients):
            return tag_axis("dti", np.column_stack([bvals, gradients]))
        return tag_axis("b", bvals)
    unit = hdr.get_xyzt_units()[1]
    zooms = hdr.get_zooms()
    step = float(zooms[3]) if len(zooms) > 3 else 0.0
    scale = _TIME_UNITS.get(unit, 1.0)
    if step <= 0:
        return tag_axis("time", np.arange(n, dtype=np.float64))
    offset = float(hdr["toffset"]) * scale
    return tag_axis("time", offset + np.arange(n) * step * scale)


def _decode(
    img: Any,
    source: str,
    *,
    diffusion: tuple[Any, Any] | None = None,
    headers_only: bool = False,
    input_order: str = "auto",
) -> tuple[np.ndarray, Header]:
    hdr = img.header
    shape = tuple(int(n) for n in img.shape)
    if len(shape) < 2:
        raise ReadError(f"{source}: a {len(shape)}D NIfTI image is not an image series")
    m = np.asarray(hdr.get_best_affine(), dtype=np.float64)
    rgb = hdr.get_data_dtype().names is not None
    raw = _voxels(img, source, shape, headers_only)
    if raw.ndim == 2:
        raw = raw[:, :, np.newaxis]
    data = np.transpose(raw, tuple(range(raw.ndim - 1, -1, -1)))
    if rgb and headers_only:
        data = np.broadcast_to(np.zeros((), dtype=np.uint8), (*data.shape, 3))
    elif rgb:
        data = _from_rgb24(data, source)
    elif not headers_only:
        data = np.ascontiguousarray(data)
    affine = geometry.affine_from_nifti(m)
    embedded = _embedded(hdr, source)
    ntag = raw.ndim - 3
    tags: list[Axis] = [tag_axis(f"tag{i}", np.arange(n)) for i, n in enumerate(data.shape[:ntag])]
    if ntag:
        tags[-1] = _tag_axis_from_file(hdr, data.shape[ntag - 1], diffusion)
        if ntag > 1:
            tags[0] = tag_axis("time", np.arange(data.shape[0]))
    data = _headerio.restore_shape(data, embedded)
    header = _headerio.build_header(
        data.shape,
        affine,
        input_format="nifti",
        source=source,
        embedded=embedded,
        tag_axes=tags,
        input_order=input_order,
        rgb=rgb,
    )
    return data, header


def _voxels(img: Any, source: str, shape: tuple[int, ...], headers_only: bool) -> np.ndarray:
    """The voxel array as nibabel gives it (column, row, slice, ...), or zeros for headers."""
    if headers_only:
        return np.broadcast_to(np.zeros((), dtype=img.header.get_data_dtype()), shape)
    try:
        return np.asanyarray(img.dataobj)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise ReadError(
            f"{source}: the NIfTI data cannot be read ({err}); the file may be truncated"
        ) from err


def decode_nibabel(img: Any) -> tuple[np.ndarray, Header]:
    """The (array, header) of a nibabel NIfTI image (geometry, tag step, embedded header).

    :meth:`imagedata.series.Series.from_nibabel` wraps the pair in a Series.

    Examples
    --------
    >>> import numpy as np
    >>> from imagedata.header import Header, HeaderedArray
    >>> data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    >>> back, header = decode_nibabel(to_nibabel(HeaderedArray(data, Header.default(data.shape))))
    >>> bool(np.array_equal(back, data)), header.shape
    (True, (3, 4, 5))
    """
    return _decode(img, "nibabel image")


# --- files ------------------------------------------------------------------------------


def _read_diffusion(path: Path, n: int, affine: npt.NDArray[np.float64]) -> tuple[Any, Any] | None:
    bval = _paths.sidecar(path, EXTENSIONS, ".bval")
    if not bval.is_file():
        return None
    values = _bids.parse_numbers(bval.read_text(), str(bval)).reshape(-1)
    if values.size != n:
        logger.warning("%s: %d b-values for %d volumes; ignored", bval, values.size, n)
        return None
    bvec = _paths.sidecar(path, EXTENSIONS, ".bvec")
    gradients = None
    if bvec.is_file():
        rows = _bids.parse_numbers(bvec.read_text(), str(bvec), rows=3)
        if rows.shape[1] == n:
            gradients = _bids.gradients_from_bvec(rows, affine)
    return values, gradients


def _load(member: Member) -> tuple[Any, int, int]:
    """(nibabel image, bytes of the file after the header, largest expansion of them)."""
    nib = _nib()
    errors = (
        OSError,
        EOFError,
        ValueError,
        zlib.error,
        nib.filebasedimages.ImageFileError,
        nib.spatialimages.HeaderDataError,
    )
    try:
        if member.path is not None and _paths.matching_extension(member.name, EXTENSIONS):
            img = nib.load(str(member.path), mmap=False)
            with open(member.path, "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            size = member.path.stat().st_size
            if gz:
                return img, size, _limits.DEFLATE_RATIO
            return img, size - int(img.header["vox_offset"]), 1
        data = member.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        klass = nib.Nifti2Image if _sizeof_hdr(data) == 540 else nib.Nifti1Image
        img = klass.from_bytes(data)
        return img, len(data) - int(img.header["vox_offset"]), 1
    except errors as err:
        raise ReadError(
            f"{member.name}: not a readable NIfTI file ({err}); check that it is complete"
        ) from err


def _sizeof_hdr(head: bytes) -> int | None:
    if len(head) < 4:
        return None
    for order in ("<", ">"):
        n = int(np.frombuffer(head[:4], dtype=f"{order}i4")[0])
        if n in (348, 540):
            return n
    return None


def read_member(
    member: Member, *, input_order: str = "auto", headers_only: bool = False
) -> tuple[np.ndarray, Header]:
    """Read one NIfTI file (and its ``.bval``/``.bvec``/``.json`` sidecars)."""
    img, available, ratio = _load(member)
    if not headers_only:
        itemsize = img.header.get_data_dtype().itemsize
        _limits.check_size(member.name, img.shape, itemsize, available, ratio)
    diffusion = None
    if member.path is not None and len(img.shape) >= 4:
        m = geometry.affine_from_nifti(img.header.get_best_affine())
        diffusion = _read_diffusion(member.path, int(img.shape[3]), m)
    data, header = _decode(
        img, member.name, diffusion=diffusion, headers_only=headers_only, input_order=input_order
    )
    if member.path is not None and not _has_embedded(img.header, member.name):
        header = _merge_sidecar(header, _paths.sidecar(member.path, EXTENSIONS, ".json"))
    return data, header


def _merge_sidecar(header: Header, path: Path) -> Header:
    if not path.is_file():
        return header
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        logger.warning("%s: BIDS sidecar not readable (%s); ignored", path, err)
        return header
    template = header.template
    for elem in _bids.template_from_sidecar(doc if isinstance(doc, dict) else {}):
        template.add(elem)
    return header


def _write(si: SeriesLike, destination: Path, options: dict[str, Any]) -> list[str]:
    target = _paths.target_file(destination, EXTENSIONS, DEFAULT_EXTENSION)
    overwrite = bool(options.pop("overwrite", False))
    nifti2 = options.pop("nifti2", None)
    embed = bool(options.pop("embed_header", True))
    write_sidecar = bool(options.pop("sidecar", True))
    level = _gzip.check_level(options.pop("compression_level", None))
    if options:
        raise TypeError(f"unexpected options for NIfTI output: {sorted(options)}")
    hdr, data = _file_header(si, str(target), nifti2, embed)
    texts = _sidecar_texts(si, target, write_sidecar)
    targets = [target, *texts]
    with _output.atomic_writes(targets, overwrite) as files:
        (_, fp), *others = files
        if target.name.lower().endswith(".gz"):
            with _gzip.GzipWriter(fp, level) as gz:
                _save(hdr, data, gz)
        else:
            _save(hdr, data, fp)
        for (_, side), text in zip(others, texts.values()):
            side.write(text.encode("utf-8"))
    if overwrite:  # sidecars of the replaced file that no longer apply would mislead readers
        for suffix in (".json", ".bval", ".bvec"):
            stale = _paths.sidecar(target, EXTENSIONS, suffix)
            if stale not in texts and stale.is_file():
                stale.unlink()
    logger.debug("wrote %s", target)
    return [str(p) for p in targets]


def _file_header(
    si: SeriesLike, target: str, nifti2: bool | None, embed: bool
) -> tuple[Any, np.ndarray]:
    """(nibabel NIfTI header, voxels in file order) of `si`: what :func:`_save` writes.

    The header is the one :func:`to_nibabel`'s image gets and ``nibabel.save`` writes
    (the same bytes; tests/formats/test_nifti_write.py checks it), made without the
    image object.
    """
    nib = _nib()
    vol = _headerio.volume(si, target, max_tags=4, rgb=True)
    data = _file_data(vol, target)
    if data.dtype in (np.int64, np.uint64):  # nibabel's image refuses them too
        raise WriteError(
            f"{target}: {data.dtype} voxels are not written to NIfTI (many tools cannot "
            "read them); convert first, e.g. si.astype(np.int32) or si.astype(np.float64)"
        )
    shape = data.shape[::-1]
    m = _nifti_affine(vol, target)
    if nifti2 is None:
        nifti2 = max(shape) > _NIFTI1_MAX_DIM
    hdr = (nib.Nifti2Header if nifti2 else nib.Nifti1Header)()
    try:
        hdr.set_data_shape(shape)
    except (ValueError, nib.spatialimages.HeaderDataError) as err:
        raise WriteError(f"{target}: NIfTI cannot hold shape {shape} ({err})") from err
    _fill_header(hdr, vol, m, data.dtype, embed, nibabel_qform=False)
    hdr["vox_offset"] = 0  # set by write_to: after the extensions
    return hdr, data


def _save(hdr: Any, data: np.ndarray, fp: Any) -> None:
    """Write header, extensions and voxels into the file `fp` (at its start).

    `fp` is the open temporary file, or a :class:`imagedata._gzip.GzipWriter` on it for
    ``.nii.gz`` (the fastest compression backend installed).
    """
    voxels = np.ascontiguousarray(data)
    if voxels.dtype.byteorder not in "=|":
        voxels = voxels.astype(voxels.dtype.newbyteorder("="))
    # nibabel writes the header and each extension in small pieces and asks the file
    # its position several times: into memory first (a file's tell is a system call);
    # a gzip stream gets the same pieces as ever (it counts its position itself)
    if isinstance(fp, _gzip.GzipWriter):
        hdr.write_to(fp)
        fp.write(b"\0" * (int(hdr["vox_offset"]) - fp.tell()))
    else:
        head = io.BytesIO()
        hdr.write_to(head)
        head.write(b"\0" * (int(hdr["vox_offset"]) - head.tell()))
        fp.write(head.getvalue())
    raw = voxels.reshape(-1).view(np.uint8)
    for start in range(0, raw.size, _CHUNK):  # gzip: compressed piece by piece
        fp.write(raw[start : start + _CHUNK])


def _sidecar_texts(si: SeriesLike, target: Path, write_sidecar: bool) -> dict[Path, str]:
    from imagedata import __version__

    h = si.header
    out: dict[Path, str] = {}
    base = _paths.stem(target, EXTENSIONS)  # the sidecars: base + suffix beside the target
    tags = h.tag_axes
    last = tags[-1] if tags else None
    if write_sidecar:
        times = None
        if last is not None and last.name == "time" and last.values is not None:
            times = np.asarray(last.values, dtype=np.float64)
        doc = _bids.sidecar(h.template, h.affine, times=times, software_version=__version__)
        out[target.with_name(base + ".json")] = _bids.sidecar_text(doc)
    if last is not None and last.name in ("b", "dti") and last.values is not None:
        v = np.asarray(last.values, dtype=np.float64)
        bvals = v[:, 0] if v.ndim == 2 else v
        grads = v[:, 1:4] if v.ndim == 2 else np.zeros((len(v), 3))
        affine = h.affine
        out[target.with_name(base + ".bval")] = _bids.format_bval(bvals)
        bvec = _bids.bvec_from_gradients(grads, affine)
        out[target.with_name(base + ".bvec")] = _bids.format_bvec(bvec)
    return out


class NiftiFormat:
    """The 'nifti' format: NIfTI-1/NIfTI-2 ``.nii`` and ``.nii.gz`` files.

    Write options: ``overwrite`` (bool), ``nifti2`` (bool; default NIfTI-1 unless a
    dimension exceeds 32767), ``embed_header`` (bool, default True), ``sidecar``
    (bool, default True: write the BIDS ``.json``), ``compression_level`` (1-9 for
    ``.nii.gz``; default: the fast backend's default, see :mod:`imagedata._gzip`).
    """

    name = "nifti"
    extensions: tuple[str, ...] = EXTENSIONS
    extra: str | None = "nifti"

    def sniff(self, name: str, head: bytes) -> bool:
        """NIfTI-1/2 headers start with sizeof_hdr 348/540 (either byte order); .nii.gz is gzip."""
        if head[:2] == b"\x1f\x8b" and name.lower().endswith(".gz"):
            with contextlib.suppress(zlib.error):
                head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        n = _sizeof_hdr(head)
        if n == 348:
            return len(head) < 348 or head[344:347] in (b"n+1", b"ni1")
        if n == 540:
            return len(head) < 8 or head[4:7] in (b"n+2", b"ni2")
        return False

    def read(
        self, members: Sequence[Member], *, input_order: str, headers_only: bool, **options: Any
    ) -> tuple[np.ndarray, Header]:
        """Read one NIfTI file; see :func:`read_member`."""
        images = [
            m for m in members if _paths.matching_extension(m.name, EXTENSIONS) or len(members) == 1
        ]
        if len(images) != 1:
            names = ", ".join(m.name for m in images[:5])
            raise MultipleSeriesError(
                f"expected one NIfTI file, got {len(images)} ({names}); read them one at a time"
            )
        if options:
            raise TypeError(f"unexpected options for NIfTI input: {sorted(options)}")
        try:
            return read_member(images[0], input_order=input_order, headers_only=headers_only)
        except (ValueError, TypeError) as err:
            raise ReadError(f"{images[0].name}: not a valid NIfTI file ({err})") from err

    def write(self, si: SeriesLike, destination: Path, **options: Any) -> list[str]:
        """Write `si` as NIfTI at `destination` (a ``.nii``/``.nii.gz`` file or a folder)."""
        return _write(si, destination, dict(options))


plugin = NiftiFormat()

__all__ = ["NiftiFormat", "decode_nibabel", "plugin", "read_member", "to_nibabel"]
