"""Safe output shared by every format writer: atomic, no silent overwrite, optional zip.

Every writer puts its files into a private temporary location *next to* the target
(same file system, so the final move is a rename) and the result is moved into place
only when the writer finished without an exception.  An interrupted write therefore
leaves no half-written series at the target; at worst a hidden
``.<name>.imagedata-tmp-*`` folder (or file, :func:`atomic_renames`) beside it after a
hard kill.  :mod:`imagedata.batch` removes such leftovers from its output folder when
it starts.

Rules, the same for every format:

- A target that does not exist is created (parent folders too).
- A target folder that exists and is empty is filled.
- A target folder that holds other files, or a target file that exists, is a
  :class:`~imagedata.errors.WriteError` unless ``overwrite=True``; then the old
  content is replaced as a whole (no stale files survive to form a second series).
- A target whose name ends in ``.zip`` (with :func:`atomic_output`) is written as a
  zip archive of the folder content.

Public API
----------
:func:`atomic_folder`
    ``with atomic_folder(target, overwrite) as tmp:`` write files into the folder
    ``tmp``; it becomes ``target``.
:func:`atomic_file`
    ``with atomic_file(target, overwrite) as tmp:`` write one file at ``tmp`` (its
    name equals ``target.name``, so writers that choose a format by extension work);
    it becomes ``target``.
:func:`atomic_files`
    ``with atomic_files([a.hdr, a.img], overwrite) as tmpdir:`` write files with the
    targets' names into ``tmpdir`` (for formats whose files refer to each other by
    name, e.g. ``.mhd`` + ``.raw``); each is moved into place.
:func:`atomic_renames`
    ``with atomic_renames([a.nii, a.json], overwrite) as (nii, js):`` write each file at
    its hidden temporary path beside the target; each is renamed into place (no
    temporary folder: the cheapest, for files that do not name each other).
:func:`atomic_writes`
    As :func:`atomic_renames`, yielding ``(path, file open for writing)`` pairs: writing
    through the file as created spares the truncation of opening its path again.
:func:`atomic_output`
    Like :func:`atomic_folder`, but writes a zip archive when ``target`` ends in
    ``.zip``.
:func:`atomic_zip`
    ``with atomic_zip(target, overwrite) as zf:`` write members straight into a new
    zip archive (no temporary files); it becomes ``target``.  The DICOM writer uses
    it for ``.zip`` targets.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from imagedata.errors import WriteError

logger = logging.getLogger(__name__)

_TMP_TAG = ".imagedata-tmp-"


def _make_tmpdir(target: Path) -> Path:
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}{_TMP_TAG}", dir=parent))
    except OSError as err:
        raise WriteError(
            f"{target}: cannot create a temporary folder in {parent} ({err}); "
            "check that the folder is writable"
        ) from err


def _remove(path: Path) -> None:
    """Remove a file or folder, ignoring errors (cleanup only)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def check_target(target: Path, overwrite: bool, *, folder: bool) -> None:
    """Raise :class:`WriteError` when writing `target` would overwrite other data.

    Parameters
    ----------
    target
        The file or folder to be written.
    overwrite
        When True, nothing is checked: the existing content will be replaced.
    folder
        True when `target` is to be a folder (an existing empty folder is accepted).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_target(d, overwrite=False, folder=True)  # empty folder: fine
    >>> _ = (d / "x.txt").write_text("x")
    >>> check_target(d, overwrite=False, folder=True)
    Traceback (most recent call last):
    ...
    imagedata.errors.WriteError: ...
    """
    if overwrite or not os.path.lexists(target):  # one lstat: a file, folder or any link
        return
    if folder and target.is_dir() and not any(target.iterdir()):
        return
    kind = "folder holds other files" if target.is_dir() else "file exists"
    raise WriteError(
        f"{target}: the {kind}; write to a new or empty folder, "
        "or pass overwrite=True to replace its content"
    )


def _replace_folder(tmp: Path, target: Path) -> None:
    """Move folder `tmp` to `target`, replacing whatever `target` was."""
    old: Path | None = None
    if target.is_dir() and not target.is_symlink():
        if any(target.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.imagedata-old-", dir=target.parent))
            os.rename(target, old / "content")
        else:
            target.rmdir()
    elif target.exists() or target.is_symlink():
        target.unlink()
    try:
        os.rename(tmp, target)
    except OSError:
        if old is not None:  # put the old content back
            os.rename(old / "content", target)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _replace_file(tmp: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_folder(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces `target` when the block succeeds.

    Parameters
    ----------
    target
        The folder to write.
    overwrite
        Replace an existing non-empty folder (or file) instead of raising.

    Raises
    ------
    WriteError
        If `target` holds other files and `overwrite` is False (raised before
        anything is written), or the folder cannot be created.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "series"
    >>> with atomic_folder(out) as tmp:
    ...     _ = (tmp / "a.dcm").write_bytes(b"x")
    >>> sorted(p.name for p in out.iterdir())
    ['a.dcm']
    """
    target = Path(target)
    check_target(target, overwrite, folder=True)
    tmp = _make_tmpdir(target)
    try:
        yield tmp
        check_target(target, overwrite, folder=True)  # something appeared meanwhile?
        _replace_folder(tmp, target)
    except OSError as err:
        _remove(tmp)
        if isinstance(err, WriteError):
            raise
        raise WriteError(f"{target}: writing failed ({err})") from err
    except BaseException:
        _remove(tmp)
        raise
    logger.debug("wrote folder %s", target)


@contextlib.contextmanager
def atomic_files(targets: Sequence[Path], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; files in it named like `targets` are moved into place.

    All `targets` must be in one folder.  Use this for formats whose files refer to
    each other by name (``.mhd`` + ``.raw``, ``.hdr`` + ``.img``).

    Raises
    ------
    WriteError
        If a target exists and `overwrite` is False, or a target was not written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_files([d / "a.mhd", d / "a.raw"]) as tmp:
    ...     _ = (tmp / "a.mhd").write_text("ElementDataFile = a.raw")
    ...     _ = (tmp / "a.raw").write_bytes(b"0")
    >>> sorted(p.name for p in d.iterdir())
    ['a.mhd', 'a.raw']
    """
    paths = [Path(t) for t in targets]
    if not paths or len({p.parent for p in paths}) != 1:
        raise WriteError(f"atomic_files needs targets in one folder, got {paths}")
    for p in paths:
        check_target(p, overwrite, folder=False)
    tmp = _make_tmpdir(paths[0])
    try:
        yield tmp
        missing = [p.name for p in paths if not (tmp / p.name).exists()]
        if missing:
            raise WriteError(f"{paths[0].parent}: the writer did not produce {missing}")
        for p in paths:
            check_target(p, overwrite, folder=False)
        for p in paths:
            _replace_file(tmp / p.name, p)
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        raise WriteError(f"{paths[0]}: writing failed ({err})") from err
    finally:
        _remove(tmp)


@contextlib.contextmanager
def atomic_renames(targets: Sequence[Path], overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield a hidden temporary file beside each target; each is renamed onto its target.

    The temporary files (``.<name>.imagedata-tmp-<random>``, created empty) are in the
    targets' folder, so the final moves are renames; no temporary folder is made.  Use
    this for formats whose files do not refer to each other by name (NIfTI and its
    sidecars); :func:`atomic_files` for those that do.  When the block raises, the
    temporary files are removed and the targets are left as they were.
    :func:`atomic_writes` yields the same files open for writing.

    Raises
    ------
    WriteError
        If a target exists and `overwrite` is False (checked before and after the block),
        or the folder is not writable.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_renames([d / "a.nii", d / "a.json"]) as (nii, js):
    ...     _ = nii.write_bytes(b"0")
    ...     _ = js.write_text("{}")
    >>> sorted(p.name for p in d.iterdir())
    ['a.json', 'a.nii']
    """
    with atomic_writes(targets, overwrite) as files:
        for _, fp in files:
            fp.close()
        yield [path for path, _ in files]


@contextlib.contextmanager
def atomic_writes(
    targets: Sequence[Path], overwrite: bool = False
) -> Iterator[list[tuple[Path, BinaryIO]]]:
    """As :func:`atomic_renames`, yielding (temporary path, the file open for writing) pairs.

    Write through the open file (it is closed before the renames; a writer may also
    close it and write the path).  It is the file as created: opening the path again
    would truncate it, and on ext4 (``auto_da_alloc``) a truncated file starts its
    write-back when it is closed, which costs a writer of small files more than all
    the rest of its work.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_writes([d / "a.nii", d / "a.json"]) as ((_, nii), (_, js)):
    ...     _ = nii.write(b"0")
    ...     _ = js.write(b"{}")
    >>> sorted(p.name for p in d.iterdir()), (d / "a.json").read_bytes()
    (['a.json', 'a.nii'], b'{}')
    """
    paths = [t if type(t) is _PATH else Path(t) for t in targets]
    folder = paths[0].parent if paths else None
    if folder is None or any(p.parent != folder for p in paths[1:]):
        raise WriteError(f"atomic_writes needs targets in one folder, got {paths}")
    for p in paths:
        check_target(p, overwrite, folder=False)
    tmps: list[Path] = []
    files: list[BinaryIO] = []
    try:
        token = _token()
        for p in paths:
            path, fp = _make_tmpfile(p, token)
            tmps.append(path)
            files.append(fp)
        yield list(zip(tmps, files))
        for fp in files:
            fp.close()  # flushed: a full disk raises here, before any rename
        for p in paths:
            check_target(p, overwrite, folder=False)  # something appeared meanwhile?
        for p in paths:
            if overwrite:
                _replace_file(tmps[0], p)
            else:  # just checked: nothing is there
                os.replace(tmps[0], p)
            tmps.pop(0)
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        raise WriteError(f"{paths[0]}: writing failed ({err})") from err
    finally:
        for fp in files:
            with contextlib.suppress(OSError, ValueError):
                fp.close()
        for tmp in tmps:
            with contextlib.suppress(OSError):
                tmp.unlink()


_PATH = type(Path())
#: Random temporary names without a system call per name; reseeded in a forked child.
_RNG = random.Random()
if hasattr(os, "register_at_fork"):  # POSIX; elsewhere no fork copies the generator
    os.register_at_fork(after_in_child=_RNG.seed)


def _token() -> str:
    """A random suffix (8 hex digits) for temporary names (``O_EXCL`` guards them)."""
    return f"{_RNG.getrandbits(32):08x}"


def _make_tmpfile(target: Path, token: str | None = None) -> tuple[Path, BinaryIO]:
    """Create an empty hidden file beside `target` (and its folder), open for writing.

    Not :func:`tempfile.mkstemp`: its files are private (mode 0600) and would stay so
    after the rename; this one gets the mode any new file gets (0666 less the umask).
    `token` is the first random suffix to try (one per group of files).
    """
    parent = target.parent
    try:
        for _ in range(100):
            path = parent / f".{target.name}{_TMP_TAG}{token or _token()}"
            token = None
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                continue
            except FileNotFoundError:  # the folder first (one syscall less when it exists)
                parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            try:  # an explicit buffer size: no terminal check (a system call) on the file
                return path, open(fd, "wb", buffering=io.DEFAULT_BUFFER_SIZE)
            except BaseException:
                os.close(fd)
                path.unlink()
                raise
        raise FileExistsError(f"no free temporary name beside {target}")
    except OSError as err:
        raise WriteError(
            f"{target}: cannot create a temporary file in {parent} ({err}); "
            "check that the folder is writable"
        ) from err


@contextlib.contextmanager
def atomic_file(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary file path (same name as `target`) that replaces `target` on success.

    Raises
    ------
    WriteError
        If `target` exists and `overwrite` is False, or the writer produced no file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "image.nii.gz"
    >>> with atomic_file(out) as tmp:
    ...     _ = tmp.write_bytes(b"x")
    ...     tmp.name
    'image.nii.gz'
    >>> out.read_bytes()
    b'x'
    """
    target = Path(target)
    with atomic_files([target], overwrite) as tmpdir:
        yield tmpdir / target.name


def is_zip_target(target: Path) -> bool:
    """True when `target` names a zip archive (its name ends in ``.zip``)."""
    return Path(target).name.lower().endswith(".zip")


def zip_folder(folder: Path, archive: Path) -> None:
    """Write the files under `folder` into a new zip `archive` (paths relative to `folder`).

    Members are stored uncompressed (fast; use a compressed transfer syntax for
    smaller DICOM files).
    """
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                zf.write(path, path.relative_to(folder).as_posix())


@contextlib.contextmanager
def atomic_zip(target: Path, overwrite: bool = False) -> Iterator[zipfile.ZipFile]:
    """Yield a new zip archive (members stored) that replaces `target` when the block succeeds.

    Write members with ``zf.open(name, "w", force_zip64=True)`` or ``zf.writestr``.

    Raises
    ------
    WriteError
        As :func:`atomic_file`.

    Examples
    --------
    >>> import tempfile, pathlib, zipfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "series.zip"
    >>> with atomic_zip(out) as zf:
    ...     zf.writestr("Image_00000.dcm", b"x")
    >>> zipfile.ZipFile(out).namelist()
    ['Image_00000.dcm']
    """
    with (
        atomic_file(Path(target), overwrite) as tmp_zip,
        zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_STORED) as zf,
    ):
        yield zf


@contextlib.contextmanager
def atomic_output(target: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes folder `target`, or zip `target` if it ends in .zip.

    Raises
    ------
    WriteError
        As :func:`atomic_folder` and :func:`atomic_file`.

    Examples
    --------
    >>> import tempfile, pathlib, zipfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "series.zip"
    >>> with atomic_output(out) as tmp:
    ...     _ = (tmp / "Image_00000.dcm").write_bytes(b"x")
    >>> zipfile.ZipFile(out).namelist()
    ['Image_00000.dcm']
    """
    target = Path(target)
    if not is_zip_target(target):
        with atomic_folder(target, overwrite) as tmp:
            yield tmp
        return
    with atomic_file(target, overwrite) as tmp_zip:
        content = tmp_zip.parent / "content"
        content.mkdir()
        yield content
        zip_folder(content, tmp_zip)
        shutil.rmtree(content)


__all__ = [
    "atomic_file",
    "atomic_files",
    "atomic_folder",
    "atomic_output",
    "atomic_renames",
    "atomic_writes",
    "atomic_zip",
    "check_target",
    "is_zip_target",
    "zip_folder",
]
