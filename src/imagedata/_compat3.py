"""imagedata 3.x options: ``opts={...}`` (a dict or an argparse.Namespace) as keyword options.

imagedata 3.x passed one untyped ``opts`` dict, or the Namespace of
:func:`imagedata.cmdline.add_argparse_options`, through every layer.  imagedata takes
typed keyword options instead; this module translates the 3.x names so that 3.x
scripts run unchanged:

* ``Series(src, input_order, opts={...})`` (and 3.x names as keywords) -> :func:`new_series`;
* ``si.write(dest, opts={...})`` and ``%p`` in a destination -> :func:`write`.

An option that is deliberately not supported raises
:class:`~imagedata.errors.UnsupportedOptionError` naming the replacement.  Options whose
value is None, False or empty (argparse defaults) are ignored, as 3.x ignored them.
See docs/migrating.md.

Examples
--------
>>> read_options({"headers_only": True, "output_dir": "single"})
{'headers_only': True}
>>> write_options({"output_sort": 1, "keep_uid": True}, "dicom")
{'keep_uid': True, 'output_sort': 'tag'}
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from imagedata.axis import ORDER_KEYWORDS, Axis
from imagedata.errors import (
    MultipleSeriesError,
    NoDataError,
    SortError,
    UnknownFormatError,
    UnsupportedOptionError,
)

if TYPE_CHECKING:
    from imagedata.header import Header

#: A :class:`imagedata.series.Series` (not imported: series imports this module).
Series = Any

logger = logging.getLogger(__name__)

#: Reader keywords that may also come in ``opts`` (3.x name -> keyword).
READ_OPTIONS: dict[str, str] = {
    "headers_only": "headers_only",
    "accept_uneven_slices": "accept_uneven_slices",
    "accept_duplicate_tag": "accept_duplicate_tag",
    "input_serinsuid": "series",
    "series": "series",
    "rescale": "rescale",
    "scaling": "scaling",
    "skip_broken": "skip_broken",
    "workers": "workers",
    "progress": "progress",
    "timeout": "timeout",
    "calling_aet": "calling_aet",
    "username": "username",
    "password": "password",
}

#: 3.x read options handled here rather than by the reader.
READ_SPECIAL = frozenset(
    {"input_format", "auto_sort", "ignore_series_uid", "skip_broken_series", "input_order"}
)

#: 3.x options deliberately not supported (when set): the replacement.
UNSUPPORTED: dict[str, str] = {
    "correct_acq": (
        "the time axis keeps each slice's own acquisition time (si.axes[0].slice_values); "
        "correct the times from there"
    ),
    "input_echo": (
        "read the whole series (echoes form a 'te' axis with input_order='te') and index "
        "the echo you need: si[k]"
    ),
    "input_acquisition": (
        "read the whole series with input_order='AcquisitionNumber' and index the "
        "acquisition you need: si[k]"
    ),
    "split_acquisitions": "sort acquisitions into a tag axis: input_order='AcquisitionNumber'",
    "split_echo_numbers": "sort echoes into a tag axis: input_order='te' (or 'EchoNumbers')",
    "slice_tolerance": (
        "unevenly spaced slices are read with accept_uneven_slices=True; images of another "
        "orientation form their own sub-series (pick one with series=)"
    ),
    "dir_cosine_tolerance": (
        "images of another orientation form their own sub-series; pick one with series="
    ),
    "input_shape": (
        "read the data, then reshape it and give the axes: Series(np.asarray(si).reshape(...), "
        "axes=...)"
    ),
    "sort_on_slice_location": (
        "slices are sorted by their distance along the slice normal (n . position), which "
        "is exact for any orientation; SliceLocation is not used"
    ),
    "input_sort": "images are sorted by their DICOM attributes (input_order), never file order",
    "psopt": "PostScript input is not supported; convert it to PNG/DICOM first",
    "window": (
        "window='original' is gone (3.10 rejects it too); write with window=(center, width), "
        "window='auto' (default) or window=None"
    ),
}

#: 3.x write options that only the DICOM writer takes (other formats ignore them in 3.x).
DICOM_WRITE = ("keep_uid", "output_sort", "output_dir", "window")

#: 3.x ``dtype`` names and the numpy type each means.
DTYPES = {
    "uint8": "uint8",
    "uint16": "uint16",
    "int16": "int16",
    "int": "int32",
    "float": "float32",
    "float32": "float32",
    "float64": "float64",
    "double": "float64",
}

#: Keyword names that mark a ``Series(...)`` call as 3.x style.
COMPAT_NAMES = (
    READ_SPECIAL - {"input_order"} | frozenset(UNSUPPORTED) | {"input_options", "input_serinsuid"}
)

#: Options that belong to the other direction (ignored, as 3.x ignored them).
WRITE_ONLY = frozenset(
    {
        "output_format",
        "output_formats",
        "output_sort",
        "output_dir",
        "keep_uid",
        "sernum",
        "serdes",
        "imagetype",
        "frame",
        "SOPClassUID",
        "dtype",
        "window",
        "overwrite",
        "compression",
        "enhanced",
        "modality",
    }
)
READ_ONLY = frozenset(READ_OPTIONS) | READ_SPECIAL | {"template", "geometry", "axes"}
#: Keys of the Namespace from add_argparse_options that carry no option.
IGNORED = frozenset({"loglevel", "input_options", "strict_values"})


def as_dict(opts: Any) -> tuple[dict[str, Any], bool]:
    """``opts`` as a dict (input_options merged in); second: it came from argparse."""
    if opts is None:
        return {}, False
    from_args = not isinstance(opts, dict)
    if from_args:
        if not hasattr(opts, "__dict__"):
            raise TypeError(f"opts must be a dict or an argparse.Namespace, not {type(opts)}")
        opts = vars(opts)
    out = dict(opts)
    nested = out.get("input_options") or {}
    out.update(nested)
    return out, from_args


def _set(value: Any) -> bool:
    """True when an option value means something (not None/False/empty)."""
    if value is None or value is False:
        return False
    return not (isinstance(value, (dict, list, tuple, str)) and len(value) == 0)


def _check_unsupported(opts: dict[str, Any], skip: frozenset[str]) -> None:
    for key, why in UNSUPPORTED.items():
        if key in skip or not _set(opts.get(key)):
            continue
        if key == "input_sort" and opts[key] in (0, "slice"):
            continue
        raise UnsupportedOptionError(
            f"imagedata 3.x option {key}={opts[key]!r} is not supported: {why} "
            "(see docs/migrating.md)"
        )


def _unknown(opts: dict[str, Any], known: frozenset[str], from_args: bool, tags: set[str]) -> None:
    extra = sorted(k for k in opts if k not in known and k not in tags and _set(opts[k]))
    if extra and not from_args:
        warnings.warn(
            f"ignored option(s) {extra}: not options of imagedata (nor of imagedata 3.x); "
            "check the spelling (see docs/migrating.md)",
            stacklevel=4,
        )


def collection_options(opts: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Keyword options of Study/Patient/Cohort from 3.x ``opts`` (and keywords)."""
    d, from_args = as_dict(opts)
    d.update(options)
    _unknown(d, READ_ONLY | WRITE_ONLY | IGNORED | frozenset(UNSUPPORTED), from_args, set())
    for key in ("ignore_series_uid", "input_format", "auto_sort"):
        if _set(d.get(key)):
            raise UnsupportedOptionError(
                f"imagedata 3.x option {key} is not supported for Study/Patient/Cohort: read "
                f"that series with Series(path, {key}=...) (see docs/migrating.md)"
            )
    out = read_options(d, from_args)
    out.pop("series", None)
    if isinstance(d.get("input_order"), str):
        out["input_order"] = d["input_order"]
    return out


def read_options(opts: dict[str, Any], from_args: bool = False) -> dict[str, Any]:
    """The reader keywords in 3.x read options (unsupported ones raise)."""
    _check_unsupported(opts, frozenset({"window"}))
    out = {}
    for key, kw in READ_OPTIONS.items():
        if key in opts and _set(opts[key]):
            out[kw] = opts[key]
    return out


def _order_names(input_order: Any, opts: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """Replace tag names that opts maps to a DICOM keyword; return renames keyword->name."""
    if not isinstance(input_order, str):
        return input_order, {}
    parts = [p.strip() for p in input_order.split(",")]
    renames: dict[str, str] = {}
    out = []
    for p in parts:
        value = opts.get(p)
        if value is None or p in ("auto", "none"):
            out.append(p)
        elif callable(value):
            raise UnsupportedOptionError(
                f"opts[{p!r}] is a function of a 3.x Instance; pass a function of the "
                "pydicom Dataset as input_order instead: input_order=lambda ds: ... "
                "(see docs/migrating.md)"
            )
        elif ORDER_KEYWORDS.get(p) == str(value):
            out.append(p)
        elif p == "time" and str(value) == "TriggerTime":
            out.append("triggertime")  # seconds on si.timeline, as in 3.x
        else:
            out.append(str(value))
            renames[str(value)] = p
    return ",".join(out), renames


def new_series(
    cls: Any,
    data: Any,
    input_order: Any,
    opts: Any,
    kwargs: dict[str, Any],
    options: dict[str, Any],
) -> Series:
    """``Series(data, input_order, opts=..., **options)`` with 3.x option names.

    `kwargs` holds the explicit template/geometry/axes/dtype; `options` the remaining
    keyword arguments (3.x merges them into opts).
    """
    d, from_args = as_dict(opts)
    d.update(options)
    if input_order is None:  # not given: 'auto' (an explicit 'none' is honoured)
        input_order = "auto"
    for key in ("template", "geometry", "axes"):
        if kwargs.get(key) is None and d.get(key) is not None:
            kwargs[key] = d[key]
    if input_order in ("none", "auto") and isinstance(d.get("input_order"), str):
        input_order = d["input_order"]
    if not _is_source(data):
        return cls(data, input_order=_array_order(input_order), **kwargs)
    order, renames = _order_names(input_order, d)
    tags = (
        {p.strip() for p in str(input_order).split(",")} if isinstance(input_order, str) else set()
    )
    _unknown(d, READ_ONLY | WRITE_ONLY | IGNORED | frozenset(UNSUPPORTED), from_args, tags)
    native = read_options(d, from_args)
    if _set(d.get("ignore_series_uid")) or _set(d.get("skip_broken_series")):
        si = _read_special(cls, data, order, native, d)
        if any(kwargs.get(k) is not None for k in kwargs):
            si = cls(si, **kwargs)
    else:
        si = cls(data, order, **kwargs, **native)
    _rename_axes(si, renames)
    _check_format(si, d.get("input_format"), data)
    _check_auto_sort(si, d.get("auto_sort"), input_order, data)
    return si


def _is_source(data: object) -> bool:
    """A path, URL or list of them (what Series reads), as :mod:`imagedata.series` decides."""
    if isinstance(data, (str, os.PathLike)):
        return True
    if isinstance(data, (list, tuple)) and data:
        return all(isinstance(x, (str, os.PathLike)) for x in data)
    return False


def _array_order(order: Any) -> Any:
    return "none" if order == "auto" else order


def _rename_axes(si: Series, renames: dict[str, str]) -> None:
    if not renames:
        return
    h = si.header
    axes = tuple(
        Axis(renames.get(a.name, a.name), a.values, a.slice_values) if a.is_tag else a
        for a in h.axes
    )
    order = ",".join(renames.get(p, p) for p in h.input_order.split(","))
    si.header = h.replace(axes=axes, input_order=order)


def _check_format(si: Series, fmt: Any, source: Any) -> None:
    if not _set(fmt):
        return
    if str(fmt).lower() != si.input_format:
        raise UnknownFormatError(
            f"{source}: read as {si.input_format}, but input_format={fmt!r} was asked for; "
            "imagedata chooses the format by file extension and content "
            "(see docs/migrating.md)"
        )


def _check_auto_sort(si: Series, auto_sort: Any, input_order: Any, source: Any) -> None:
    if not _set(auto_sort) or input_order not in ("auto", "none"):
        return
    chosen = [p for p in si.input_order.split(",") if p != "none"]
    allowed = [auto_sort] if isinstance(auto_sort, str) else list(auto_sort)
    bad = [p for p in chosen if p not in allowed]
    if bad:
        raise SortError(
            f"{source}: input_order='auto' sorted by {', '.join(bad)}, which auto_sort="
            f"{allowed} excludes; pass the order you want, e.g. input_order={allowed[0]!r}"
        )


def _read_special(
    cls: Any, data: Any, order: Any, native: dict[str, Any], d: dict[str, Any]
) -> Series:
    """ignore_series_uid (one series from several) and skip_broken_series."""
    from imagedata.archives import expand
    from imagedata.formats.dicom import reader

    members = expand(data)
    if not members:
        raise NoDataError(f"no files found in {data!s}; check the path")
    groups = reader.scan_groups(
        members, skip_broken=bool(native.pop("skip_broken", False)), source=str(data)
    )
    if _set(d.get("ignore_series_uid")):
        groups = merge_groups(groups)
    selected = native.pop("series", None)
    native.pop("progress", None)
    scaling = reader._scaling(bool(native.pop("rescale", True)), native.pop("scaling", None))
    for key in ("timeout", "calling_aet", "username", "password"):
        native.pop(key, None)
    found: list[tuple[Any, Header]] = []
    failures: list[str] = []
    from imagedata.formats.dicom._group import select_group

    chosen = [select_group(groups, selected, str(data))] if selected is not None else groups
    for g in chosen:
        try:
            found.append(reader.read_group(g, input_order=order, scaling=scaling, **native))
        except (SortError, ValueError) as err:
            if not _set(d.get("skip_broken_series")) or len(chosen) == 1:
                raise
            failures.append(f"{g.summary()}: {err}")
    for text in failures:
        warnings.warn(f"skip_broken_series: skipped {text}", stacklevel=4)
    if len(found) != 1:
        raise MultipleSeriesError(
            f"{data}: {len(found)} series could be read where one was expected; "
            "pick one with series=<label> or read them all with imagedata.Study"
        )
    arr, header = found[0]
    return cls._wrap(arr, header)


def merge_groups(groups: Sequence[Any]) -> list[Any]:
    """Join groups that differ only in SeriesInstanceUID (3.x ``ignore_series_uid``).

    Groups with the same matrix, frame of reference, ImageType and StackID (whatever
    their SeriesNumber) become one;
    the first group (in scan order) names the result.
    """
    from imagedata.formats.dicom._group import Group, merge_key

    merged: dict[tuple[Any, ...], Any] = {}
    for g in groups:
        key = merge_key(g)
        if key in merged:
            merged[key].images.extend(g.images)
        else:
            merged[key] = Group(list(g.images), label=g.label, signature=g.signature)
    if len(merged) < len(groups):
        logger.info("ignore_series_uid: %d series joined into %d", len(groups), len(merged))
    return list(merged.values())


# --- writing ------------------------------------------------------------------------------


def write_options(opts: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Writer keywords for `fmt` from 3.x write options (unsupported ones raise)."""
    _check_unsupported(opts, frozenset({"input_sort", "input_shape"}))
    out: dict[str, Any] = {}
    if fmt == "dicom":
        for key in DICOM_WRITE:
            if key in opts and _set(opts[key]):
                out[key] = opts[key]
        if "output_sort" in opts and opts["output_sort"] in (0, 1):
            out["output_sort"] = ("slice", "tag")[int(opts["output_sort"])]
    for key in ("overwrite", "compression", "enhanced", "modality", "progress"):
        if _set(opts.get(key)) and (fmt == "dicom" or key in ("overwrite", "progress")):
            out[key] = opts[key]
    return out


#: 3.x write options that set an attribute of the written series (any format).
ATTRIBUTES = {
    "frame": "FrameOfReferenceUID",
    "SOPClassUID": "SOPClassUID",
    "sernum": "SeriesNumber",
    "serdes": "SeriesDescription",
    "imagetype": "ImageType",
}


def _prepared(si: Series, opts: dict[str, Any]) -> Series:
    """`si`, or a copy with the 3.x attribute options and dtype applied (si is unchanged)."""

    todo = {kw: opts[k] for k, kw in ATTRIBUTES.items() if _set(opts.get(k))}
    dtype = opts.get("dtype")
    if not todo and not _set(dtype):
        return si
    data = np.asarray(si).astype(DTYPES.get(str(dtype), dtype)) if _set(dtype) else np.asarray(si)
    header = si.header.deepcopy().replace(shape=data.shape)
    for kw, value in todo.items():
        header = header.with_attribute(kw, value)
    return type(si)._wrap(np.array(data), header)


def expand(destination: Any, fmt: str) -> Any:
    """`destination` with ``%p`` replaced by the format name (as 3.x and ``image_data`` do).

    Examples
    --------
    >>> expand("out/%p/series", "nifti")
    'out/nifti/series'
    """
    if isinstance(destination, str):
        return destination.replace("%p", fmt)
    if isinstance(destination, os.PathLike):
        return type(destination)(os.fspath(destination).replace("%p", fmt))  # type: ignore[call-arg]
    return destination


_noted: set[str] = set()

#: The file a single-file format writes into a folder (and 3.x appended to the name).
FILE_EXTENSION = {"nifti": ".nii.gz", "itk": ".mha", "nrrd": ".nrrd", "mat": ".mat"}


def note_folder_naming(destination: Any, formats: Sequence[str] | str | None) -> None:
    """Warn once per format where imagedata names a file differently from 3.x.

    3.x wrote ``write('out', formats=['nifti'])`` to ``out.nii.gz``; imagedata takes a
    destination without the format's extension as a folder and writes
    ``out/Image.nii.gz`` (see :mod:`imagedata.formats._paths`).
    """
    if formats is None or (isinstance(destination, str) and "://" in destination):
        return
    from imagedata.formats import BUILTIN_EXTENSIONS

    name = os.fspath(destination).lower() if isinstance(destination, (str, os.PathLike)) else ""
    for fmt in [formats] if isinstance(formats, str) else formats:
        exts = BUILTIN_EXTENSIONS.get(str(fmt))
        if not name or fmt not in FILE_EXTENSION or fmt in _noted or name.endswith(exts or ()):
            continue
        ext = FILE_EXTENSION[str(fmt)]
        _noted.add(str(fmt))
        warnings.warn(
            f"{destination}: no {'/'.join(exts or (ext,))} extension, so imagedata writes "
            f"{os.path.join(os.fspath(destination), 'Image' + ext)} where imagedata 3.x "
            f"wrote {os.fspath(destination)}{ext}; end the name with {ext} to "
            "write that file (shown once; see docs/migrating.md)",
            stacklevel=3,
        )


def window_option(
    si: Series, destination: Any, formats: Sequence[str] | str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """`options` with ``window=(center, width)`` when the series has one set (3.x wrote it).

    Only for DICOM output, only when the caller gave no ``window``: a read series has no
    WindowCenter in its template (it differs per image), so this is a value someone set
    with ``si.windowCenter``/``si.windowWidth``.
    """
    tmpl = si.header.template
    if "window" in options or "WindowCenter" not in tmpl or "WindowWidth" not in tmpl:
        return options
    fmts = [formats] if isinstance(formats, str) else list(formats or [])
    if not fmts:
        if isinstance(destination, str) and "://" in destination:
            return options
        fmts = [_default_format(si, destination)]
    if any(str(f) != "dicom" for f in fmts):
        return options
    from imagedata._series3 import window

    return {**options, "window": window(si)}


def _is_keyword(text: str) -> bool:
    from pydicom.datadict import tag_for_keyword

    return text[:1].isupper() and tag_for_keyword(text) is not None


def _default_format(si: Series, destination: Any) -> str:
    """The format a write without `formats` chooses (extension, input format, else DICOM)."""
    from imagedata import formats

    plugin = formats.by_extension(str(destination))
    if plugin is not None:
        return plugin.name
    return si.input_format if si.input_format in formats.names() else "dicom"


def native_write_options(
    si: Series, destination: Any, formats: Sequence[str] | str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """What every ``Series.write`` adds for 3.x users: the naming note, a set window."""
    note_folder_naming(destination, formats)
    return window_option(si, destination, formats, options)


def write(
    si: Series,
    destination: Any,
    formats: Sequence[str] | str | None,
    opts: Any,
    options: dict[str, Any],
    writer: Callable[..., list[str]],
) -> list[str]:
    """``si.write(destination, opts=..., formats=...)`` with 3.x option names and ``%p``."""
    if opts is None and (isinstance(formats, dict) or type(formats).__name__ == "Namespace"):
        opts, formats = formats, None  # 3.x: write(url, opts, formats)
    d, from_args = as_dict(opts)
    d.update(options)
    tags = {a.name for a in si.header.tag_axes}
    _unknown(d, WRITE_ONLY | READ_ONLY | IGNORED | frozenset(UNSUPPORTED), from_args, tags)
    if isinstance(formats, str):
        formats = [formats]
    if not formats and _set(d.get("output_format")):
        out = d["output_format"]
        formats = [out] if isinstance(out, str) else list(out)
    target = _prepared(si, d)
    back = {name: str(kw) for name, kw in d.items() if isinstance(kw, str) and _is_keyword(kw)}
    if any(a.name in back for a in target.header.tag_axes):
        target = target.copy()
        _rename_axes(target, back)  # written under the DICOM keyword, so the values are kept
    if not formats:
        fmt = _default_format(si, destination)
        return writer(target, expand(destination, fmt), None, **write_options(d, fmt))
    written: list[str] = []
    for fmt in formats:
        kw = write_options(d, str(fmt))
        written.extend(writer(target, expand(destination, str(fmt)), [fmt], **kw))
    return written
