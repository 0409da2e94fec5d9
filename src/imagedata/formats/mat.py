"""MATLAB ``.mat`` files: v5 through scipy.io, v7.3 (HDF5) read through h5py.

A file written by imagedata holds these variables:

``Image``
    The voxels in MATLAB's natural order (row, column, slice[, tag]), so that
    ``imshow(Image(:, :, k))`` shows slice k.
``affine``
    The 4x4 Series affine: 0-based (slice, row, column, 1) -> DICOM LPS (x, y, z, 1).
``tag_axis``, ``tag_values``
    Name and values of the tag axis (4D only).
``imagedata_header``
    The embedded imagedata header (JSON text, see :mod:`._headerio`): DICOM
    template, tag values and exact slice positions.

Other ``.mat`` files are read too: the variable ``Image`` if present, else the one
numeric array of two or more dimensions (pass ``variable=`` to choose), taken as
(row, column[, slice[, tag]]) with a default geometry unless an ``affine`` variable
is present.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagedata import geometry
from imagedata._optional import import_optional
from imagedata.axis import Axis, tag_axis
from imagedata.errors import MultipleSeriesError, ReadError, WriteError
from imagedata.formats import _headerio, _output, _paths

if TYPE_CHECKING:
    from imagedata.archives import Member
    from imagedata.header import Header, SeriesLike

logger = logging.getLogger(__name__)

EXTENSIONS = (".mat",)
DEFAULT_EXTENSION = ".mat"
IMAGE_VARIABLE = "Image"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: scipy.io writes MATLAB 5 files, whose variables are limited to 2**31 bytes.
V5_LIMIT = 2**31 - 1


def _to_matlab_order(data: np.ndarray) -> np.ndarray:
    """(tag..., slice, row, column) -> (row, column, slice, tag...)."""
    n = data.ndim
    return np.transpose(data, (n - 2, n - 1, n - 3, *range(n - 4, -1, -1)))


def _from_matlab_order(data: np.ndarray) -> np.ndarray:
    """(row, column[, slice[, tag...]]) -> (tag..., slice, row, column)."""
    if data.ndim == 2:
        return data
    n = data.ndim
    return np.transpose(data, (*range(n - 1, 2, -1), 2, 0, 1))


def _variables(si: SeriesLike, target: str, embed: bool) -> dict[str, Any]:
    vol = _headerio.volume(si, target, max_tags=None)
    data = vol.data.astype(np.uint8) if vol.data.dtype == np.bool_ else vol.data
    if data.dtype.kind not in "iufc":
        raise WriteError(f"{target}: MATLAB files cannot hold {data.dtype} voxels here")
    if data.nbytes > V5_LIMIT:
        raise WriteError(
            f"{target}: {data.nbytes} bytes exceed the 2 GiB variable limit of MATLAB 5 files; "
            "write NIfTI or MetaImage instead"
        )
    if np.asarray(si).ndim == 2:
        data = data[0]
    out: dict[str, Any] = {
        IMAGE_VARIABLE: np.asfortranarray(_to_matlab_order(data)) if data.ndim > 2 else data,
        "affine": vol.affine,
    }
    if vol.tag_axes:
        axis = vol.tag_axes[0]
        out["tag_axis"] = axis.name
        if axis.values is not None and np.asarray(axis.values).dtype.kind in "iuf":
            out["tag_values"] = np.asarray(axis.values, dtype=np.float64)
    if embed:
        out[_headerio.KEY] = _headerio.header_to_json(vol.header)
    return out


def _write(si: SeriesLike, destination: Path, options: dict[str, Any]) -> list[str]:
    scipy_io = import_optional("scipy.io", "mat", "write MATLAB files")
    overwrite = bool(options.pop("overwrite", False))
    embed = bool(options.pop("embed_header", True))
    compress = bool(options.pop("compress", False))
    if options:
        raise TypeError(f"unexpected options for MATLAB output: {sorted(options)}")
    target = _paths.target_file(destination, EXTENSIONS, DEFAULT_EXTENSION)
    variables = _variables(si, str(target), embed)
    with _output.atomic_file(target, overwrite) as tmp:
        try:
            scipy_io.savemat(str(tmp), variables, do_compression=compress, oned_as="row")
        except (ValueError, TypeError, OverflowError) as err:
            raise WriteError(f"{target}: scipy cannot write this MATLAB file ({err})") from err
    return [str(target)]


# --- reading ----------------------------------------------------------------------------


def _text(value: Any) -> str:
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        return "".join(str(v) for v in arr.ravel())
    if arr.dtype.kind in "iu":  # v7.3 char: uint16 codes, stored transposed
        return "".join(chr(int(c)) for c in arr.T.ravel())
    return str(value)


def _load_v5(path: Path, name: str) -> dict[str, Any] | None:
    scipy_io = import_optional("scipy.io", "mat", "read MATLAB files")
    try:
        return dict(scipy_io.loadmat(str(path), squeeze_me=False, mat_dtype=False))
    except NotImplementedError:
        return None  # v7.3: HDF5
    except (ValueError, TypeError, OSError, EOFError, scipy_io.matlab.MatReadError) as err:
        raise ReadError(
            f"{name}: not a readable MATLAB file ({err}); check that it is complete"
        ) from err


def _load_v73(path: Path, name: str) -> dict[str, Any]:
    h5py = import_optional("h5py", "mat", "read MATLAB 7.3 files")
    out: dict[str, Any] = {}
    try:
        with h5py.File(str(path), "r") as f:
            for key, obj in f.items():
                if not isinstance(obj, h5py.Dataset):
                    continue
                cls = obj.attrs.get("MATLAB_class", b"")
                cls = cls.decode() if isinstance(cls, bytes) else str(cls)
                value = np.asarray(obj[()])
                if cls == "char":
                    out[key] = _text(value)
                else:  # MATLAB is column-major: h5py sees the dimensions reversed
                    out[key] = np.ascontiguousarray(value.T) if value.ndim > 1 else value
    except (OSError, ValueError, KeyError) as err:
        raise ReadError(f"{name}: not a readable MATLAB 7.3 (HDF5) file ({err})") from err
    return out


def _choose_variable(variables: dict[str, Any], name: str, wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in variables:
            raise ReadError(f"{name}: no variable {wanted!r}; variables: {sorted(variables)}")
        return wanted
    if IMAGE_VARIABLE in variables:
        return IMAGE_VARIABLE
    arrays = [
        k
        for k, v in variables.items()
        if not k.startswith("__")
        and isinstance(v, np.ndarray)
        and v.dtype.kind in "iufcb"
        and v.ndim >= 2
        and min(v.shape) > 0
        and k != "affine"
        and np.squeeze(v).ndim >= 2
    ]
    if not arrays:
        raise ReadError(f"{name}: holds no image array (variables: {sorted(variables)})")
    if len(arrays) > 1:
        raise MultipleSeriesError(
            f"{name}: several image arrays {sorted(arrays)}; choose one with variable='...'"
        )
    return arrays[0]


def _decode(
    variables: dict[str, Any], name: str, wanted: str | None, input_order: str
) -> tuple[np.ndarray, Header]:
    key = _choose_variable(variables, name, wanted)
    image = np.asarray(variables[key])
    if image.dtype == np.bool_:
        image = image.astype(np.uint8)
    data = np.ascontiguousarray(_from_matlab_order(image))
    affine = geometry.default_affine()
    if "affine" in variables and np.shape(variables["affine"]) == (4, 4):
        affine = geometry.check_affine(variables["affine"])
    embedded = None
    if _headerio.KEY in variables:
        embedded = _headerio.header_from_json(_text(variables[_headerio.KEY]), name)
    if data.ndim == 2:
        data = data[np.newaxis]
    data = _headerio.restore_shape(data, embedded)
    tags: list[Axis] = []
    if data.ndim >= 4:
        tags = [
            tag_axis("time" if i == 0 else f"tag{i}", np.arange(n))
            for i, n in enumerate(data.shape[:-3])
        ]
        tags[0] = _tag_from_variables(variables, data.shape[0]) or tags[0]
    header = _headerio.build_header(
        data.shape,
        affine,
        input_format="mat",
        source=name,
        embedded=embedded,
        tag_axes=tags,
        input_order=input_order,
    )
    return data, header


def _tag_from_variables(variables: dict[str, Any], n: int) -> Axis | None:
    if "tag_axis" not in variables or "tag_values" not in variables:
        return None
    values = np.asarray(variables["tag_values"], dtype=np.float64).reshape(-1)
    return tag_axis(_text(variables["tag_axis"]), values) if len(values) == n else None


def read_member(
    member: Member, *, input_order: str = "auto", variable: str | None = None
) -> tuple[np.ndarray, Header]:
    """Read one MATLAB file (v5, or v7.3 through h5py)."""
    with contextlib.ExitStack() as stack:
        path = member.path
        if path is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="imagedata-")))
            path = tmp / "image.mat"
            path.write_bytes(member.read_bytes())
        variables = _load_v5(path, member.name)
        if variables is None:
            variables = _load_v73(path, member.name)
        return _decode(variables, member.name, variable, input_order)


class MatFormat:
    """The 'mat' format: MATLAB ``.mat`` files.

    Read option: ``variable`` (the array to read).  Write options: ``overwrite``,
    ``compress`` (bool, default False), ``embed_header`` (bool, default True).
    """

    name = "mat"
    extensions: tuple[str, ...] = EXTENSIONS
    extra: str | None = "mat"

    def sniff(self, name: str, head: bytes) -> bool:
        """MAT files start with 'MATLAB 5.0 MAT-file' (v7.3: HDF5 after a 512-byte user block)."""
        if head.startswith(b"MATLAB") and b"MAT-file" in head[:128]:
            return True
        return head.startswith(HDF5_SIGNATURE) and name.lower().endswith(".mat")

    def read(
        self, members: Sequence[Member], *, input_order: str, headers_only: bool, **options: Any
    ) -> tuple[np.ndarray, Header]:
        """Read one MATLAB file (``headers_only`` still reads the array: MAT files are not lazy)."""
        variable = options.pop("variable", None)
        if options:
            raise TypeError(f"unexpected options for MATLAB input: {sorted(options)}")
        images = [m for m in members if _paths.matching_extension(m.name, EXTENSIONS)] or list(
            members
        )
        if len(images) != 1:
            names = ", ".join(m.name for m in images[:5])
            raise MultipleSeriesError(f"expected one MATLAB file, got {len(images)} ({names})")
        return read_member(images[0], input_order=input_order, variable=variable)

    def write(self, si: SeriesLike, destination: Path, **options: Any) -> list[str]:
        """Write `si` as a MATLAB 5 file at `destination` (a ``.mat`` file or a folder)."""
        return _write(si, destination, dict(options))


plugin = MatFormat()

__all__ = ["MatFormat", "plugin", "read_member"]
