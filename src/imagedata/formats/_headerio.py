"""The imagedata header embedded in NIfTI, MetaImage, NRRD and MATLAB files.

Formats other than DICOM have no room for patient, study and per-image tag values.
imagedata stores them in the file as one JSON document (the *embedded header*)::

    {"imagedata_header": 1,              # version of this layout (2: "template_in" below)
     "shape": [...],                     # Series shape
     "affine": [[...]],                  # (slice, row, column) -> LPS, for checking
     "axes": [{"name": "time", "values": [...], "slice_values": [[...]] | null}, ...],
     "input_order": "time",
     "positions": [[x, y, z], ...] | null,   # exact slice positions when uneven
     "template": {...}}                  # DICOM JSON model (PS3.18 F), no bulk data

``axes`` lists the tag axes only, in array order.  The template is written with
:meth:`pydicom.dataset.Dataset.to_json_dict`; pixel data and binary values longer
than :data:`BULK_LIMIT` bytes are left out.

A format that can hold a binary DICOM dataset stores the template once, in that
form, instead: NIfTI writes it as the extension with code 2 (``dicom``, explicit VR
little endian, :func:`template_to_dicom_bytes`, see :mod:`._template`; nibabel and
other tools decode it with pydicom), and its JSON has ``"imagedata_header": 2,
"template_in": "dicom", "template_bytes": n`` (its length, for the NUL bytes readers
strip) instead of ``"template"``.  Encoding the template twice (JSON and binary) was
most of the cost of writing a NIfTI file; the binary form also keeps values exactly
as read (elements not decoded yet are copied byte for byte).  Files written with the
template in the JSON (version 1, NIfTI files written before this layout) are still
read.  MetaImage, NRRD and MATLAB keep the template in the JSON.

This module also holds the conversion between a Series and the "volume" the file
formats store: the array with its spatial axes last, (tag..., slice, row, column).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from imagedata.axis import SPATIAL, Axis, tag_axis
from imagedata.errors import ReadError, WriteError
from imagedata.formats._template import (
    BULK_LIMIT,
    strip_bulk,
    template_from_dicom_bytes,
    template_to_dicom_bytes,
)
from imagedata.header import Header, has_header, new_template

if TYPE_CHECKING:
    from imagedata.header import SeriesLike

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Key (and version) that marks an imagedata embedded header.  Version 2 may refer to
#: a template stored beside the JSON (``template_in``); version 1 always holds it.
KEY = "imagedata_header"
VERSION = 2
#: ``template_in`` value: the template is the file's binary DICOM dataset (NIfTI code 2).
TEMPLATE_IN_DICOM = "dicom"
#: Tolerance for a uniform tag step, relative to the step.
STEP_TOLERANCE = 1e-4


# --- DICOM template ---------------------------------------------------------------------


def template_to_json(ds: Dataset) -> dict[str, Any]:
    """Return the DICOM JSON model of `ds` without bulk data.

    Elements that cannot be encoded (invalid values) are left out with a warning
    naming them.
    """
    stripped = strip_bulk(ds)
    try:  # one call for the whole dataset; element by element only to find the bad ones
        whole: dict[str, Any] = stripped.to_json_dict(bulk_data_threshold=BULK_LIMIT)
        return whole
    except (TypeError, ValueError, AttributeError):
        pass
    out: dict[str, Any] = {}
    for elem in stripped:
        single = Dataset()
        single.add(elem)
        try:
            out.update(single.to_json_dict(bulk_data_threshold=BULK_LIMIT))
        except (TypeError, ValueError, AttributeError) as err:
            warnings.warn(
                f"DICOM attribute {elem.tag} {elem.keyword or ''} = {elem.value!r:.60} cannot be "
                f"stored in the embedded header ({err}); it is left out",
                stacklevel=3,
            )
    return out


def template_from_json(obj: dict[str, Any], source: str) -> Dataset:
    """Inverse of :func:`template_to_json`.

    Raises
    ------
    ReadError
        If `obj` is not a DICOM JSON dataset; the message names `source`.
    """
    try:
        return Dataset.from_json(obj)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise ReadError(
            f"{source}: the embedded DICOM template is not valid DICOM JSON ({err}); "
            "read the file with a fresh header by removing the imagedata_header entry"
        ) from err


# --- the embedded header ------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def header_to_json(
    header: Header, *, template_in: str | None = None, template_bytes: int | None = None
) -> str:
    """Return the embedded-header JSON of `header` (one line, ASCII only).

    With `template_in` (:data:`TEMPLATE_IN_DICOM`), the template is not in the JSON:
    the file holds it as a binary DICOM dataset (:func:`template_to_dicom_bytes`) of
    `template_bytes` bytes, and the document says so (``"template_in": "dicom"``,
    ``"template_bytes": n``, version 2).  The length lets a reader restore the NUL bytes
    that end the dataset, which NIfTI readers strip from extension contents.
    """
    doc: dict[str, Any] = {
        KEY: VERSION if template_in is not None else 1,
        "shape": list(header.shape),
        "affine": header.affine.tolist(),
        "axes": [
            {
                "name": a.name,
                "values": None if a.values is None else np.asarray(a.values).tolist(),
                "slice_values": None
                if a.slice_values is None
                else np.asarray(a.slice_values).tolist(),
            }
            for a in header.axes
            if a.is_tag
        ],
        "input_order": header.input_order,
        "positions": None if header.positions is None else header.positions.tolist(),
    }
    if template_in is None:
        doc["template"] = template_to_json(header.template)
    else:
        doc["template_in"] = template_in
        doc["template_bytes"] = template_bytes
    return json.dumps(doc, default=_json_default, ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True)
class Embedded:
    """An embedded header read from a file."""

    shape: tuple[int, ...]
    affine: FloatArray | None
    axes: tuple[Axis, ...]
    input_order: str
    positions: FloatArray | None
    template: Dataset


def _axis_from_json(item: dict[str, Any]) -> Axis:
    values = item.get("values")
    sv = item.get("slice_values")
    if values is None:
        return Axis(str(item["name"]))
    arr = np.asarray(values)
    if arr.dtype.kind in "iuf":
        return tag_axis(str(item["name"]), arr.astype(np.float64), sv)
    return tag_axis(str(item["name"]), arr, sv)


def header_from_json(
    text: str | bytes,
    source: str,
    stored_template: Callable[[int | None], Dataset | None] | None = None,
) -> Embedded:
    """Parse an embedded header written by :func:`header_to_json`.

    `stored_template` returns the binary DICOM template the file holds beside the JSON
    (None when it holds none), given the byte length the JSON records (or None); it is
    called only when the JSON refers to it (``"template_in": "dicom"``).  A file whose
    JSON refers to a template it does not hold gets a fresh template, with a warning
    naming it.

    Raises
    ------
    ReadError
        If the text is not an imagedata embedded header; the message names `source`.
    """
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or KEY not in doc:
            raise ValueError(f"no {KEY!r} key")
        if int(doc[KEY]) > VERSION:
            logger.warning(
                "%s: embedded header version %s is newer than %s", source, doc[KEY], VERSION
            )
        affine = None if doc.get("affine") is None else np.asarray(doc["affine"], dtype=np.float64)
        positions = doc.get("positions")
        return Embedded(
            shape=tuple(int(n) for n in doc.get("shape", ())),
            affine=affine,
            axes=tuple(_axis_from_json(a) for a in doc.get("axes", [])),
            input_order=str(doc.get("input_order", "none")),
            positions=None if positions is None else np.asarray(positions, dtype=np.float64),
            template=_embedded_template(doc, source, stored_template),
        )
    except ReadError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise ReadError(
            f"{source}: the embedded imagedata header cannot be parsed ({err}); "
            "the file may have been edited by another tool"
        ) from err


def _embedded_template(
    doc: dict[str, Any], source: str, stored: Callable[[int | None], Dataset | None] | None
) -> Dataset:
    where = doc.get("template_in")
    if where is None:  # version 1: the template in the JSON
        return template_from_json(doc.get("template", {}), source)
    if where != TEMPLATE_IN_DICOM:
        raise ValueError(f"template_in {where!r} is not {TEMPLATE_IN_DICOM!r}")
    length = doc.get("template_bytes")
    template = None if stored is None else stored(None if length is None else int(length))
    if template is None:
        warnings.warn(
            f"{source}: the embedded imagedata header refers to a DICOM template that the "
            "file does not hold (or that cannot be read); a fresh template (new UIDs, no "
            "patient data) is used",
            stacklevel=5,
        )
        return new_template()
    return template


def is_embedded_header(text: str | bytes) -> bool:
    """True when `text` looks like an imagedata embedded header."""
    head = text[:40] if isinstance(text, str) else text[:40].decode("latin-1")
    return head.lstrip().startswith('{"' + KEY + '"')


def split_chunks(text: str, size: int) -> list[str]:
    """Split `text` into pieces of at most `size` characters (MetaIO limits line length)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def join_chunks(get: Callable[[str], str | None], prefix: str) -> str | None:
    """Join pieces stored as ``prefix``, or ``prefix_000``, ``prefix_001``, ...; None if absent."""
    whole = get(prefix)
    if whole is not None:
        return whole
    parts: list[str] = []
    while (part := get(f"{prefix}_{len(parts):03d}")) is not None:
        parts.append(part)
    return "".join(parts) if parts else None


# --- Series <-> volume ------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    """A Series as the file formats see it: spatial axes last, at least 3D.

    ``data`` has shape (tag..., slice, row, column), with a last axis of 3 samples when
    ``rgb``; ``tag_axes`` describe the leading axes.
    """

    data: np.ndarray
    affine: FloatArray
    tag_axes: tuple[Axis, ...]
    header: Header
    rgb: bool = False


def volume(si: SeriesLike, target: str, max_tags: int | None = 1, rgb: bool = False) -> Volume:
    """Return the volume of `si` for writing to `target`.

    With `rgb`, a colour series (last axis ``rgb`` of 3 samples) is accepted and kept
    as the last axis of the volume.

    Raises
    ------
    WriteError
        If `si` has no geometry, a colour axis the format cannot hold (not `rgb`), axes
        out of the (tag..., slice, row, column[, rgb]) order, or more than `max_tags` tag
        axes.
    """
    if not has_header(si):
        raise WriteError(
            f"{target}: this array has no header (geometry); wrap it as Series(array, geometry=...)"
        )
    h = si.header
    names = h.axis_names
    spatial = tuple(n for n in names if n in SPATIAL)
    color = "rgb" in names
    if color and not rgb:
        raise WriteError(
            f"{target}: colour (rgb) series cannot be written in this format; "
            "use NIfTI, MetaImage (.mha) or NRRD, or DICOM"
        )
    if color:
        if names[-1] != "rgb" or h.shape[-1] != 3:
            raise WriteError(f"{target}: the rgb axis must be last and hold 3 samples: {names}")
        names = names[:-1]
    if spatial not in (SPATIAL, SPATIAL[1:]) or names[len(names) - len(spatial) :] != spatial:
        raise WriteError(
            f"{target}: axes {names} are not in (tag..., slice, row, column) order; "
            "a 1D series or transposed data cannot be written"
        )
    tags = tuple(a for a in h.axes if a.is_tag)
    if max_tags is not None and len(tags) > max_tags:
        raise WriteError(
            f"{target}: {len(tags)} tag axes {[a.name for a in tags]}; this format holds "
            f"at most {max_tags}; write one volume at a time (e.g. si[:, 0])"
        )
    data = np.asarray(si)
    if len(spatial) == 2:
        data = data[..., np.newaxis, :, :, :] if color else data[..., np.newaxis, :, :]
    if h.positions is not None:
        warnings.warn(
            f"{target}: slices are not evenly spaced; the file holds the mean step "
            "(first to last slice) and the exact positions are kept in the embedded imagedata "
            "header only; other tools will place the inner slices at even steps",
            stacklevel=4,
        )
    return Volume(data, h.affine, tags, h, rgb=color)


def uniform_step(values: npt.ArrayLike | None) -> float | None:
    """Return the step of evenly spaced numeric `values`, or None (one value, uneven, text).

    Examples
    --------
    >>> uniform_step([0.0, 2.5, 5.0])
    2.5
    >>> uniform_step([0, 1, 3]) is None
    True
    """
    if values is None:
        return None
    v = np.asarray(values)
    if v.ndim != 1 or v.size < 2 or v.dtype.kind not in "iuf":
        return None
    steps = np.diff(v.astype(np.float64))
    step = float(np.mean(steps))
    if step <= 0 or np.any(np.abs(steps - step) > STEP_TOLERANCE * abs(step) + 1e-9):
        return None
    return step


def _positions_fit(positions: FloatArray | None, affine: FloatArray, nslices: int) -> bool:
    if positions is None or positions.shape != (nslices, 3):
        return False
    first = affine[:3, 3]
    last = first + (nslices - 1) * affine[:3, 0]
    return bool(
        np.allclose(positions[0], first, atol=1e-3) and np.allclose(positions[-1], last, atol=1e-3)
    )


def _axes_fit(axes: Sequence[Axis], tag_shape: tuple[int, ...]) -> bool:
    if len(axes) != len(tag_shape):
        return False
    return all(a.values is not None and len(a.values) == n for a, n in zip(axes, tag_shape))


def restore_shape(data: np.ndarray, embedded: Embedded | None) -> np.ndarray:
    """Give `data` (tag..., slice, row, column[, rgb]) the Series shape recorded in `embedded`.

    A 2D series was written as one slice; it is read back as 2D.
    """
    if embedded is None or not embedded.shape or tuple(embedded.shape) == data.shape:
        return data
    if int(np.prod(embedded.shape)) == data.size and embedded.shape[-2:] == data.shape[-2:]:
        return data.reshape(embedded.shape)
    return data


def _without_rgb(embedded: Embedded) -> Embedded:
    shape = embedded.shape[:-1] if embedded.shape[-1:] == (3,) else embedded.shape
    return dataclasses.replace(embedded, shape=tuple(shape))


def build_header(
    shape: tuple[int, ...],
    affine: FloatArray,
    *,
    input_format: str,
    source: str,
    embedded: Embedded | None = None,
    tag_axes: Sequence[Axis] = (),
    input_order: str = "auto",
    rgb: bool = False,
) -> Header:
    """Build the Header of data read from a file.

    The embedded header, when present and consistent with the file (same tag shape,
    positions that agree with the file's affine), restores tag axes, exact slice
    positions and the DICOM template; otherwise `tag_axes` and a fresh template are used.
    With `rgb`, the last axis of `shape` is the colour axis ``rgb``.
    """
    if rgb:
        core = build_header(
            shape[:-1],
            affine,
            input_format=input_format,
            source=source,
            embedded=None if embedded is None else _without_rgb(embedded),
            tag_axes=tag_axes,
            input_order=input_order,
        )
        return core.replace(shape=tuple(shape), axes=(*core.axes, Axis("rgb")))
    nspatial = min(len(shape), 3)
    if embedded is not None and embedded.shape == tuple(shape):
        nspatial = min(max(len(shape) - len(embedded.axes), 2), 3)
    tag_shape = tuple(shape[: len(shape) - nspatial])
    axes: Sequence[Axis] = tag_axes
    template = new_template()
    positions = None
    order = "none"
    if embedded is not None:
        template = embedded.template
        if _axes_fit(embedded.axes, tag_shape):
            axes = embedded.axes
            order = embedded.input_order
        else:
            logger.info("%s: embedded tag axes do not fit shape %s; not used", source, shape)
        nslices = shape[-3] if nspatial == 3 else 1
        if _positions_fit(embedded.positions, affine, nslices):
            positions = embedded.positions
    if not _axes_fit(axes, tag_shape):
        axes = [
            tag_axis("time" if i == 0 else f"tag{i}", np.arange(n)) for i, n in enumerate(tag_shape)
        ]
    if order == "none" and axes:
        order = axes[0].name
    if input_order not in ("auto", "none") and axes and axes[0].name != input_order:
        axes = [Axis(input_order, axes[0].values, axes[0].slice_values), *axes[1:]]
        order = input_order
    spatial = tuple(Axis(n) for n in SPATIAL[3 - nspatial :])
    return Header(
        shape=tuple(shape),
        axes=(*axes, *spatial),
        affine=affine,
        template=template,
        positions=positions,
        input_order=order,
        input_format=input_format,
    )


__all__ = [
    "BULK_LIMIT",
    "KEY",
    "TEMPLATE_IN_DICOM",
    "Embedded",
    "Volume",
    "build_header",
    "header_from_json",
    "header_to_json",
    "is_embedded_header",
    "join_chunks",
    "restore_shape",
    "split_chunks",
    "strip_bulk",
    "template_from_dicom_bytes",
    "template_from_json",
    "template_to_dicom_bytes",
    "template_to_json",
    "uniform_step",
    "volume",
]
