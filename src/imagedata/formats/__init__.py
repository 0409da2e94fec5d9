"""The format registry: which plugin reads and writes which files.

A format plugin (see :class:`FormatPlugin`) declares a ``name``, its ``extensions``,
``sniff()`` on the first bytes of a file, and ``read``/``write``.  Builtin plugins are
listed in :data:`BUILTIN` as import paths and imported only when needed; third-party
plugins register in the entry-point group ``imagedata.formats``.

The format of an input is chosen by its file extension, then by sniffing its first
bytes; never by trying every reader.  Reading and writing go through
:mod:`imagedata.loadsave` (``imagedata.read``/``imagedata.write``), which uses this
registry; plugins take and return ``(array, Header)`` or a
:class:`~imagedata.header.SeriesLike`, never the Series type.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from imagedata.errors import UnknownFormatError

if TYPE_CHECKING:
    from imagedata.archives import Member
    from imagedata.header import Header, SeriesLike

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

    def write(self, si: SeriesLike, destination: Path, **options: Any) -> list[str]:
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
