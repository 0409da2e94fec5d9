"""The one door between the array type and the plugins: :func:`read` and :func:`write`.

Every read and write of a series passes here, and only here is it decided where the
data come from or go to:

* a path, a list of paths, a glob, a zip/tar or a DICOMDIR is expanded into members
  by :mod:`imagedata.archives`; the format registry (:mod:`imagedata.formats`)
  chooses the plugin by extension or first bytes, and the plugin reads the members
  into ``(array, Header)``;
* a URL (``dicom://``, ``dicoms://``, ``dicomweb+http(s)://``) goes to
  :mod:`imagedata.transports`, which only moves files: it fetches the images into a
  temporary folder (or their headers into memory), which is then read like a path;
  a write builds the DICOM datasets with the DICOM plugin and hands them to the
  transport to send.

The layers above (:class:`imagedata.series.Series`, :mod:`imagedata.collections`,
the command line) ask this module; the plugins and transports never import it.
See docs/architecture.md.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from imagedata.header import Header, HeaderedArray
>>> data = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
>>> with tempfile.TemporaryDirectory() as tmp:
...     written = write(HeaderedArray(data, Header.default(data.shape)), tmp, formats=["dicom"])
...     array, header = read(tmp)
>>> len(written), array.shape, bool(np.array_equal(array, data))
(2, (2, 3, 4), True)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagedata import formats as registry  # `formats` is write()'s argument
from imagedata.errors import ImageDataError, NoDataError, UnknownFormatError
from imagedata.header import Header, SeriesLike, series_like

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from imagedata.archives import Member
    from imagedata.formats import FormatPlugin
    from imagedata.formats.dicom._group import Group

logger = logging.getLogger(__name__)

#: URL schemes handled by :mod:`imagedata.transports`.
URL_SCHEMES = ("dicom://", "dicoms://", "dicomweb+http://", "dicomweb+https://")


def is_url(source: Any) -> bool:
    """True when `source` is a PACS URL (one of :data:`URL_SCHEMES`).

    Examples
    --------
    >>> is_url("dicom://pacs:104/PACS?PatientID=P1"), is_url("dicom/volume/")
    (True, False)
    """
    return isinstance(source, str) and source.startswith(URL_SCHEMES)


# --- reading ------------------------------------------------------------------------------


def read(
    source: Any, *, input_order: str = "auto", headers_only: bool = False, **options: Any
) -> tuple[np.ndarray, Header]:
    """Read a path, list of paths, archive or URL into an array and its header.

    Parameters
    ----------
    source
        A file or folder path, a list of paths, a glob pattern, a zip/tar archive
        (optionally ``archive.zip?member/``), a DICOMDIR, or a PACS URL.
    input_order
        How DICOM images are sorted into tag axes (see docs/reading.md).
    headers_only
        Read the headers and geometry, not the pixel data.
    **options
        Reader options (``series=``, ``rescale=``, ``skip_broken=``, ``progress=`` ...)
        and, for URLs, transport options (``timeout=``, ``calling_aet=`` ...).

    Raises
    ------
    NoDataError
        If the input holds no image files.
    UnknownFormatError
        If a single file is in no known format, or a folder mixes formats.
    """
    if is_url(source):
        return _read_url(source, input_order=input_order, headers_only=headers_only, **options)
    from imagedata.archives import expand

    members = expand(source)
    if not members:
        raise NoDataError(f"no files found in {source!s}; check the path")
    plugin, chosen = choose(source, members)
    options = _progress_option(plugin, options)
    return plugin.read(chosen, input_order=input_order, headers_only=headers_only, **options)


def _read_url(
    url: str, *, input_order: str, headers_only: bool, **options: Any
) -> tuple[np.ndarray, Header]:
    """Fetch the one series a URL names, then read it like a folder.

    A ``progress=`` given is reported for the transfer (stage "transfer") and by the
    reader ("headers", "pixels").  With `headers_only`, no pixel data are fetched
    where the PACS can give the headers alone.
    """
    from imagedata import transports

    transport, rest = transports.split_options(options)
    progress = transport.pop("progress", None)
    if "progress" in options:  # given: the reader's stages are reported too
        rest["progress"] = progress
    if headers_only:
        members = transports.series_headers(url, progress=progress, **transport)
        if members is not None:
            return registry.get("dicom").read(
                members, input_order=input_order, headers_only=True, **rest
            )
    with transports.fetched(url, level="series", progress=progress, **transport) as folder:
        return read(folder, input_order=input_order, headers_only=headers_only, **rest)


def _progress_option(plugin: FormatPlugin, options: dict[str, Any]) -> dict[str, Any]:
    """`options` without ``progress=`` for plugins that report no progress (single files)."""
    if "progress" in options and not getattr(plugin, "reports_progress", False):
        return {k: v for k, v in options.items() if k != "progress"}
    return options


def choose(source: Any, members: Sequence[Member]) -> tuple[FormatPlugin, list[Member]]:
    """Pick the format of the members and the members it reads.

    A single member is chosen by extension, then by its first bytes.  Of several
    members (a folder, an archive), those claimed by a file format's extension
    (NIfTI, MetaImage ...) go to that format, and the unclaimed files beside them
    (BIDS ``.json``, ``.bval``/``.bvec``, MetaImage ``.raw``) are sidecars its reader
    finds itself.  A folder that holds DICOM files is read as DICOM: files of other
    formats beside them (a stray ``.nii`` or ``.json``) are skipped and named in a
    log line.  A folder of one other format only is read in that format.

    Raises
    ------
    UnknownFormatError
        If a single file is in no known format, or a folder without DICOM files holds
        files of several other formats.
    """
    if len(members) == 1:
        plugin = registry.sniff(members[0])
        if plugin is None:
            raise UnknownFormatError(
                f"{members[0].name}: not in a known format (known: {', '.join(registry.names())});"
                " check the file or pass a file in one of these formats"
            )
        return plugin, list(members)
    claimed: dict[str, list[Member]] = {}
    unclaimed: list[Member] = []
    for m in members:
        p = registry.by_extension(m.name)
        if p is None:
            unclaimed.append(m)
        else:
            claimed.setdefault(p.name, []).append(m)
    files = {n: ms for n, ms in claimed.items() if n != registry.CONTAINER_FORMAT}
    if not files:
        return registry.get(registry.CONTAINER_FORMAT), list(members)
    if registry.CONTAINER_FORMAT in claimed or _any_part10(unclaimed):
        skipped = [m for ms in files.values() for m in ms]
        _log_skipped(source, skipped)
        skip = {id(m) for m in skipped}
        return registry.get(registry.CONTAINER_FORMAT), [m for m in members if id(m) not in skip]
    if len(files) > 1:
        detail = ", ".join(f"{n} ({len(ms)} files)" for n, ms in sorted(files.items()))
        raise UnknownFormatError(
            f"{source!s} holds files of several formats: {detail}; read them one format at a time"
        )
    name, chosen = next(iter(files.items()))
    for m in unclaimed:
        logger.debug("%s: not read as an image (beside %s files)", m.name, name)
    return registry.get(name), chosen


def _any_part10(members: Sequence[Member]) -> bool:
    """True when one of `members` is a DICOM Part 10 file ('DICM' at byte 128).

    Only the Part 10 mark counts here: a headerless dataset is too easily confused
    with the pixel data of a MetaImage ``.raw`` sidecar.
    """
    for m in members:
        try:
            head = m.head(132)
        except OSError:
            continue
        if head[128:132] == b"DICM":
            return True
    return False


def _log_skipped(source: Any, skipped: Sequence[Member]) -> None:
    names = ", ".join(m.name for m in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    logger.info(
        "%s: read as DICOM; %d file(s) of other formats skipped: %s%s",
        source,
        len(skipped),
        names,
        more,
    )


# --- many series at once -------------------------------------------------------------------


@contextmanager
def local_source(source: Any, **options: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield (a local source, the reader options) for `source`.

    A URL is fetched into a temporary folder, removed afterwards (transport options
    such as ``timeout=`` are taken out of `options`); a path is yielded as it is.
    """
    if not is_url(source):
        yield source, options
        return
    from imagedata import transports

    transport, rest = transports.split_options(options)
    with transports.fetched(source, **transport) as folder:
        yield folder, rest


def read_groups(
    source: Any,
    *,
    strict: bool = False,
    input_order: str | Callable[[Dataset], Any] = "auto",
    warn: Callable[[str], None] | None = None,
    **options: Any,
) -> list[tuple[str, np.ndarray, Header]]:
    """Read every DICOM series in `source`; return (key, array, header) in scan order.

    `options` are those of the DICOM reader except ``series``.  A PACS URL is fetched
    into a temporary folder first; the arrays are loaded before it is removed.  A
    series that cannot be read raises with `strict`, else `warn` is called with a
    message naming it and the others are read.  The key is the SeriesInstanceUID,
    with ``#2``, ``#3`` ... for sub-series split off under the same UID.
    """
    with local_source(source, **options) as (local, opts):
        from imagedata.archives import expand
        from imagedata.formats.dicom.reader import _scaling, scan_groups

        groups = scan_groups(
            expand(local),
            skip_broken=bool(opts.pop("skip_broken", False)),
            source=str(source),
            progress=opts.get("progress", False),
        )
        scaling = _scaling(bool(opts.pop("rescale", True)), opts.pop("scaling", None))
        return [
            item
            for item in (
                _read_one(g, strict, warn, input_order=input_order, scaling=scaling, **opts)
                for g in _keyed(groups)
            )
            if item is not None
        ]


def _keyed(groups: Sequence[Group]) -> Iterator[tuple[str, Group]]:
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.uid] = counts.get(g.uid, 0) + 1
        yield (g.uid if counts[g.uid] == 1 else f"{g.uid}#{counts[g.uid]}"), g


def _read_one(
    keyed: tuple[str, Group],
    strict: bool,
    warn: Callable[[str], None] | None,
    **options: Any,
) -> tuple[str, np.ndarray, Header] | None:
    from imagedata.formats.dicom.reader import read_group

    key, g = keyed
    try:
        arr, header = read_group(g, **options)
    except ImageDataError as err:
        if strict or warn is None:
            raise
        warn(f"series {g.label} ({g.description!r}) skipped: {err}")
        return None
    return key, arr, header


# --- writing ------------------------------------------------------------------------------


def write(
    si: Any, destination: Any, *, formats: Sequence[str] | str | None = None, **options: Any
) -> list[str]:
    """Write `si` to `destination` in each of `formats`; return the paths (or UIDs) written.

    Without `formats`, a destination with a known extension (``out.nii.gz``,
    ``out.mha``, ``out.dcm``) chooses the format; otherwise the series is written in
    its input format, and an array without one (input format 'none') as DICOM.  A URL
    destination sends the series as DICOM (C-STORE or STOW-RS) and returns the SOP
    Instance UIDs stored.

    Parameters
    ----------
    si
        A Series, or anything with a ``header`` (:class:`~imagedata.header.SeriesLike`);
        a bare array gets the default header.
    destination
        A file or folder path, or a PACS URL.
    formats
        Format names (see :func:`imagedata.formats.names`).
    **options
        Writer options (see docs/writing.md) and, for URLs, transport options.
    """
    item = series_like(si)
    if is_url(destination):
        return _write_url(item, destination, **options)
    names = [formats] if isinstance(formats, str) else list(formats or [])
    if not names:
        names = [_default_format(item, destination)]
    written: list[str] = []
    for fmt in names:
        plugin = registry.get(fmt)
        written.extend(plugin.write(item, Path(destination), **_progress_option(plugin, options)))
    return written


def _default_format(item: SeriesLike, destination: Any) -> str:
    by_ext = registry.by_extension(str(destination))
    if by_ext is not None:
        return str(by_ext.name)
    fmt = item.header.input_format
    return fmt if fmt in registry.names() else "dicom"


def _write_url(item: SeriesLike, url: str, **options: Any) -> list[str]:
    """Send `item` to a PACS as a new series; return the SOP Instance UIDs stored."""
    from imagedata import transports
    from imagedata.formats.dicom.writer import build_datasets

    transport, rest = transports.split_options(options)
    progress = transport.pop("progress", None)
    images = math.prod(item.shape[:-2]) if len(item.shape) > 2 else 1
    return transports.send(
        url, build_datasets(item, **rest), expected=images, progress=progress, **transport
    )


__all__ = ["URL_SCHEMES", "choose", "is_url", "local_source", "read", "read_groups", "write"]
