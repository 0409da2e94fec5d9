"""Path rules shared by the single-file formats (NIfTI, MetaImage, NRRD, MATLAB).

The same rule holds for every format: a destination whose name ends in one of the
format's extensions is that file; any other destination is a folder into which the
format's default name is written (``Image.nii.gz``, ``Image.mha``, ``Image.nrrd``,
``Image.mat``).  So ``si.write('out/', formats=['itk'])`` gives ``out/Image.mha``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: Base name of a file written into a folder.
DEFAULT_STEM = "Image"


def matching_extension(name: str | os.PathLike[str], extensions: Sequence[str]) -> str | None:
    """Return the longest of `extensions` that `name` ends with (case-insensitive), or None.

    Examples
    --------
    >>> matching_extension("a/B.NII.GZ", (".nii", ".nii.gz"))
    '.nii.gz'
    >>> matching_extension("out", (".nii",)) is None
    True
    """
    low = os.fspath(name).lower()
    found = [e for e in extensions if low.endswith(e.lower())]
    return max(found, key=len) if found else None


def target_file(
    destination: str | os.PathLike[str], extensions: Sequence[str], default_extension: str
) -> Path:
    """Return the file to write for `destination`.

    Parameters
    ----------
    destination
        A file path with one of `extensions`, or a folder path.
    extensions
        The format's extensions, e.g. ``('.nii', '.nii.gz')``.
    default_extension
        Extension of the default name written into a folder, e.g. ``'.nii.gz'``.

    Examples
    --------
    >>> target_file("out", (".mha", ".mhd"), ".mha").as_posix()
    'out/Image.mha'
    >>> target_file("out/x.mhd", (".mha", ".mhd"), ".mha").as_posix()
    'out/x.mhd'
    """
    path = destination if isinstance(destination, Path) else Path(destination)
    if matching_extension(path.name, extensions) is not None:
        return path
    return path / f"{DEFAULT_STEM}{default_extension}"


def stem(path: str | os.PathLike[str], extensions: Sequence[str]) -> str:
    """Return the file name of `path` without its format extension.

    Examples
    --------
    >>> stem("out/sub-01_dwi.nii.gz", (".nii", ".nii.gz"))
    'sub-01_dwi'
    """
    name = Path(path).name
    ext = matching_extension(name, extensions)
    return name[: len(name) - len(ext)] if ext else name


def sidecar(path: str | os.PathLike[str], extensions: Sequence[str], suffix: str) -> Path:
    """Return the sidecar of `path` with `suffix` (``.json``, ``.bval``, ``.bvec``, ``.raw``).

    Examples
    --------
    >>> sidecar("out/Image.nii.gz", (".nii", ".nii.gz"), ".bval").as_posix()
    'out/Image.bval'
    """
    p = Path(path)
    return p.with_name(stem(p, extensions) + suffix)


__all__ = ["DEFAULT_STEM", "matching_extension", "sidecar", "stem", "target_file"]
