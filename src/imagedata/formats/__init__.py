"""Format registry, and the top-level :func:`read` and :func:`write`.

A format plugin (see :class:`FormatPlugin`) declares a ``name``, its ``extensions``,
``sniff()`` on the first bytes of a file, and ``read``/``write``.  Builtin plugins are
listed in :data:`BUILTIN` as import paths and imported only when needed; third-party
plugins register in the entry-point group ``imagedata.formats``.

The format of an input is chosen by its file extension, then by sniffing its first
bytes; never by trying every reader.  Members of a folder or archive that no format
claims by extension go to the DICOM reader, which skips files that are not DICOM.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from imagedata.errors import NoDataError, UnknownFormatError

if TYPE_CHECKING:
    from imagedata.archives import Member
    from imagedata.header import Header
    from imagedata.series import Series

logger = logging.getLogger(__name__)

#: Number of bytes handed to ``sniff``.
SNIFF_BYTES = 348

#: Builtin formats: name -> "module:attribute" of the plugin object.
BUILTIN: dict[str, str] = {
    "dicom": "imagedata.formats.dicom:plugin",
    "nifti": "imagedata.formats.nifti:plugin",
    "itk": "imagedata.formats.itk:plugin",
    "nrrd": "imagedata.formats.nrrd:plugin",
    "mat": "imagedata.formats.mat:plugin",
}

#: Extensions of the builtin formats, so that choosing a format by extension imports
#: only the plugin chosen (each plugin declares the same in its ``extensions``).
BUILTIN_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "dicom": (".dcm", ".ima", ".dicom"),
    "nifti": (".nii", ".nii.gz"),
    "itk": (".mha", ".mhd"),
    "nrrd": (".nrrd", ".nhdr"),
    "mat": (".mat",),
}

#: The format that takes folder members no other format claims by extension.
CONTAINER_FORMAT = "dicom"

#: URL schemes handled by :mod:`imagedata.transports`.
URL_SCHEMES = ("dicom://", "dicoms://", "dicomweb+http://", "dicomweb+https://")


@runtime_checkable
class FormatPlugin(Protocol):
    """What a format plugin provides."""

    name: str
    extensions: tuple[str, ...]
    #: The imagedata extra that installs the plugin's dependencies, or None.
    extra: str | None

    def sniff(self, name: str, head: bytes) -> bool:
        """True when a file with this name and these first bytes is in this format."""

    def read(
        self, members: Sequence[Member], *, input_order: str, headers_only: bool, **options: Any
    ) -> tuple[np.ndarray, Header]:
        """Read members into one array and its header."""

    def write(self, si: Series, destination: Path, **options: Any) -> list[str]:
        """Write `si` at `destination` (a file or folder path); return what was written."""


_plugins: dict[str, FormatPlugin] = {}
_entry_points_loaded = False


def _load(spec: str) -> FormatPlugin:
    module, _, attr = spec.partition(":")
    plugin: FormatPlugin = getattr(importlib.import_module(module), attr)
    return plugin


def _entry_point_specs() -> dict[str, Any]:
    global _entry_points_loaded
    if _entry_points_loaded:
        return {}
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="imagedata.formats")}


def register(plugin: FormatPlugin) -> None:
    """Register a format plugin (replaces one of the same name)."""
    _plugins[plugin.name] = plugin


def names() -> list[str]:
    """Names of the known formats."""
    return sorted(set(BUILTIN) | set(_plugins))


def get(name: str) -> FormatPlugin:
    """Return the plugin called `name`.

    Raises
    ------
    UnknownFormatError
        If no plugin has that name.
    """
    key = str(getattr(name, "value", name)).lower()
    if key in _plugins:
        return _plugins[key]
    for ep_name, ep in _entry_point_specs().items():
        _plugins.setdefault(ep_name, ep.load())
    if key in _plugins:
        return _plugins[key]
    if key in BUILTIN:
        plugin = _load(BUILTIN[key])
        _plugins[key] = plugin
        return plugin
    raise UnknownFormatError(f"unknown format {name!r}; known formats: {', '.join(names())}")


def all_plugins() -> list[FormatPlugin]:
    """Every known plugin, builtin ones first."""
    return [get(n) for n in names()]


def _lower_name(name: str) -> str:
    return name.rsplit("?", 1)[0].lower()


def _extension_table() -> list[tuple[str, tuple[str, ...]]]:
    for ep_name, ep in _entry_point_specs().items():
        _plugins.setdefault(ep_name, ep.load())
    table = [(n, exts) for n, exts in BUILTIN_EXTENSIONS.items() if n not in _plugins]
    return table + [(p.name, tuple(p.extensions)) for p in _plugins.values()]


def by_extension(name: str) -> FormatPlugin | None:
    """The plugin that claims the file name's extension, or None."""
    low = _lower_name(name)
    best: tuple[int, str] | None = None
    for fmt, extensions in _extension_table():
        for ext in extensions:
            if low.endswith(ext) and (best is None or len(ext) > best[0]):
                best = (len(ext), fmt)
    return None if best is None else get(best[1])


def sniff(member: Member) -> FormatPlugin | None:
    """The plugin that recognises a file by extension or first bytes, or None."""
    plugin = by_extension(member.name)
    if plugin is not None:
        return plugin
    head = member.head(SNIFF_BYTES)
    for p in all_plugins():
        if p.sniff(member.name, head):
            return p
    return None


def _is_url(source: Any) -> bool:
    return isinstance(source, str) and source.startswith(URL_SCHEMES)


def read(
    source: Any, *, input_order: str = "auto", headers_only: bool = False, **options: Any
) -> tuple[np.ndarray, Header]:
    """Read a path, list of paths, archive or URL into an array and its header.

    Raises
    ------
    NoDataError
        If the input holds no image files.
    UnknownFormatError
        If a single file is in no known format.
    """
    if _is_url(source):
        from imagedata.transports import read_url

        return read_url(source, input_order=input_order, headers_only=headers_only, **options)
    from imagedata.archives import expand

    members = expand(source)
    if not members:
        raise NoDataError(f"no files found in {source!s}; check the path")
    plugin, chosen = _choose(source, members)
    options = _progress_option(plugin, options)
    return plugin.read(chosen, input_order=input_order, headers_only=headers_only, **options)


def _progress_option(plugin: FormatPlugin, options: dict[str, Any]) -> dict[str, Any]:
    """`options` without ``progress=`` for plugins that report no progress (single files)."""
    if "progress" in options and not getattr(plugin, "reports_progress", False):
        return {k: v for k, v in options.items() if k != "progress"}
    return options


def _choose(source: Any, members: Sequence[Member]) -> tuple[FormatPlugin, list[Member]]:
    """Pick the format of the members and the members it reads.

    Members claimed by a file format's extension (NIfTI, MetaImage, ...) go to that
    format, and the files beside them that no format claims (BIDS ``.json``,
    ``.bval``/``.bvec``, MetaImage ``.raw``) are sidecars that its reader finds
    itself.  Without such files, every member goes to the DICOM reader, which skips
    what is not DICOM.
    """
    if len(members) == 1:
        plugin = sniff(members[0])
        if plugin is None:
            raise UnknownFormatError(
                f"{members[0].name}: not in a known format (known: {', '.join(names())}); "
                "check the file or pass a file in one of these formats"
            )
        return plugin, list(members)
    claimed: dict[str, list[Member]] = {}
    unclaimed: list[Member] = []
    for m in members:
        p = by_extension(m.name)
        if p is None:
            unclaimed.append(m)
        else:
            claimed.setdefault(p.name, []).append(m)
    files = {n: ms for n, ms in claimed.items() if n != CONTAINER_FORMAT}
    if not files:
        return get(CONTAINER_FORMAT), list(members)
    if len(claimed) > 1:
        detail = ", ".join(f"{n} ({len(ms)} files)" for n, ms in sorted(claimed.items()))
        raise UnknownFormatError(
            f"{source!s} holds files of several formats: {detail}; read them one format at a time"
        )
    name, chosen = next(iter(files.items()))
    for m in unclaimed:
        logger.debug("%s: not read as an image (beside %s files)", m.name, name)
    return get(name), chosen


def write(
    si: Series, destination: Any, *, formats: Sequence[str] | str | None = None, **options: Any
) -> list[str]:
    """Write `si` to `destination` in each of `formats`.

    Without `formats`, a destination with a known extension (``out.nii.gz``,
    ``out.mha``, ``out.dcm``) chooses the format; otherwise the series is written in
    its input format, and a Series made from an array (input format 'none') as DICOM.
    """
    if _is_url(destination):
        from imagedata.transports import write_url

        return write_url(si, destination, **options)
    if isinstance(formats, str):
        formats = [formats]
    if not formats:
        by_ext = by_extension(str(destination))
        if by_ext is not None:
            formats = [by_ext.name]
        else:
            formats = [si.input_format if si.input_format in names() else "dicom"]
    written: list[str] = []
    for fmt in formats:
        plugin = get(fmt)
        written.extend(plugin.write(si, Path(destination), **_progress_option(plugin, options)))
    return written
