"""ITK MetaImage (``.mha``, ``.mhd`` + ``.raw``) through SimpleITK.

Geometry (GEOMETRY.md): ITK index order is (x = column, y = row, z = slice), the
same memory layout as the Series array, so no transposition is needed.  Origin is
S_0, spacing (dc, dr, |t|), and the direction columns are the UNIT vectors
(X, Y, t/|t|) in LPS (:func:`imagedata.geometry.itk_from_affine`).

A 4D series is a 4D MetaImage: the fourth axis has origin = first tag value and
spacing = the tag step when the tag values are evenly spaced; otherwise spacing 1
and the exact values are in the ``imagedata_tag_values`` key.  The tag axis name
is in ``imagedata_tag_axis``.  The DICOM template and tag values travel in the
``imagedata_header`` key (JSON, split into ``imagedata_header_000``, ... pieces of
at most :data:`CHUNK` characters because MetaIO limits the length of a header line).

This module also holds the SimpleITK conversions shared with :mod:`.nrrd`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from imagedata import geometry
from imagedata._optional import import_optional
from imagedata.axis import Axis, tag_axis
from imagedata.errors import MultipleSeriesError, ReadError, WriteError
from imagedata.formats import _headerio, _limits, _output, _paths

if TYPE_CHECKING:
    from imagedata.archives import Member
    from imagedata.header import Header, SeriesLike

logger = logging.getLogger(__name__)

EXTENSIONS = (".mha", ".mhd")
DEFAULT_EXTENSION = ".mha"
#: Longest piece of the embedded header in one key (MetaIO fails on lines of ~64k).
CHUNK = 16000
KEY_AXIS = "imagedata_tag_axis"
KEY_VALUES = "imagedata_tag_values"
#: Marks a colour series: its 3 vector components are the rgb axis, not a tag axis.
KEY_RGB = "imagedata_rgb"


def _sitk() -> Any:
    return import_optional("SimpleITK", "itk", "read and write ITK MetaImage and NRRD files")


# --- Series -> SimpleITK ----------------------------------------------------------------


def _file_dtype(data: np.ndarray, target: str) -> np.ndarray:
    if data.dtype == np.bool_:
        return data.astype(np.uint8)
    if data.dtype == np.float16:
        return data.astype(np.float32)
    if data.dtype.kind not in "iufc":
        raise WriteError(f"{target}: ITK cannot hold {data.dtype} voxels; convert to a number type")
    return data


def _tag_geometry(axis: Axis | None) -> tuple[float, float]:
    """(origin, spacing) of the tag dimension; spacing 1 when there is no uniform step."""
    if axis is None or axis.values is None:
        return 0.0, 1.0
    step = _headerio.uniform_step(axis.values)
    if step is None:
        return 0.0, 1.0
    return float(np.asarray(axis.values, dtype=np.float64)[0]), step


def make_image(
    si: SeriesLike, target: str, *, vector_tags: bool = False, embed_header: bool = True
) -> Any:
    """Return the SimpleITK image of `si` (3D; 4D or a 3D vector image with a tag axis)."""
    sitk = _sitk()
    vol = _headerio.volume(si, target, max_tags=1, rgb=True)
    data = _file_dtype(vol.data, target)
    origin, spacing, direction = geometry.itk_from_affine(vol.affine)
    tag = vol.tag_axes[0] if vol.tag_axes else None
    if vol.rgb and tag is not None and vector_tags:
        raise WriteError(
            f"{target}: a colour series with a {tag.name} axis cannot be written here (the "
            "vector components hold either the colour or the tag); write one volume at a "
            "time or use MetaImage (.mha)"
        )
    if tag is None:
        img = sitk.GetImageFromArray(data, isVector=vol.rgb)
    elif vector_tags:
        img = sitk.GetImageFromArray(np.moveaxis(data, 0, -1), isVector=True)
    else:
        img = sitk.GetImageFromArray(data, isVector=vol.rgb)
        t0, dt = _tag_geometry(tag)
        origin, spacing = np.append(origin, t0), np.append(spacing, dt)
        d4 = np.eye(4)
        d4[:3, :3] = direction
        direction = d4
    img.SetOrigin([float(v) for v in origin])
    img.SetSpacing([float(v) for v in spacing])
    img.SetDirection([float(v) for v in direction.ravel()])
    if vol.rgb:
        img.SetMetaData(KEY_RGB, "1")
    if tag is not None:
        img.SetMetaData(KEY_AXIS, tag.name)
        if tag.values is not None:
            values = json.dumps(np.asarray(tag.values).tolist(), default=str)
            for key, piece in _pieces(KEY_VALUES, values):
                img.SetMetaData(key, piece)
    if embed_header:
        for key, piece in _pieces(_headerio.KEY, _headerio.header_to_json(vol.header)):
            img.SetMetaData(key, piece)
    return img


def _pieces(key: str, text: str) -> list[tuple[str, str]]:
    if len(text) <= CHUNK:
        return [(key, text)]
    return [(f"{key}_{i:03d}", p) for i, p in enumerate(_headerio.split_chunks(text, CHUNK))]


def to_sitk(si: SeriesLike, *, vector_tags: bool = False, embed_header: bool = True) -> Any:
    """Return a :class:`SimpleITK.Image` of `si` with LPS origin, spacing and unit direction.

    A 4D series becomes a 4D image (tag axis last in ITK order), or with
    ``vector_tags=True`` a 3D image with one vector component per tag.

    Examples
    --------
    >>> import numpy as np
    >>> from imagedata import Series
    >>> img = to_sitk(Series(np.zeros((3, 4, 5), dtype=np.int16)))
    >>> img.GetSize()
    (5, 4, 3)
    """
    return make_image(si, "SimpleITK image", vector_tags=vector_tags, embed_header=embed_header)


# --- SimpleITK -> Series ----------------------------------------------------------------


def _spatial_geometry(img: Any) -> npt.NDArray[np.float64]:
    dim = int(img.GetDimension())
    n = min(dim, 3)
    origin = np.zeros(3)
    spacing = np.ones(3)
    direction = np.eye(3)
    origin[:n] = np.asarray(img.GetOrigin(), dtype=np.float64)[:n]
    spacing[:n] = np.asarray(img.GetSpacing(), dtype=np.float64)[:n]
    d = np.asarray(img.GetDirection(), dtype=np.float64).reshape(dim, dim)
    direction[:n, :n] = d[:n, :n]
    return geometry.affine_from_itk(origin, spacing, direction)


def _metadata(img: Any) -> dict[str, str]:
    return {
        k: img.GetMetaData(k)
        for k in img.GetMetaDataKeys()
        if k.startswith(("imagedata_", "DWMRI_")) or k == "modality"
    }


def dwmri_keys(axis: Axis) -> dict[str, str]:
    """Diffusion keys of the NRRD DWI convention (3D Slicer) for a ``dti`` axis.

    ``DWMRI_b-value`` is the largest b-value; each ``DWMRI_gradient_NNNN`` is the
    LPS gradient direction scaled by sqrt(b / b_max).  No keys for other axes (a
    ``b`` axis without directions cannot be written in this convention).
    """
    if axis.name != "dti" or axis.values is None:
        return {}
    v = np.asarray(axis.values, dtype=np.float64)
    bmax = float(v[:, 0].max()) if v.size else 0.0
    if v.ndim != 2 or v.shape[1] != 4 or bmax <= 0:
        return {}
    keys = {"modality": "DWMRI", "DWMRI_b-value": f"{bmax:.6g}"}
    for i, (b, *g) in enumerate(v):
        norm = float(np.linalg.norm(g))
        unit = np.asarray(g) / norm if norm > 0 else np.zeros(3)
        scaled = unit * np.sqrt(max(b, 0.0) / bmax)
        keys[f"DWMRI_gradient_{i:04d}"] = " ".join(f"{x:.8g}" for x in scaled)
    return keys


def _dwmri_axis(meta: dict[str, str], n: int) -> Axis | None:
    """A ``dti`` axis from NRRD DWI keys (b_i = b_max |g_i|^2), or None."""
    if meta.get("modality") != "DWMRI" or "DWMRI_b-value" not in meta:
        return None
    try:
        bmax = float(meta["DWMRI_b-value"])
        grads = np.array(
            [[float(x) for x in meta[f"DWMRI_gradient_{i:04d}"].split()] for i in range(n)]
        )
    except (KeyError, ValueError):
        return None
    norms = np.linalg.norm(grads, axis=1)
    unit = grads / np.where(norms > 0, norms, 1.0)[:, None]
    return tag_axis("dti", np.column_stack([bmax * norms**2, unit]))


def _stored_tag_axis(meta: dict[str, str], n: int) -> Axis | None:
    name = meta.get(KEY_AXIS)
    text = _headerio.join_chunks(meta.get, KEY_VALUES)
    if not name or text is None:
        return None
    try:
        values = np.asarray(json.loads(text))
    except ValueError:
        return None
    if len(values) != n:
        return None
    return tag_axis(name, values.astype(np.float64) if values.dtype.kind in "iuf" else values)


def _tag_axis(img: Any, meta: dict[str, str], n: int) -> Axis:
    stored = _stored_tag_axis(meta, n) or _dwmri_axis(meta, n)
    if stored is not None:
        return stored
    if img.GetDimension() == 4:
        t0 = float(img.GetOrigin()[3])
        dt = float(img.GetSpacing()[3])
        return tag_axis("time", t0 + dt * np.arange(n))
    return tag_axis("time", np.arange(n, dtype=np.float64))


def decode(
    img: Any,
    source: str,
    input_format: str,
    *,
    array: np.ndarray | None = None,
    input_order: str = "auto",
) -> tuple[np.ndarray, Header]:
    """Convert a SimpleITK image (or its header, with `array` given) to (array, Header)."""
    sitk = _sitk()
    dim = int(img.GetDimension())
    if dim < 2 or dim > 4:
        raise ReadError(f"{source}: a {dim}D image is not supported (2D to 4D only)")
    ncomp = int(img.GetNumberOfComponentsPerPixel())
    data = sitk.GetArrayFromImage(img) if array is None else array
    meta = _metadata(img)
    rgb = _is_rgb(meta, ncomp, data.dtype, source)
    if ncomp > 1 and not rgb:
        data = np.ascontiguousarray(np.moveaxis(data, -1, 0))
    if dim == 2:
        data = data[..., np.newaxis, :, :, :] if rgb else data[..., np.newaxis, :, :]
    affine = _spatial_geometry(img)
    tags: list[Axis] = []
    if data.ndim == 4 + rgb:
        tags = [_tag_axis(img, meta, data.shape[0])]
    text = _headerio.join_chunks(meta.get, _headerio.KEY)
    embedded = None if text is None else _headerio.header_from_json(text, source)
    data = _headerio.restore_shape(data, embedded)
    header = _headerio.build_header(
        data.shape,
        affine,
        input_format=input_format,
        source=source,
        embedded=embedded,
        tag_axes=tags,
        input_order=input_order,
        rgb=rgb,
    )
    return data, header


def _is_rgb(meta: dict[str, str], ncomp: int, dtype: np.dtype[Any], source: str) -> bool:
    """True when the vector components are colour samples.

    Our files say so (``imagedata_rgb``, or ``imagedata_tag_axis`` for tags); other
    files with 3 components of 8 bits and no tag axis are taken as RGB, with a log note.
    """
    if ncomp != 3:
        return False
    if KEY_RGB in meta or KEY_AXIS in meta or "modality" in meta:
        return meta.get(KEY_RGB) == "1"
    if np.dtype(dtype) == np.uint8:
        logger.info("%s: 3 components of 8 bits read as an rgb axis", source)
        return True
    return False


def decode_sitk(img: Any) -> tuple[np.ndarray, Header]:
    """The (array, header) of a SimpleITK image (geometry, tag axis, embedded header).

    :meth:`imagedata.series.Series.from_sitk` wraps the pair in a Series.

    Examples
    --------
    >>> import numpy as np
    >>> from imagedata.header import Header, HeaderedArray
    >>> data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    >>> back, header = decode_sitk(to_sitk(HeaderedArray(data, Header.default(data.shape))))
    >>> bool(np.array_equal(back, data)), header.shape
    (True, (3, 4, 5))
    """
    return decode(img, "SimpleITK image", "itk")


# --- files ------------------------------------------------------------------------------


def read_file(
    member: Member,
    input_format: str,
    extensions: Sequence[str],
    *,
    input_order: str = "auto",
    headers_only: bool = False,
) -> tuple[np.ndarray, Header]:
    """Read one MetaImage or NRRD file with SimpleITK.

    Raises
    ------
    ReadError
        If SimpleITK cannot read the file; the message names it.
    """
    if member.path is not None:
        return _read_path(member.path, member.name, input_format, input_order, headers_only)
    ext = _paths.matching_extension(member.name, extensions) or extensions[0]
    if ext in (".mhd", ".nhdr"):
        raise ReadError(
            f"{member.name}: a detached header ({ext}) inside an archive cannot be read; "
            "extract the archive first"
        )
    with tempfile.TemporaryDirectory(prefix="imagedata-") as tmp:
        path = Path(tmp) / f"image{ext}"
        path.write_bytes(member.read_bytes())
        return _read_path(path, member.name, input_format, input_order, headers_only)


def _read_path(
    path: Path, name: str, input_format: str, input_order: str, headers_only: bool
) -> tuple[np.ndarray, Header]:
    sitk = _sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        if headers_only:
            reader.ReadImageInformation()
            img = _InfoImage(reader)
            size = list(reader.GetSize())[::-1]
            if reader.GetNumberOfComponents() > 1:
                size.append(int(reader.GetNumberOfComponents()))
            probe = sitk.Image([1] * len(reader.GetSize()), reader.GetPixelID())
            dtype = sitk.GetArrayViewFromImage(probe).dtype
            array = np.broadcast_to(np.zeros((), dtype=dtype), tuple(size))
            return decode(img, name, input_format, array=array, input_order=input_order)
        reader.ReadImageInformation()
        _check_claimed_size(reader, path, name)
        image = reader.Execute()
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else "unknown error"
        raise ReadError(
            f"{name}: SimpleITK cannot read this file ({first}); check that it is complete"
        ) from err
    return decode(image, name, input_format, input_order=input_order)


_ENCODING_RATIO = {
    b"gzip": _limits.DEFLATE_RATIO,
    b"gz": _limits.DEFLATE_RATIO,
    b"bzip2": _limits.ANY_CODEC_RATIO,
    b"bz2": _limits.ANY_CODEC_RATIO,
    b"zstd": _limits.ANY_CODEC_RATIO,
    b"ascii": 8,
    b"text": 8,
    b"txt": 8,
}


def _data_file(path: Path, head: bytes) -> tuple[Path | None, int]:
    """(file holding the voxels, largest expansion of its encoding) from a header's text."""
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\n")[:500]:
        if not line.strip():  # the end of a NRRD header
            break
        key, sep, value = line.partition(b"=" if b"=" in line.split(b":")[0] else b":")
        if sep:
            fields[key.strip().lower()] = value.strip()
        if key.strip().lower() == b"elementdatafile":  # the last MetaImage field
            break
    ratio = 1
    if fields.get(b"compresseddata", b"").lower() == b"true":
        ratio = _limits.DEFLATE_RATIO
    ratio = max(ratio, _ENCODING_RATIO.get(fields.get(b"encoding", b"").lower(), 1))
    ref = fields.get(b"elementdatafile") or fields.get(b"data file") or fields.get(b"datafile")
    if ref is None or ref == b"LOCAL":
        return path, ratio
    other = path.parent / ref.decode("latin-1")
    return (other if other.is_file() else None), ratio


def _check_claimed_size(reader: Any, path: Path, name: str) -> None:
    """ReadError when the header's image size cannot come from the file (before Execute)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    data_file, ratio = _data_file(path, head)
    if data_file is None:  # a list or pattern of data files: SimpleITK checks them
        return
    sitk = _sitk()
    probe = sitk.Image([1] * len(reader.GetSize()), reader.GetPixelID())
    itemsize = sitk.GetArrayViewFromImage(probe).dtype.itemsize
    shape = [int(n) for n in reader.GetSize()]
    itemsize *= int(reader.GetNumberOfComponents())
    _limits.check_size(name, shape, itemsize, data_file.stat().st_size, ratio)


class _InfoImage:
    """The header of an image file, with the SimpleITK Image methods :func:`decode` uses."""

    def __init__(self, reader: Any) -> None:
        self._r = reader

    def GetDimension(self) -> int:
        return int(self._r.GetDimension())

    def GetNumberOfComponentsPerPixel(self) -> int:
        return int(self._r.GetNumberOfComponents())

    def GetOrigin(self) -> tuple[float, ...]:
        return tuple(self._r.GetOrigin())

    def GetSpacing(self) -> tuple[float, ...]:
        return tuple(self._r.GetSpacing())

    def GetDirection(self) -> tuple[float, ...]:
        return tuple(self._r.GetDirection())

    def GetMetaDataKeys(self) -> list[str]:
        return list(self._r.GetMetaDataKeys())

    def GetMetaData(self, key: str) -> str:
        return str(self._r.GetMetaData(key))


def write_file(
    img: Any, target: Path, data_files: Sequence[str], *, overwrite: bool, compress: bool
) -> list[str]:
    """Write a SimpleITK image atomically at `target` (plus detached `data_files`)."""
    sitk = _sitk()
    targets = [target.with_name(n) for n in data_files] + [target]
    with _output.atomic_files(targets, overwrite) as tmp:
        writer = sitk.ImageFileWriter()
        writer.SetFileName(str(tmp / target.name))
        writer.SetUseCompression(compress)
        try:
            writer.Execute(img)
        except RuntimeError as err:
            raise WriteError(f"{target}: SimpleITK cannot write this image ({err})") from err
    logger.debug("wrote %s", target)
    return [str(p) for p in targets]


def pop_write_options(options: dict[str, Any], fmt: str) -> tuple[bool, bool, bool]:
    """Return (overwrite, compress, embed_header) from write options; reject others."""
    overwrite = bool(options.pop("overwrite", False))
    compress = bool(options.pop("compress", False))
    embed = bool(options.pop("embed_header", True))
    if options:
        raise TypeError(f"unexpected options for {fmt} output: {sorted(options)}")
    return overwrite, compress, embed


def single_member(members: Sequence[Member], extensions: Sequence[str], fmt: str) -> Member:
    """The one image file among `members` (detached data files are skipped)."""
    images = [m for m in members if _paths.matching_extension(m.name, extensions)]
    if len(members) == 1:
        images = list(members)
    if len(images) != 1:
        names = ", ".join(m.name for m in images[:5])
        raise MultipleSeriesError(
            f"expected one {fmt} file, got {len(images)} ({names}); read them one at a time"
        )
    return images[0]


class ItkFormat:
    """The 'itk' format: ITK MetaImage ``.mha`` (default) and ``.mhd`` + ``.raw``.

    Write options: ``overwrite`` (bool), ``compress`` (bool, default False),
    ``embed_header`` (bool, default True).
    """

    name = "itk"
    extensions: tuple[str, ...] = EXTENSIONS
    extra: str | None = "itk"

    def sniff(self, name: str, head: bytes) -> bool:
        """MetaImage headers are text lines ``ObjectType = Image`` / ``NDims = 3``."""
        text = head.split(b"\0", 1)[0]
        return any(
            line.strip().split(b"=")[0].strip() in (b"ObjectType", b"NDims")
            for line in text.splitlines()[:3]
        )

    def read(
        self, members: Sequence[Member], *, input_order: str, headers_only: bool, **options: Any
    ) -> tuple[np.ndarray, Header]:
        """Read one MetaImage file."""
        if options:
            raise TypeError(f"unexpected options for MetaImage input: {sorted(options)}")
        member = single_member(members, EXTENSIONS, "MetaImage")
        return read_file(
            member, "itk", EXTENSIONS, input_order=input_order, headers_only=headers_only
        )

    def write(self, si: SeriesLike, destination: Path, **options: Any) -> list[str]:
        """Write `si` as MetaImage at `destination` (a ``.mha``/``.mhd`` file or a folder)."""
        opts = dict(options)
        overwrite, compress, embed = pop_write_options(opts, "MetaImage")
        target = _paths.target_file(destination, EXTENSIONS, DEFAULT_EXTENSION)
        img = make_image(si, str(target), embed_header=embed)
        data_files: list[str] = []
        if target.name.lower().endswith(".mhd"):
            data_files = [_paths.stem(target, EXTENSIONS) + (".zraw" if compress else ".raw")]
        return write_file(img, target, data_files, overwrite=overwrite, compress=compress)


plugin = ItkFormat()

__all__ = ["ItkFormat", "decode", "decode_sitk", "make_image", "plugin", "read_file", "to_sitk"]
