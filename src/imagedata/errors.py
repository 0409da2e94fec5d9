"""Exceptions raised by imagedata.

Every error derives from :class:`ImageDataError` and also from the builtin
exception that fits, so ``except ValueError`` keeps working for callers that do
not know imagedata.  Messages name the input, the tag or value, and the way out.
"""

from __future__ import annotations


class ImageDataError(Exception):
    """Base class of every imagedata error."""


class UnknownFormatError(ImageDataError, ValueError):
    """No reader or writer knows the input or the requested format."""


class NoDataError(ImageDataError, FileNotFoundError):
    """The input holds no image data (empty folder, no DICOM images found)."""


class MultipleSeriesError(ImageDataError, ValueError):
    """The input holds several series where one was expected."""


class SortError(ImageDataError, ValueError):
    """Images cannot be sorted into a regular array (missing slices, unequal counts)."""


class GeometryError(ImageDataError, ValueError):
    """Geometry values are inconsistent or invalid."""


class HeaderError(ImageDataError, ValueError):
    """A header attribute is missing or has an invalid value."""


class MissingDependencyError(ImageDataError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class UnsupportedOptionError(ImageDataError, TypeError):
    """An imagedata 3.x option that is deliberately not supported; the message names the
    replacement (see docs/migrating.md)."""


class ReadError(ImageDataError, OSError):
    """A file cannot be read (truncated, corrupt, unsupported encoding)."""


class WriteError(ImageDataError, OSError):
    """A series cannot be written (target exists, unsupported data)."""


__all__ = [
    "GeometryError",
    "HeaderError",
    "ImageDataError",
    "MissingDependencyError",
    "MultipleSeriesError",
    "NoDataError",
    "ReadError",
    "SortError",
    "UnknownFormatError",
    "UnsupportedOptionError",
    "WriteError",
]
